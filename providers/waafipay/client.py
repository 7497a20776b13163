"""WaafiPayClient: the normalized provider protocol over WaafiPay's single ``POST /asm`` endpoint.

Every call follows the same flow:

1. build the service parameters (:mod:`providers.waafipay.transform`), refusing before anything is sent
   what WaafiPay would silently change: an amount it would truncate, a ``referenceId`` outside its
   charset, a wallet number it cannot route;
2. wrap them in the envelope (``schemaVersion``, ``requestId``, ``timestamp``, ``channelName``,
   ``serviceName``) and POST the JSON; keys travel in the body, there is no signature (reference A2);
3. read the envelope whatever the HTTP status, and classify it (reference A3).

Flows, chosen from :class:`~providers.base.CreatePayment`:

* ``capture_mode=MANUAL`` → ``API_PREAUTHORIZE`` (a PIN push that holds funds): AUTHORIZED;
  :meth:`~WaafiPayClient.capture_payment` → ``API_PREAUTHORIZE_COMMIT``,
  :meth:`~WaafiPayClient.cancel_payment` → ``API_PREAUTHORIZE_CANCEL``;
* ``payment_method="HPP"`` (or ``"HPP:CREDIT_CARD"``, ``"HPP:MWALLET_ACCOUNT"``,
  ``"HPP:MWALLET_BANKACCOUNT"``) → ``HPP_PURCHASE``: PENDING with a REDIRECT to the hosted page;
* otherwise (``None`` or ``"MWALLET_ACCOUNT"``) → ``API_PURCHASE``, a PIN push to ``customer.phone``
  that blocks until the payer answers: SUCCEEDED or DECLINED; :meth:`~WaafiPayClient.cancel_payment`
  reverses it with ``API_CANCELPURCHASE``.

The idempotency key is the ``referenceId``; the ``requestId`` of a money-moving call is a UUID derived
from the service name and the request's key, so a retry of one attempt repeats both.

Classification (one rule for every service):

* no complete answer (timeout), a broken connection, an HTTP 5xx, a body that is not a WaafiPay envelope,
  an envelope without ``responseCode``, "2001" with an ``errorCode`` other than "0", or "2001" without a
  final ``state`` where one is expected: the outcome is unknown and an
  :class:`~billing.errors.OutcomeUnknownError` subclass is raised. A push may still complete on the
  handset; the caller reconciles (``HPP_GETTRANINFO`` when HPP credentials exist) and never re-sends;
* "2001" + "0" + state approved (any case): success;
* "2001" + state declined/failed/rejected, or any other ``responseCode``: a definite refusal, returned
  as an outcome carrying a :class:`~providers.base.ProviderFailure` that keeps WaafiPay's text and says
  whether it is hard or soft (:func:`~providers.waafipay.transform.decline_reason`). One exception: 5213
  to ``API_PREAUTHORIZE_COMMIT`` says the hold is not open, not whether it was committed, so the outcome
  is unknown.

The client keeps no state and never retries; retries belong to the caller (Temporal).

Layout: this module configures the client, chooses the flow of a create and declares what WaafiPay does
not offer; the flows are its bases, one module each: :mod:`~providers.waafipay.pushes` (wallet pushes,
pre-authorizations and the actions on them), :mod:`~providers.waafipay.hpp` (the hosted payment page and
the payment inquiry through it), :mod:`~providers.waafipay.refunds`, all over
:mod:`~providers.waafipay.exchange` (credentials, the one POST and the classification of its answer).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Self

import httpx
from pydantic import SecretStr

from billing.errors import ConfigurationError, InputError, UnsupportedOperationError
from providers.base import (
    CancelSubscription,
    CaptureMode,
    ChangeOutcome,
    ChangeSubscription,
    CreatePayment,
    CreateSubscription,
    InquireSubscriptionChange,
    ManagementLink,
    ManageSubscription,
    PaymentOutcome,
    ProviderCapabilities,
    SubscriptionOutcome,
    SubscriptionRef,
)
from providers.waafipay import wire
from providers.waafipay.exchange import (
    ASM_PATH,
    OPERATIONS,
    PROVIDER_NAME,
    api_credentials,
    encode_body,
    endpoint_url,
    hpp_credentials,
    waafipay_setting,
)
from providers.waafipay.hpp import HPP_METHOD, WaafiPayHostedPage
from providers.waafipay.pushes import WaafiPayPushes
from providers.waafipay.refunds import WaafiPayRefunds
from providers.waafipay.settings import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PUSH_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    WaafiPaySettings,
)
from providers.waafipay.timing import LONGEST_WAIT
from providers.waafipay.transform import FlowKind

__all__ = [
    "ASM_PATH",
    "HPP_METHOD",
    "OPERATIONS",
    "PROVIDER_NAME",
    "WaafiPayClient",
    "encode_body",
    "endpoint_url",
    "waafipay_capabilities",
]

_NO_SUBSCRIPTIONS = (
    "WaafiPay has no native subscriptions; the engine charges each period itself (wallet push or HPP link)"
)


def waafipay_capabilities(*, hpp: bool) -> ProviderCapabilities:
    """What WaafiPay offers; payment inquiry exists only through ``HPP_GETTRANINFO`` (HPP credentials)."""
    return ProviderCapabilities(
        webhooks=False,  # HPP webhooks exist but are unsigned and never retried: hints only
        native_subscriptions=False,
        payment_inquiry=hpp,
        refund_inquiry=False,
        partial_refund=True,
        multiple_refunds=True,
        manual_capture=True,
        partial_capture=False,  # API_PREAUTHORIZE_COMMIT carries no amount
        cancel_payment=True,
        longest_wait=LONGEST_WAIT,
    )


def _now() -> datetime:
    return datetime.now(UTC)


class WaafiPayClient(WaafiPayHostedPage, WaafiPayPushes, WaafiPayRefunds):
    """WaafiPay's wallet push, pre-authorization, hosted payment page and refund services as a
    :class:`~providers.base.PaymentProvider`.

    Build it from settings with :meth:`from_settings`, or explicitly (tests, emulators): ``base_url`` is
    the host (``/asm`` is appended), and ``http_client`` or ``transport`` routes requests anywhere
    (``httpx.MockTransport``, ``httpx.ASGITransport``). An injected ``http_client`` is not closed by
    :meth:`aclose`. Either credential set may be given alone; operations that need the other raise
    :class:`~billing.errors.ConfigurationError` naming the missing setting.
    """

    def __init__(
        self,
        *,
        base_url: str,
        merchant_uid: str,
        api_user_id: str | None = None,
        api_key: str | SecretStr | None = None,
        store_id: str | None = None,
        hpp_key: str | SecretStr | None = None,
        push_timeout: float = DEFAULT_PUSH_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        hpp_success_url: str | None = None,
        hpp_failure_url: str | None = None,
        hpp_payment_method: str = wire.MWALLET_ACCOUNT,
        hpp_response_format: int = 4,
        tag_callback_urls: bool = True,
        tran_info_for_pushes: bool = False,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        if not base_url.strip().startswith(("https://", "http://")):
            raise ConfigurationError(
                "must be an http(s) URL such as https://api.waafipay.net", setting=waafipay_setting("BASE_URL")
            )
        if not merchant_uid:
            raise ConfigurationError("is not set", setting=waafipay_setting("MERCHANT_UID"))
        for value, setting in (
            (push_timeout, "PUSH_TIMEOUT"),
            (read_timeout, "READ_TIMEOUT"),
            (connect_timeout, "CONNECT_TIMEOUT"),
        ):
            if not value > 0:
                raise ConfigurationError("must be a positive number of seconds", setting=waafipay_setting(setting))
        if push_timeout > LONGEST_WAIT.total_seconds():
            # The engine's call limit is derived from LONGEST_WAIT: a longer push would be cut off by it.
            raise ConfigurationError(
                f"must be at most {LONGEST_WAIT.total_seconds():g} seconds (the longest wait the engine allows a push)",
                setting=waafipay_setting("PUSH_TIMEOUT"),
            )
        if hpp_payment_method.upper() not in wire.HPP_PAYMENT_METHODS:
            raise ConfigurationError(
                f"must be one of {', '.join(sorted(wire.HPP_PAYMENT_METHODS))}",
                setting=waafipay_setting("HPP_PAYMENT_METHOD"),
            )
        if hpp_response_format not in (1, 2, 4):
            raise ConfigurationError(
                "must be 1 (POST), 2 (GET) or 4 (result token)", setting=waafipay_setting("HPP_RESPONSE_FORMAT")
            )
        if http_client is not None and transport is not None:
            raise ConfigurationError("give either an http_client or a transport, not both")
        self._api = api_credentials(merchant_uid, api_user_id, api_key)
        self._hpp = hpp_credentials(merchant_uid, store_id, hpp_key)
        if self._api is None and self._hpp is None:
            raise ConfigurationError(
                "is not set: give the API credentials (API_USER_ID, API_KEY), the HPP credentials "
                "(STORE_ID, HPP_KEY) or both",
                setting=waafipay_setting("API_KEY"),
            )
        self.capabilities = waafipay_capabilities(hpp=self._hpp is not None)
        self._endpoint = endpoint_url(base_url)
        self._merchant_uid = merchant_uid
        self._push_timeout = httpx.Timeout(push_timeout, connect=connect_timeout)
        self._read_timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._hpp_success_url = hpp_success_url
        self._hpp_failure_url = hpp_failure_url
        self._hpp_payment_method = hpp_payment_method.upper()
        self._hpp_response_format = hpp_response_format
        self._tag_callback_urls = tag_callback_urls
        self._tran_info_for_pushes = tran_info_for_pushes
        self._clock = clock
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=self._read_timeout)

    @classmethod
    def from_settings(
        cls,
        settings: WaafiPaySettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Self:
        """A client from ``BILLING_WAAFIPAY_*`` settings; unusable settings raise ConfigurationError."""
        return cls(
            base_url=settings.resolved_base_url(),
            merchant_uid=settings.merchant_uid or "",
            api_user_id=settings.api_user_id,
            api_key=settings.api_key,
            store_id=settings.store_id,
            hpp_key=settings.hpp_key,
            push_timeout=settings.push_timeout,
            tran_info_for_pushes=settings.tran_info_for_pushes,
            read_timeout=settings.read_timeout,
            connect_timeout=settings.connect_timeout,
            hpp_success_url=settings.hpp_success_url,
            hpp_failure_url=settings.hpp_failure_url,
            hpp_payment_method=settings.hpp_payment_method,
            hpp_response_format=settings.hpp_response_format,
            http_client=http_client,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"WaafiPayClient(endpoint={self._endpoint!r}, merchant_uid={self._merchant_uid!r})"

    # -- payments -------------------------------------------------------------------------------

    async def create_payment(self, request: CreatePayment) -> PaymentOutcome:
        hpp_method = self._hpp_method(request.payment_method)
        if hpp_method is not None:
            if request.capture_mode is CaptureMode.MANUAL:
                raise InputError(
                    "the hosted payment page has no pre-authorization; use a wallet push", field="capture_mode"
                )
            return await self._hpp_purchase(request, hpp_method)
        if request.capture_mode is CaptureMode.MANUAL:
            return await self._push(request, wire.API_PREAUTHORIZE, FlowKind.PREAUTH)
        return await self._push(request, wire.API_PURCHASE, FlowKind.PURCHASE)

    # -- subscriptions: none at WaafiPay --------------------------------------------------------

    async def create_subscription(self, request: CreateSubscription) -> SubscriptionOutcome:
        raise self._no_subscriptions("create_subscription")

    async def inquire_subscription(self, subscription: SubscriptionRef) -> SubscriptionOutcome:
        raise self._no_subscriptions("inquire_subscription")

    async def cancel_subscription(self, request: CancelSubscription) -> SubscriptionOutcome:
        raise self._no_subscriptions("cancel_subscription")

    async def manage_subscription(self, request: ManageSubscription) -> ManagementLink:
        raise self._no_subscriptions("manage_subscription")

    async def change_subscription(self, request: ChangeSubscription) -> ChangeOutcome:
        raise self._no_subscriptions("change_subscription")

    async def inquire_subscription_change(self, request: InquireSubscriptionChange) -> ChangeOutcome:
        raise self._no_subscriptions("inquire_subscription_change")

    def _no_subscriptions(self, operation: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(_NO_SUBSCRIPTIONS, provider=self.name, operation=operation)
