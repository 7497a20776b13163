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
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Self, TypeVar

import httpx
from pydantic import SecretStr, ValidationError

from billing.errors import (
    ConfigurationError,
    InputError,
    InvalidStateError,
    NotFoundError,
    ProviderRequestError,
    ProviderServerError,
    ResponseVerificationError,
    UnsupportedOperationError,
)
from billing.telemetry import provider_call_span
from providers import http
from providers.answers import require_same_object
from providers.base import (
    CancelPayment,
    CancelSubscription,
    CaptureMode,
    CapturePayment,
    ChangeOutcome,
    ChangeSubscription,
    CreatePayment,
    CreateRefund,
    CreateSubscription,
    InquireSubscriptionChange,
    ManagementLink,
    ManageSubscription,
    PaymentOutcome,
    PaymentRef,
    PaymentStatus,
    ProviderCapabilities,
    ProviderFailure,
    RefundOutcome,
    RefundRef,
    RefundStatus,
    SubscriptionOutcome,
    SubscriptionRef,
)
from providers.waafipay import transform, wire
from providers.waafipay.settings import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PUSH_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    WaafiPaySettings,
)
from providers.waafipay.timing import LONGEST_WAIT
from providers.waafipay.transform import AnswerClass, FlowKind, StateClass

PROVIDER_NAME = "waafipay"
ASM_PATH = "/asm"
#: ``CreatePayment.payment_method`` that selects the hosted payment page (``HPP`` or ``HPP:<method>``).
HPP_METHOD = "HPP"

_Result = TypeVar("_Result", bound=wire.WaafiPayModel)

#: The engine's name for each service (span attribute ``billing.operation``).
OPERATIONS = {
    wire.API_PURCHASE: "create_payment",
    wire.API_PREAUTHORIZE: "create_payment",
    wire.HPP_PURCHASE: "create_payment",
    wire.HPP_GETTRANINFO: "inquire_payment",
    wire.HPP_GETRESULTINFO: "inquire_hpp_result",
    wire.API_CANCELPURCHASE: "cancel_payment",
    wire.API_PREAUTHORIZE_CANCEL: "cancel_payment",
    wire.API_PREAUTHORIZE_COMMIT: "capture_payment",
    wire.API_REFUND: "refund",
    wire.HPP_REFUNDPURCHASE: "refund",
}

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


def endpoint_url(base_url: str) -> str:
    """``https://sandbox.waafipay.net`` → ``https://sandbox.waafipay.net/asm`` (kept if it ends in /asm)."""
    url = base_url.strip().rstrip("/")
    return url if url.endswith(ASM_PATH) else url + ASM_PATH


def encode_body(request: wire.RequestEnvelope) -> bytes:
    """The exact bytes sent (see :func:`providers.waafipay.wire.encode_request`)."""
    return wire.encode_request(request)


def _now() -> datetime:
    return datetime.now(UTC)


class WaafiPayClient(http.HttpClientOwner):
    """WaafiPay's wallet push, pre-authorization, hosted payment page and refund services as a
    :class:`~providers.base.PaymentProvider`.

    Build it from settings with :meth:`from_settings`, or explicitly (tests, emulators): ``base_url`` is
    the host (``/asm`` is appended), and ``http_client`` or ``transport`` routes requests anywhere
    (``httpx.MockTransport``, ``httpx.ASGITransport``). An injected ``http_client`` is not closed by
    :meth:`aclose`. Either credential set may be given alone; operations that need the other raise
    :class:`~billing.errors.ConfigurationError` naming the missing setting.
    """

    name = PROVIDER_NAME

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
                "must be an http(s) URL such as https://api.waafipay.net", setting=_setting("BASE_URL")
            )
        if not merchant_uid:
            raise ConfigurationError("is not set", setting=_setting("MERCHANT_UID"))
        for value, setting in (
            (push_timeout, "PUSH_TIMEOUT"),
            (read_timeout, "READ_TIMEOUT"),
            (connect_timeout, "CONNECT_TIMEOUT"),
        ):
            if not value > 0:
                raise ConfigurationError("must be a positive number of seconds", setting=_setting(setting))
        if push_timeout > LONGEST_WAIT.total_seconds():
            # The engine's call limit is derived from LONGEST_WAIT: a longer push would be cut off by it.
            raise ConfigurationError(
                f"must be at most {LONGEST_WAIT.total_seconds():g} seconds (the longest wait the engine allows a push)",
                setting=_setting("PUSH_TIMEOUT"),
            )
        if hpp_payment_method.upper() not in wire.HPP_PAYMENT_METHODS:
            raise ConfigurationError(
                f"must be one of {', '.join(sorted(wire.HPP_PAYMENT_METHODS))}", setting=_setting("HPP_PAYMENT_METHOD")
            )
        if hpp_response_format not in (1, 2, 4):
            raise ConfigurationError(
                "must be 1 (POST), 2 (GET) or 4 (result token)", setting=_setting("HPP_RESPONSE_FORMAT")
            )
        if http_client is not None and transport is not None:
            raise ConfigurationError("give either an http_client or a transport, not both")
        self._api = _api_credentials(merchant_uid, api_user_id, api_key)
        self._hpp = _hpp_credentials(merchant_uid, store_id, hpp_key)
        if self._api is None and self._hpp is None:
            raise ConfigurationError(
                "is not set: give the API credentials (API_USER_ID, API_KEY), the HPP credentials "
                "(STORE_ID, HPP_KEY) or both",
                setting=_setting("API_KEY"),
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

    async def inquire_payment(self, payment: PaymentRef) -> PaymentOutcome:
        """``HPP_GETTRANINFO`` by ``referenceId``, the only status query WaafiPay has.

        Without HPP credentials there is none (WaafiPay has no query for ``API_PURCHASE``), so this raises
        UnsupportedOperationError and the caller resolves the payment by review.
        """
        if payment.result_token and self._hpp is not None:
            hinted = await self._hinted_result(payment)
            if hinted is not None:
                return hinted
        service = wire.HPP_GETTRANINFO
        credentials = self._hpp
        if payment.payer_push and not self._tran_info_for_pushes:
            # Reference A7: no documented status query for API payments; HPP_GETTRANINFO is documented for
            # the hosted page only (BILLING_WAAFIPAY_TRAN_INFO_FOR_PUSHES turns its use for pushes on).
            raise UnsupportedOperationError(
                "WaafiPay documents no status query for wallet pushes (HPP_GETTRANINFO is documented for the "
                f"hosted payment page; {_setting('TRAN_INFO_FOR_PUSHES')} is off). Check the transaction in the "
                "WaafiPay merchant portal",
                provider=self.name,
                operation=service,
            )
        if credentials is None:
            raise UnsupportedOperationError(
                "WaafiPay has no status query for wallet pushes; HPP_GETTRANINFO needs the HPP credentials "
                f"({_setting('STORE_ID')}, {_setting('HPP_KEY')}). Resolve the payment by review.",
                provider=self.name,
                operation=service,
            )
        params = transform.tran_info_params(credentials, reference_id=payment.idempotency_key)
        answer = await self._read(service, params)
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            failure = transform.refusal_failure(answer)
            if (answer.response_code or "").strip() == transform.NOT_FOUND_CODE:
                # No transaction. For a hosted-page order that is all it says: the page exists (we created
                # it) and its transaction appears once the payer pays; the page lapses after
                # timing.HPP_PAYER_WINDOW (the order's customer_action.expires_at).
                raise NotFoundError(f"WaafiPay {service}: no such payment ({failure.code})", field="payment")
            return PaymentOutcome(
                idempotency_key=payment.idempotency_key,
                provider_reference=payment.provider_reference,
                failure=failure,
            )
        info = self._parse(service, wire.TranInfo, answer)
        self._check_reference(service, info.reference_id, payment.idempotency_key)
        return transform.tran_info_outcome(info, payment=payment)

    async def cancel_payment(self, request: CancelPayment) -> PaymentOutcome:
        """Reverse a purchase (``API_CANCELPURCHASE``) or release a hold (``API_PREAUTHORIZE_CANCEL``).

        A hosted-page order cannot be cancelled (it lapses after 5 minutes) and a push without a
        transaction id has nothing to reverse: both raise UnsupportedOperationError.
        """
        payment = request.payment
        reference = transform.parse_reference(payment.provider_reference)
        if reference is None or reference.kind not in (FlowKind.PURCHASE, FlowKind.PREAUTH):
            raise UnsupportedOperationError(
                "only a purchase (purchase:<id>) or a pre-authorization (preauth:<id>) can be cancelled; "
                "a hosted-page order lapses by itself after 5 minutes",
                provider=self.name,
                operation="cancel_payment",
            )
        credentials = self._require_api("cancel_payment")
        params: wire.WaafiPayModel
        if reference.kind is FlowKind.PREAUTH:
            service = wire.API_PREAUTHORIZE_CANCEL
            params = transform.preauthorize_action_params(
                credentials,
                transaction_id=reference.value,
                reference_id=payment.idempotency_key,
                text=transform.DEFAULT_CANCEL_DESCRIPTION,
            )
        else:
            service = wire.API_CANCELPURCHASE
            params = transform.cancel_purchase_params(
                credentials, transaction_id=reference.value, reference_id=payment.idempotency_key
            )
        answer = await self._write(service, params, key=payment.idempotency_key, at=request.requested_at)
        unchanged = PaymentOutcome(
            idempotency_key=payment.idempotency_key, provider_reference=payment.provider_reference
        )
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            if (answer.response_code or "").strip() == transform.ALREADY_CANCELLED_CODE:
                # Cancelled before (a retried reversal): the statement we asked for.
                return unchanged.model_copy(
                    update={"status": PaymentStatus.CLOSED, "provider_status": answer.response_msg}
                )
            return unchanged.model_copy(update={"failure": transform.refusal_failure(answer)})
        result = self._parse(service, wire.ActionResult, answer)
        self._check_reference(service, result.reference_id, payment.idempotency_key)
        state = self._final_state(service, result.state)
        if state is StateClass.APPROVED:
            return unchanged.model_copy(
                update={
                    "status": PaymentStatus.CLOSED,
                    "provider_status": result.state,
                    "completed_at": transform.parse_timestamp(answer.timestamp),
                }
            )
        return unchanged.model_copy(
            update={"provider_status": result.state, "failure": transform.state_failure(answer, result.state)}
        )

    async def capture_payment(self, request: CapturePayment) -> PaymentOutcome:
        """``API_PREAUTHORIZE_COMMIT``: captures the whole hold (the service takes no amount).

        A repeat of the same commit (same ``requestId`` and ``referenceId``) is answered by WaafiPay without a
        second capture; what it answers is not documented (the first commit again, or 5213). 5213 raises
        ProviderServerError: "not found" after a commit whose answer was lost may mean the money was taken.
        """
        service = wire.API_PREAUTHORIZE_COMMIT
        payment = request.payment
        reference = transform.parse_reference(payment.provider_reference)
        if reference is None or reference.kind is not FlowKind.PREAUTH:
            raise InvalidStateError(
                "only a WaafiPay pre-authorization (preauth:<transactionId>) can be captured",
                field="payment.provider_reference",
            )
        transform.amount_to_wire(request.amount)
        transform.require_reference_id(request.idempotency_key, field="idempotency_key")
        credentials = self._require_api(service)
        params = transform.preauthorize_action_params(
            credentials,
            transaction_id=reference.value,
            reference_id=payment.idempotency_key,
            text=transform.DEFAULT_COMMIT_DESCRIPTION,
        )
        answer = await self._write(service, params, key=request.idempotency_key, at=request.requested_at)
        unchanged = PaymentOutcome(
            idempotency_key=payment.idempotency_key, provider_reference=payment.provider_reference
        )
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            failure = transform.refusal_failure(answer)
            code = (answer.response_code or "").strip()
            if code == transform.ALREADY_CANCELLED_CODE:
                # The hold was released before: nothing can be captured any more.
                return unchanged.model_copy(
                    update={"status": PaymentStatus.CLOSED, "provider_status": answer.response_msg, "failure": failure}
                )
            if code == transform.NOT_FOUND_CODE:
                # The hold is not open: committed before (a commit whose answer was lost, or one made in the
                # portal) or gone. Whether the money was captured is not said: no refusal, no statement.
                raise ProviderServerError(
                    f"{failure.code} {failure.message}: the hold is not open; whether it was committed is not said",
                    provider=self.name,
                    operation=service,
                    status_code=200,
                    code=failure.code,
                )
            return unchanged.model_copy(update={"failure": failure})
        result = self._parse(service, wire.ActionResult, answer)
        self._check_reference(service, result.reference_id, payment.idempotency_key)
        state = self._final_state(service, result.state)
        if state is StateClass.APPROVED:
            return unchanged.model_copy(
                update={
                    "status": PaymentStatus.SUCCEEDED,
                    "provider_status": result.state,
                    "amount": request.amount,
                    "completed_at": transform.parse_timestamp(answer.timestamp),
                }
            )
        return unchanged.model_copy(
            update={"provider_status": result.state, "failure": transform.state_failure(answer, result.state)}
        )

    # -- refunds --------------------------------------------------------------------------------

    async def refund(self, request: CreateRefund) -> RefundOutcome:
        """Refund part or all of a payment; several refunds may follow each other.

        Pushes and committed pre-authorizations (``purchase:``/``preauth:``) use ``API_REFUND`` with the
        transaction id and the refund's own key as ``referenceId``. Hosted-page payments (``hpp:``) use
        ``HPP_REFUNDPURCHASE`` with the payment's ``referenceId`` and its transaction id, looked up with
        ``HPP_GETTRANINFO`` first. A bare transaction id (found by inquiry, flow unknown) is refunded
        through the HPP service when HPP credentials exist, else through ``API_REFUND``.
        """
        payment = request.payment
        transform.require_reference_id(request.idempotency_key, field="idempotency_key")
        transform.amount_to_wire(request.amount)
        reference = transform.parse_reference(payment.provider_reference)
        use_api = reference is not None and (
            reference.kind in (FlowKind.PURCHASE, FlowKind.PREAUTH) or (reference.kind is None and self._hpp is None)
        )
        if use_api:
            assert reference is not None
            service = wire.API_REFUND
            api_params = transform.api_refund_params(
                self._require_api(service),
                transaction_id=reference.value,
                refund_key=request.idempotency_key,
                amount=request.amount,
                reason=request.reason,
            )
            answer = await self._write(service, api_params, key=request.idempotency_key, at=request.requested_at)
            return self._refund_outcome(service, answer, request, reference_id=request.idempotency_key)

        service = wire.HPP_REFUNDPURCHASE
        credentials = self._require_hpp(service)
        transaction_id: str | None = reference.value if reference is not None and reference.kind is None else None
        if transaction_id is None:
            found = await self._refundable_transaction(payment)
            if isinstance(found, ProviderFailure):
                return self._refund_failed(request, found)
            transaction_id = found
        hpp_params = transform.hpp_refund_params(
            credentials,
            transaction_id=transaction_id,
            payment_key=payment.idempotency_key,
            amount=request.amount,
            reason=request.reason,
        )
        answer = await self._write(service, hpp_params, key=request.idempotency_key, at=request.requested_at)
        return self._refund_outcome(service, answer, request, reference_id=payment.idempotency_key)

    async def inquire_refund(self, refund: RefundRef) -> RefundOutcome:
        raise UnsupportedOperationError(
            "WaafiPay has no refund status query; an unknown refund outcome is resolved by review",
            provider=self.name,
            operation="inquire_refund",
        )

    # -- hosted payment page results ------------------------------------------------------------

    async def _hinted_result(self, payment: PaymentRef) -> PaymentOutcome | None:
        """The result behind a redirect's token, if WaafiPay confirms it and it is about this payment."""
        assert payment.result_token is not None
        try:
            outcome = await self.inquire_hpp_result(payment.result_token)
        except NotFoundError:
            return None
        if outcome.idempotency_key != payment.idempotency_key:
            return None  # a token for another payment: never a statement about this one
        return outcome.model_copy(
            update={"provider_reference": payment.provider_reference or outcome.provider_reference}
        )

    async def inquire_hpp_result(self, result_token: str) -> PaymentOutcome:
        """``HPP_GETRESULTINFO``: the result behind a callback's ``hppResultToken`` (format 4).

        A verified statement (it comes from WaafiPay's API, not from the browser). The outcome's
        ``idempotency_key`` is the payment's ``referenceId``. A token WaafiPay does not accept raises
        NotFoundError.
        """
        service = wire.HPP_GETRESULTINFO
        params = transform.result_info_params(self._require_hpp(service), token=result_token)
        answer = await self._read(service, params)
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            failure = transform.refusal_failure(answer)
            raise NotFoundError(
                f"WaafiPay {service}: {failure.code} {failure.message}".rstrip(), field="hpp_result_token"
            )
        return transform.result_info_outcome(answer, self._parse(service, wire.HppResultInfo, answer))

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

    # -- flows ----------------------------------------------------------------------------------

    def _hpp_method(self, payment_method: str | None) -> str | None:
        """None for a wallet push; the HPP ``paymentMethod`` for ``HPP`` / ``HPP:<method>``."""
        text = (payment_method or "").strip().upper()
        if not text or text == wire.MWALLET_ACCOUNT:
            return None
        head, separator, method = text.partition(":")
        if head == HPP_METHOD:
            if not separator:
                return self._hpp_payment_method
            if method in wire.HPP_PAYMENT_METHODS:
                return method
        raise InputError(
            "must be empty or MWALLET_ACCOUNT (wallet push), or HPP / HPP:CREDIT_CARD / HPP:MWALLET_ACCOUNT / "
            "HPP:MWALLET_BANKACCOUNT (hosted payment page)",
            field="payment_method",
        )

    async def _push(self, request: CreatePayment, service: str, kind: FlowKind) -> PaymentOutcome:
        params = transform.purchase_params(request, self._require_api(service))
        answer = await self._write(
            service, params, key=request.idempotency_key, at=request.requested_at, timeout=self._push_timeout
        )
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            return transform.declined_payment(
                request, transform.refusal_failure(answer), provider_status=answer.response_msg
            )
        result = self._parse(service, wire.PurchaseResult, answer)
        self._check_reference(service, result.reference_id, request.idempotency_key)
        state = self._final_state(service, result.state)
        if state is StateClass.APPROVED:
            return transform.push_outcome(answer, result, request=request, kind=kind)
        return transform.declined_payment(
            request, transform.state_failure(answer, result.state), provider_status=result.state
        )

    async def _hpp_purchase(self, request: CreatePayment, payment_method: str) -> PaymentOutcome:
        service = wire.HPP_PURCHASE
        success_url = request.success_url or self._hpp_success_url
        failure_url = request.failure_url or request.cancel_url or self._hpp_failure_url
        if not success_url:
            raise InputError(
                f"is required for the hosted payment page (or set {_setting('HPP_SUCCESS_URL')})", field="success_url"
            )
        if not failure_url:
            raise InputError(
                f"is required for the hosted payment page (or set {_setting('HPP_FAILURE_URL')})", field="failure_url"
            )
        params = transform.hpp_purchase_params(
            request,
            self._require_hpp(service),
            payment_method=payment_method,
            success_url=success_url,
            failure_url=failure_url,
            response_format=self._hpp_response_format,
            tag_urls=self._tag_callback_urls,
        )
        answer = await self._write(service, params, key=request.idempotency_key, at=request.requested_at)
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            # RCS_FAILED_TOCREATE_ORDER and kin: no page exists, nothing can be paid.
            return transform.declined_payment(
                request, transform.refusal_failure(answer), provider_status=answer.response_msg
            )
        result = self._parse(service, wire.HppPurchaseResult, answer)
        page = transform.hpp_page_url(result)
        if page is None:
            raise ResponseVerificationError("the answer has no hppUrl", provider=self.name, operation=service)
        return transform.hpp_outcome(result, request=request, page_url=page)

    async def _refundable_transaction(self, payment: PaymentRef) -> str | ProviderFailure:
        """The transaction id of an approved hosted-page payment (``HPP_GETTRANINFO``), or why there is
        nothing to refund."""
        service = wire.HPP_GETTRANINFO
        params = transform.tran_info_params(self._require_hpp(service), reference_id=payment.idempotency_key)
        answer = await self._read(service, params)
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            return transform.refusal_failure(answer)
        info = self._parse(service, wire.TranInfo, answer)
        self._check_reference(service, info.reference_id, payment.idempotency_key)
        if transform.tran_info_status(info) is PaymentStatus.SUCCEEDED and info.transaction_id:
            return info.transaction_id
        category, hard = transform.DECLINE_FAILURES[transform.DeclineReason.TRANSACTION_STATE]
        return ProviderFailure(
            code=transform.NOT_REFUNDABLE_CODE,
            message=f"the payment is {info.status or info.tran_status_desc or 'not approved'}; nothing to refund",
            category=category,
            hard=hard,
        )

    def _refund_outcome(
        self, service: str, answer: wire.ResponseEnvelope, request: CreateRefund, *, reference_id: str
    ) -> RefundOutcome:
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            return self._refund_failed(request, transform.refusal_failure(answer), provider_status=answer.response_msg)
        result = self._parse(service, wire.ActionResult, answer)
        self._check_reference(service, result.reference_id, reference_id)
        state = self._final_state(service, result.state)
        if state is StateClass.APPROVED:
            return RefundOutcome(
                status=RefundStatus.SUCCEEDED,
                idempotency_key=request.idempotency_key,
                provider_reference=result.transaction_id,
                payment_reference=request.payment.provider_reference,
                provider_status=result.state,
                amount=request.amount,
                completed_at=transform.parse_timestamp(answer.timestamp),
            )
        return self._refund_failed(request, transform.state_failure(answer, result.state), provider_status=result.state)

    @staticmethod
    def _refund_failed(
        request: CreateRefund, failure: ProviderFailure, *, provider_status: str | None = None
    ) -> RefundOutcome:
        return RefundOutcome(
            status=RefundStatus.FAILED,
            idempotency_key=request.idempotency_key,
            payment_reference=request.payment.provider_reference,
            provider_status=provider_status,
            amount=request.amount,
            failure=failure,
        )

    # -- credentials ----------------------------------------------------------------------------

    def _require_api(self, operation: str) -> wire.ApiCredentials:
        if self._api is None:
            raise ConfigurationError(
                f"is not set; {operation} needs the API credentials (MERCHANT_UID, API_USER_ID, API_KEY)",
                setting=_setting("API_KEY"),
            )
        return self._api

    def _require_hpp(self, operation: str) -> wire.HppCredentials:
        if self._hpp is None:
            raise ConfigurationError(
                f"is not set; {operation} needs the HPP credentials (MERCHANT_UID, STORE_ID, HPP_KEY)",
                setting=_setting("HPP_KEY"),
            )
        return self._hpp

    # -- transport ------------------------------------------------------------------------------

    async def _write(
        self,
        service: str,
        params: wire.WaafiPayModel,
        *,
        key: str,
        at: datetime,
        timeout: httpx.Timeout | None = None,
    ) -> wire.ResponseEnvelope:
        """A money-moving call: deterministic ``requestId`` from the service and ``key``."""
        request = transform.envelope(
            service,
            params,
            request_id=transform.request_id(service, key),
            timestamp=transform.format_timestamp(at),
        )
        return await self._exchange(service, request, timeout or self._read_timeout)

    async def _read(self, service: str, params: wire.WaafiPayModel) -> wire.ResponseEnvelope:
        """A query: a fresh ``requestId`` per call, so no answer can be a stale replay."""
        request = transform.envelope(
            service, params, request_id=str(uuid.uuid4()), timestamp=transform.format_timestamp(self._clock())
        )
        return await self._exchange(service, request, self._read_timeout)

    async def _exchange(
        self, service: str, request: wire.RequestEnvelope, timeout: httpx.Timeout
    ) -> wire.ResponseEnvelope:
        """Send one request; return its envelope when it is a success or a definite refusal."""
        try:
            body = encode_body(request)
        except (TypeError, ValueError) as exc:
            raise ProviderRequestError(
                "the request could not be serialized", provider=self.name, operation=service
            ) from exc
        with provider_call_span(self.name, OPERATIONS.get(service, service), api=service) as call:
            response = await http.post(
                self._http,
                self._endpoint,
                provider=self.name,
                operation=service,
                content=body,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=timeout,
            )
            call.http_status(response.status_code)
            envelope = self._classify(service, response)
            call.provider_code(transform.failure_code(envelope.response_code, envelope.error_code))
            return envelope

    def _classify(self, service: str, response: httpx.Response) -> wire.ResponseEnvelope:
        status = response.status_code
        if status >= 500:
            # WaafiPay states business outcomes on HTTP 200; a 5xx comes from before or around it.
            raise ProviderServerError(f"HTTP {status}", provider=self.name, operation=service, status_code=status)
        try:
            document = json.loads(response.content, parse_float=Decimal)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            envelope = wire.ResponseEnvelope.model_validate(document)
        except (ValueError, ValidationError) as exc:
            raise ResponseVerificationError(
                f"HTTP {status}; the body is not a WaafiPay envelope", provider=self.name, operation=service
            ) from exc
        if transform.classify_answer(envelope) is AnswerClass.UNKNOWN:
            code = transform.failure_code(envelope.response_code, envelope.error_code)
            raise ProviderServerError(
                f"outcome unknown: responseCode {envelope.response_code or '(none)'}, errorCode "
                f"{envelope.error_code or '(none)'} {envelope.response_msg or ''}".rstrip(),
                provider=self.name,
                operation=service,
                status_code=status,
                code=code,
            )
        return envelope

    def _parse(self, service: str, model: type[_Result], envelope: wire.ResponseEnvelope) -> _Result:
        try:
            return model.model_validate(envelope.params)
        except ValidationError as exc:
            raise ResponseVerificationError(
                f"the answer's params are not the documented {model.__name__}", provider=self.name, operation=service
            ) from exc

    def _final_state(self, service: str, state: str | None) -> StateClass:
        """``params.state`` of a 2001 answer; a state that is neither approved nor declined concludes nothing."""
        verdict = transform.classify_state(state)
        if verdict is StateClass.UNKNOWN:
            raise ResponseVerificationError(
                f"2001 without a final state (state={state!r}): outcome unknown", provider=self.name, operation=service
            )
        return verdict

    def _check_reference(self, service: str, echoed: str | None, expected: str) -> None:
        """The answer echoes the ``referenceId`` we sent; another one is no answer (providers/answers.py)."""
        require_same_object(
            provider=self.name, operation=service, asked={"referenceId": expected}, answered={"referenceId": echoed}
        )


def _setting(name: str) -> str:
    return f"BILLING_WAAFIPAY_{name}"


def _api_credentials(
    merchant_uid: str, api_user_id: str | None, api_key: str | SecretStr | None
) -> wire.ApiCredentials | None:
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    if not api_user_id and not key:
        return None
    if not api_user_id:
        raise ConfigurationError("is not set (API_KEY is)", setting=_setting("API_USER_ID"))
    if not key:
        raise ConfigurationError("is not set (API_USER_ID is)", setting=_setting("API_KEY"))
    return wire.ApiCredentials(
        merchant_uid=merchant_uid, api_user_id=transform.wire_id(api_user_id), api_key=SecretStr(key)
    )


def _hpp_credentials(
    merchant_uid: str, store_id: str | None, hpp_key: str | SecretStr | None
) -> wire.HppCredentials | None:
    key = hpp_key.get_secret_value() if isinstance(hpp_key, SecretStr) else hpp_key
    if not store_id and not key:
        return None
    if not store_id:
        raise ConfigurationError("is not set (HPP_KEY is)", setting=_setting("STORE_ID"))
    if not key:
        raise ConfigurationError("is not set (STORE_ID is)", setting=_setting("HPP_KEY"))
    return wire.HppCredentials(merchant_uid=merchant_uid, store_id=transform.wire_id(store_id), hpp_key=SecretStr(key))
