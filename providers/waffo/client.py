"""WaffoClient: the normalized provider protocol over Waffo's signed JSON API.

Every call follows the same flow:

1. build the wire model (:mod:`providers.waffo.transform`), validating request ids before anything is sent;
2. serialize it once to compact UTF-8 JSON and sign exactly those bytes with the merchant key;
3. POST those bytes (``Content-Type``, ``X-API-KEY``, ``X-SIGNATURE``, ``X-API-VERSION``);
4. verify the response's ``X-SIGNATURE`` over the raw response bytes with Waffo's key, before parsing;
5. read the ``{code, msg, data}`` envelope whatever the HTTP status, and classify the code.

Classification (reference §1.3, §2.2, §2.5; one rule for writes and reads):

* no complete answer (timeout), a broken connection, a response whose signature is missing or wrong, an
  unreadable body, a 5xx without a verifiable Waffo envelope, an ``E`` code or a code of no documented
  class: the outcome is unknown. The matching :class:`~billing.errors.OutcomeUnknownError` subclass is
  raised. For a write the call may have taken effect; for a read nothing was learned. Either way the
  caller inquires with the same request id and never concludes failure.
* ``A``/``B``/``C``/``D``: a definite refusal, returned as an outcome carrying a ProviderFailure, even on
  an HTTP 5xx (the signed code is the statement). Two codes are not refusals of the operation itself:
  ``A0011`` (request id reused with other parameters) raises :class:`~billing.errors.ConflictError`, and
  ``A0009`` on a look-up raises :class:`~billing.errors.NotFoundError`.

The client never retries; retries belong to the caller (Temporal).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Self, TypeVar

import httpx
from pydantic import SecretStr, ValidationError

from billing.errors import (
    ConfigurationError,
    ConflictError,
    InvalidStateError,
    NotFoundError,
    ProviderRequestError,
    ProviderServerError,
    ResponseVerificationError,
)
from billing.telemetry import provider_call_span
from providers import http
from providers.answers import Value, require_same_object
from providers.base import (
    CancelPayment,
    CancelSubscription,
    CapturePayment,
    ChangeOutcome,
    ChangeStatus,
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
    SubscriptionStatus,
)
from providers.parsing import parse_answer, parse_time
from providers.waffo import transform, wire
from providers.waffo.results import MerchantConfig, PayMethodConfig, SubscriptionUpdateOutcome, UpdateSubscription
from providers.waffo.settings import WaffoSettings
from providers.waffo.signing import (
    PRIVATE_KEY_SETTING,
    PUBLIC_KEY_SETTING,
    SIGNATURE_HEADER,
    BodySigner,
    BodyVerifier,
)
from providers.waffo.timing import LONGEST_WAIT

PROVIDER_NAME = "waffo"
API_VERSION = "1.0.0"

ORDER_CREATE = "order/create"
ORDER_INQUIRY = "order/inquiry"
ORDER_CANCEL = "order/cancel"
ORDER_CAPTURE = "order/capture"
ORDER_REFUND = "order/refund"
REFUND_INQUIRY = "refund/inquiry"
SUBSCRIPTION_CREATE = "subscription/create"
SUBSCRIPTION_INQUIRY = "subscription/inquiry"
SUBSCRIPTION_CANCEL = "subscription/cancel"
SUBSCRIPTION_MANAGE = "subscription/manage"
SUBSCRIPTION_CHANGE = "subscription/change"
SUBSCRIPTION_CHANGE_INQUIRY = "subscription/change/inquiry"
SUBSCRIPTION_UPDATE = "subscription/update"
MERCHANT_CONFIG_INQUIRY = "merchantconfig/inquiry"
PAY_METHOD_CONFIG_INQUIRY = "paymethodconfig/inquiry"

#: The engine's name for each API call (span attribute ``billing.operation``).
OPERATIONS = {
    ORDER_CREATE: "create_payment",
    ORDER_INQUIRY: "inquire_payment",
    ORDER_CANCEL: "cancel_payment",
    ORDER_CAPTURE: "capture_payment",
    ORDER_REFUND: "refund",
    REFUND_INQUIRY: "inquire_refund",
    SUBSCRIPTION_CREATE: "create_subscription",
    SUBSCRIPTION_INQUIRY: "inquire_subscription",
    SUBSCRIPTION_CANCEL: "cancel_subscription",
    SUBSCRIPTION_MANAGE: "manage_subscription",
    SUBSCRIPTION_CHANGE: "change_subscription",
    SUBSCRIPTION_CHANGE_INQUIRY: "inquire_subscription_change",
    SUBSCRIPTION_UPDATE: "update_subscription",
    MERCHANT_CONFIG_INQUIRY: "inquire_merchant_config",
    PAY_METHOD_CONFIG_INQUIRY: "inquire_pay_method_config",
}

WAFFO_CAPABILITIES = ProviderCapabilities(
    webhooks=True,
    native_subscriptions=True,
    payment_inquiry=True,
    refund_inquiry=True,
    partial_refund=True,
    multiple_refunds=True,
    manual_capture=True,
    partial_capture=True,
    longest_wait=LONGEST_WAIT,
    cancel_payment=True,
)

_Data = TypeVar("_Data", bound=wire.WaffoModel)


@dataclass(frozen=True)
class _Answer:
    """A verified envelope with a definite code: ``failure`` is None for "0", else the refusal."""

    data: dict[str, Any] = field(default_factory=dict)
    failure: ProviderFailure | None = None
    code: str = "0"


def encode_body(request: wire.WaffoModel) -> bytes:
    """The exact bytes that are signed and sent: compact JSON, UTF-8, non-ASCII kept as is."""
    return json.dumps(wire.dump_request(request), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WaffoClient(http.HttpClientOwner):
    """Waffo's order, refund, subscription and configuration API as a :class:`PaymentProvider`.

    Build it from settings with :meth:`from_settings`, or explicitly (tests, emulators): pass
    ``http_client`` or ``transport`` to route requests anywhere (``httpx.MockTransport``,
    ``httpx.ASGITransport``). An injected ``http_client`` is not closed by :meth:`aclose`.
    """

    name = PROVIDER_NAME
    capabilities = WAFFO_CAPABILITIES

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | SecretStr,
        merchant_id: str,
        merchant_private_key: str | SecretStr,
        waffo_public_key: str,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        require_response_signature: bool = True,
        notify_url: str | None = None,
        refund_notify_url: str | None = None,
        goods_url: str | None = None,
        app_name: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ConfigurationError("must be an http(s) URL ending with /api/v1", setting="BILLING_WAFFO_BASE_URL")
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not key.get_secret_value():
            raise ConfigurationError("is empty", setting="BILLING_WAFFO_API_KEY")
        if not merchant_id:
            raise ConfigurationError("is empty", setting="BILLING_WAFFO_MERCHANT_ID")
        if http_client is not None and transport is not None:
            raise ConfigurationError("give either an http_client or a transport, not both")
        if not goods_url and not app_name:
            raise ConfigurationError(
                "is not set, nor BILLING_WAFFO_APP_NAME: Waffo requires goodsInfo.goodsUrl or goodsInfo.appName",
                setting="BILLING_WAFFO_GOODS_URL",
            )
        self._base_url = base_url.rstrip("/")
        self._api_key = key
        self._merchant_id = merchant_id
        self._signer = BodySigner(merchant_private_key, setting=PRIVATE_KEY_SETTING)
        self._verifier = BodyVerifier(waffo_public_key, setting=PUBLIC_KEY_SETTING)
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._require_response_signature = require_response_signature
        self._notify_url = notify_url
        self._refund_notify_url = refund_notify_url
        self._goods = transform.GoodsDefaults(goods_url=goods_url or None, app_name=app_name or None)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=self._timeout)

    @classmethod
    def from_settings(
        cls,
        settings: WaffoSettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Self:
        """A client from ``BILLING_WAFFO_*`` settings; a missing or unusable one raises ConfigurationError."""
        if settings.api_key is None:
            raise ConfigurationError("is not set", setting="BILLING_WAFFO_API_KEY")
        if not settings.merchant_id:
            raise ConfigurationError("is not set", setting="BILLING_WAFFO_MERCHANT_ID")
        if settings.private_key is None:
            raise ConfigurationError("is not set", setting=PRIVATE_KEY_SETTING)
        if not settings.public_key:
            raise ConfigurationError("is not set", setting=PUBLIC_KEY_SETTING)
        return cls(
            base_url=settings.base_url,
            api_key=settings.api_key,
            merchant_id=settings.merchant_id,
            merchant_private_key=settings.private_key,
            waffo_public_key=settings.public_key,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            require_response_signature=settings.require_response_signature,
            notify_url=settings.notify_url,
            refund_notify_url=settings.refund_notify_url,
            goods_url=settings.goods_url,
            app_name=settings.app_name,
            http_client=http_client,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"WaffoClient(base_url={self._base_url!r}, merchant_id={self._merchant_id!r})"

    # -- payments -------------------------------------------------------------------------------

    async def create_payment(self, request: CreatePayment) -> PaymentOutcome:
        wire_request = transform.order_create_request(
            request, merchant_id=self._merchant_id, notify_url=self._notify_url, goods=self._goods
        )
        answer = await self._exchange(ORDER_CREATE, wire_request)
        if answer.failure is not None:
            return PaymentOutcome(
                status=PaymentStatus.DECLINED,
                idempotency_key=request.idempotency_key,
                merchant_reference=request.merchant_order_id,
                amount=request.amount,
                failure=answer.failure,
            )
        data = parse_answer(wire.OrderData, answer.data, provider=self.name, operation=ORDER_CREATE)
        self._require_about(
            ORDER_CREATE,
            {"paymentRequestId": request.idempotency_key, "merchantOrderId": request.merchant_order_id},
            transform.order_answer_ids(data),
        )
        outcome = transform.payment_outcome(data, idempotency_key=request.idempotency_key)
        return outcome.model_copy(
            update={
                "amount": outcome.amount or request.amount,
                "merchant_reference": outcome.merchant_reference or request.merchant_order_id,
            }
        )

    async def inquire_payment(self, payment: PaymentRef) -> PaymentOutcome:
        answer = await self._exchange(ORDER_INQUIRY, transform.order_inquiry_request(payment))
        if answer.failure is not None:
            self._raise_if_not_found(ORDER_INQUIRY, answer.failure, "payment")
            return PaymentOutcome(
                idempotency_key=payment.idempotency_key,
                provider_reference=payment.provider_reference,
                failure=answer.failure,
            )
        data = parse_answer(wire.OrderDetails, answer.data, provider=self.name, operation=ORDER_INQUIRY)
        self._require_about(ORDER_INQUIRY, self._payment_ids(payment), transform.order_answer_ids(data))
        return transform.payment_outcome(data, idempotency_key=payment.idempotency_key)

    async def cancel_payment(self, request: CancelPayment) -> PaymentOutcome:
        wire_request = transform.order_cancel_request(request, merchant_id=self._merchant_id)
        answer = await self._exchange(ORDER_CANCEL, wire_request)
        if answer.failure is not None:
            # A0013 states that the order is paid: say so, so a caller needs no inquiry to learn it.
            # Any other refusal says nothing about the payment's state.
            paid = answer.failure.code == transform.ALREADY_PAID_CODE
            return PaymentOutcome(
                status=PaymentStatus.SUCCEEDED if paid else PaymentStatus.PENDING,
                idempotency_key=request.payment.idempotency_key,
                provider_reference=request.payment.provider_reference,
                failure=answer.failure,
            )
        data = parse_answer(wire.OrderData, answer.data, provider=self.name, operation=ORDER_CANCEL)
        self._require_about(ORDER_CANCEL, self._payment_ids(request.payment), transform.order_answer_ids(data))
        return transform.payment_outcome(data, idempotency_key=request.payment.idempotency_key)

    async def capture_payment(self, request: CapturePayment) -> PaymentOutcome:
        wire_request = transform.order_capture_request(request, merchant_id=self._merchant_id)
        answer = await self._exchange(ORDER_CAPTURE, wire_request)
        if answer.failure is not None:
            # The capture was refused; the authorization's own state is not stated by the refusal.
            return PaymentOutcome(
                idempotency_key=request.payment.idempotency_key,
                provider_reference=request.payment.provider_reference,
                failure=answer.failure,
            )
        data = parse_answer(wire.OrderData, answer.data, provider=self.name, operation=ORDER_CAPTURE)
        self._require_about(ORDER_CAPTURE, self._payment_ids(request.payment), transform.order_answer_ids(data))
        return transform.payment_outcome(data, idempotency_key=request.payment.idempotency_key)

    # -- refunds --------------------------------------------------------------------------------

    async def refund(self, request: CreateRefund) -> RefundOutcome:
        wire_request = transform.order_refund_request(
            request, merchant_id=self._merchant_id, refund_notify_url=self._refund_notify_url
        )
        answer = await self._exchange(ORDER_REFUND, wire_request)
        if answer.failure is not None:
            return RefundOutcome(
                status=RefundStatus.FAILED,
                idempotency_key=request.idempotency_key,
                payment_reference=request.payment.provider_reference,
                amount=request.amount,
                failure=answer.failure,
            )
        data = parse_answer(wire.RefundData, answer.data, provider=self.name, operation=ORDER_REFUND)
        self._require_about(
            ORDER_REFUND,
            {
                "refundRequestId": request.idempotency_key,
                "acquiringOrderId": request.payment.provider_reference,
                "refundAmount": request.amount,
            },
            transform.refund_answer_ids(data, currency=request.amount.currency),
        )
        outcome = transform.refund_outcome(
            data, currency=request.amount.currency, idempotency_key=request.idempotency_key
        )
        return outcome.model_copy(update={"amount": outcome.amount or request.amount})

    async def inquire_refund(self, refund: RefundRef) -> RefundOutcome:
        answer = await self._exchange(REFUND_INQUIRY, transform.refund_inquiry_request(refund))
        if answer.failure is not None:
            self._raise_if_not_found(REFUND_INQUIRY, answer.failure, "refund")
            return RefundOutcome(
                idempotency_key=refund.idempotency_key,
                provider_reference=refund.provider_reference,
                failure=answer.failure,
            )
        data = parse_answer(wire.RefundDetails, answer.data, provider=self.name, operation=REFUND_INQUIRY)
        self._require_about(
            REFUND_INQUIRY,
            {
                "refundRequestId": refund.idempotency_key,
                "acquiringRefundOrderId": refund.provider_reference,
                "paymentRequestId": refund.payment_idempotency_key,
                "refundAmount": refund.amount,
            },
            transform.refund_answer_ids(data, currency=refund.currency),
        )
        return transform.refund_outcome(data, currency=refund.currency, idempotency_key=refund.idempotency_key)

    # -- subscriptions --------------------------------------------------------------------------

    async def create_subscription(self, request: CreateSubscription) -> SubscriptionOutcome:
        wire_request = transform.subscription_create_request(
            request, merchant_id=self._merchant_id, notify_url=self._notify_url, goods=self._goods
        )
        answer = await self._exchange(SUBSCRIPTION_CREATE, wire_request)
        if answer.failure is not None:
            return SubscriptionOutcome(
                status=SubscriptionStatus.CLOSED,
                idempotency_key=request.idempotency_key,
                amount=request.plan.amount,
                failure=answer.failure,
            )
        data = parse_answer(wire.SubscriptionData, answer.data, provider=self.name, operation=SUBSCRIPTION_CREATE)
        outcome = transform.subscription_outcome(data, idempotency_key=request.idempotency_key)
        return outcome.model_copy(update={"amount": outcome.amount or request.plan.amount})

    async def inquire_subscription(self, subscription: SubscriptionRef) -> SubscriptionOutcome:
        answer = await self._exchange(SUBSCRIPTION_INQUIRY, transform.subscription_inquiry_request(subscription))
        if answer.failure is not None:
            self._raise_if_not_found(SUBSCRIPTION_INQUIRY, answer.failure, "subscription")
            return SubscriptionOutcome(
                idempotency_key=subscription.idempotency_key,
                provider_reference=subscription.provider_reference,
                failure=answer.failure,
            )
        data = parse_answer(wire.SubscriptionDetails, answer.data, provider=self.name, operation=SUBSCRIPTION_INQUIRY)
        self._require_about(
            SUBSCRIPTION_INQUIRY, self._subscription_ids(subscription), transform.subscription_answer_ids(data)
        )
        return transform.subscription_outcome(data, idempotency_key=subscription.idempotency_key)

    async def cancel_subscription(self, request: CancelSubscription) -> SubscriptionOutcome:
        wire_request = transform.subscription_cancel_request(request, merchant_id=self._merchant_id)
        answer = await self._exchange(SUBSCRIPTION_CANCEL, wire_request)
        if answer.failure is not None:
            # Waffo cancels only ACTIVE subscriptions; a refusal does not say which state it is in.
            return SubscriptionOutcome(
                idempotency_key=request.subscription.idempotency_key,
                provider_reference=request.subscription.provider_reference,
                failure=answer.failure,
            )
        data = parse_answer(wire.SubscriptionCancelData, answer.data, provider=self.name, operation=SUBSCRIPTION_CANCEL)
        self._require_about(
            SUBSCRIPTION_CANCEL,
            self._subscription_ids(request.subscription),
            transform.subscription_answer_ids(data),
        )
        return transform.subscription_cancel_outcome(data, idempotency_key=request.subscription.idempotency_key)

    async def manage_subscription(self, request: ManageSubscription) -> ManagementLink:
        answer = await self._exchange(SUBSCRIPTION_MANAGE, transform.subscription_manage_request(request))
        if answer.failure is not None:
            self._raise_if_not_found(SUBSCRIPTION_MANAGE, answer.failure, "subscription")
            # A management link exists only for ACTIVE subscriptions: any other refusal is a state problem.
            raise InvalidStateError(
                f"Waffo refused a management link ({answer.failure.code}: {answer.failure.message})",
                field="subscription",
            )
        data = parse_answer(wire.SubscriptionManageData, answer.data, provider=self.name, operation=SUBSCRIPTION_MANAGE)
        if not data.management_url:
            raise ResponseVerificationError(
                "the response has no managementUrl", provider=self.name, operation=SUBSCRIPTION_MANAGE
            )
        return ManagementLink(url=data.management_url, expires_at=parse_time(data.expired_at))

    async def change_subscription(self, request: ChangeSubscription) -> ChangeOutcome:
        wire_request = transform.subscription_change_request(
            request, merchant_id=self._merchant_id, notify_url=self._notify_url, goods=self._goods
        )
        answer = await self._exchange(SUBSCRIPTION_CHANGE, wire_request)
        if answer.failure is not None:
            return ChangeOutcome(
                status=ChangeStatus.CLOSED,
                idempotency_key=request.idempotency_key,
                original_idempotency_key=request.original.idempotency_key,
                failure=answer.failure,
            )
        data = parse_answer(wire.SubscriptionChangeData, answer.data, provider=self.name, operation=SUBSCRIPTION_CHANGE)
        self._require_about(
            SUBSCRIPTION_CHANGE,
            {
                "subscriptionRequest": request.idempotency_key,
                "originSubscriptionRequest": request.original.idempotency_key,
            },
            transform.change_answer_ids(data),
        )
        return transform.change_outcome(
            data,
            idempotency_key=request.idempotency_key,
            original_idempotency_key=request.original.idempotency_key,
        )

    async def inquire_subscription_change(self, request: InquireSubscriptionChange) -> ChangeOutcome:
        wire_request = transform.subscription_change_inquiry_request(request)
        answer = await self._exchange(SUBSCRIPTION_CHANGE_INQUIRY, wire_request)
        if answer.failure is not None:
            self._raise_if_not_found(SUBSCRIPTION_CHANGE_INQUIRY, answer.failure, "subscription change")
            return ChangeOutcome(
                idempotency_key=request.idempotency_key,
                original_idempotency_key=request.original.idempotency_key,
                failure=answer.failure,
            )
        data = parse_answer(
            wire.SubscriptionChangeData, answer.data, provider=self.name, operation=SUBSCRIPTION_CHANGE_INQUIRY
        )
        self._require_about(
            SUBSCRIPTION_CHANGE_INQUIRY,
            {
                "subscriptionRequest": request.idempotency_key,
                "originSubscriptionRequest": request.original.idempotency_key,
            },
            transform.change_answer_ids(data),
        )
        return transform.change_outcome(
            data,
            idempotency_key=request.idempotency_key,
            original_idempotency_key=request.original.idempotency_key,
        )

    async def update_subscription(self, request: UpdateSubscription) -> SubscriptionUpdateOutcome:
        """``subscription/update``: new amounts from the next period on, and/or a one-off top-up charge.

        A top-up moves money: its ``idempotency_key`` (``topupRequest``) makes a retry the same charge. A
        refusal is returned as ``failure``; an unknown outcome raises, and the caller repeats the same request.
        """
        answer = await self._exchange(SUBSCRIPTION_UPDATE, transform.subscription_update_request(request))
        if answer.failure is not None:
            self._raise_if_not_found(SUBSCRIPTION_UPDATE, answer.failure, "subscription")
            return SubscriptionUpdateOutcome(failure=answer.failure)
        data = parse_answer(wire.SubscriptionUpdateData, answer.data, provider=self.name, operation=SUBSCRIPTION_UPDATE)
        return transform.subscription_update_outcome(data, currency=request.currency)

    # -- configuration --------------------------------------------------------------------------

    async def inquire_merchant_config(self) -> MerchantConfig:
        wire_request = transform.merchant_config_request(merchant_id=self._merchant_id)
        answer = await self._exchange(MERCHANT_CONFIG_INQUIRY, wire_request)
        if answer.failure is not None:
            return MerchantConfig(merchant_id=self._merchant_id, failure=answer.failure)
        return transform.merchant_config(
            parse_answer(wire.MerchantConfigData, answer.data, provider=self.name, operation=MERCHANT_CONFIG_INQUIRY)
        )

    async def inquire_pay_method_config(self) -> PayMethodConfig:
        wire_request = transform.pay_method_config_request(merchant_id=self._merchant_id)
        answer = await self._exchange(PAY_METHOD_CONFIG_INQUIRY, wire_request)
        if answer.failure is not None:
            return PayMethodConfig(merchant_id=self._merchant_id, failure=answer.failure)
        return transform.pay_method_config(
            parse_answer(wire.PayMethodConfigData, answer.data, provider=self.name, operation=PAY_METHOD_CONFIG_INQUIRY)
        )

    # -- transport ------------------------------------------------------------------------------

    def _sign(self, operation: str, body: bytes) -> str:
        try:
            return self._signer.sign(body)
        except (ValueError, TypeError) as exc:
            raise ProviderRequestError(
                "the request could not be signed", provider=self.name, operation=operation
            ) from exc

    # -- the answer is about the object asked for ---------------------------------------------------

    def _require_about(self, operation: str, asked: Mapping[str, Value], answered: Mapping[str, Value]) -> None:
        require_same_object(provider=self.name, operation=operation, asked=asked, answered=answered)

    @staticmethod
    def _payment_ids(payment: PaymentRef) -> dict[str, Value]:
        return {"paymentRequestId": payment.idempotency_key, "acquiringOrderId": payment.provider_reference}

    @staticmethod
    def _subscription_ids(subscription: SubscriptionRef) -> dict[str, Value]:
        return {"subscriptionRequest": subscription.idempotency_key, "subscriptionId": subscription.provider_reference}

    async def _exchange(self, operation: str, request: wire.WaffoModel) -> _Answer:
        """Send one signed request and return its verified, classified answer."""
        try:
            body = encode_body(request)
        except (TypeError, ValueError) as exc:
            raise ProviderRequestError(
                "the request could not be serialized", provider=self.name, operation=operation
            ) from exc
        headers = {
            "Content-Type": "application/json",
            "X-API-KEY": self._api_key.get_secret_value(),
            SIGNATURE_HEADER: self._sign(operation, body),
            "X-API-VERSION": API_VERSION,
        }
        with provider_call_span(self.name, OPERATIONS.get(operation, operation), api=operation) as call:
            response = await http.post(
                self._http,
                f"{self._base_url}/{operation}",
                provider=self.name,
                operation=operation,
                content=body,
                headers=headers,
                timeout=self._timeout,
            )
            call.http_status(response.status_code)
            answer = self._classify(operation, response)
            call.provider_code(answer.code)
            return answer

    def _classify(self, operation: str, response: httpx.Response) -> _Answer:
        raw = response.content
        status = response.status_code
        server_error = status >= 500

        signature = response.headers.get(SIGNATURE_HEADER)
        problem: str | None = None
        if signature is None:
            if self._require_response_signature:
                problem = "has no X-SIGNATURE"
        elif not self._verifier.verify(raw, signature):
            problem = "has an invalid X-SIGNATURE"
        if problem is not None:
            if server_error:
                raise ProviderServerError(
                    f"HTTP {status}; the response {problem}",
                    provider=self.name,
                    operation=operation,
                    status_code=status,
                )
            raise ResponseVerificationError(
                f"HTTP {status}; the response {problem}", provider=self.name, operation=operation
            )

        try:
            envelope = wire.ResponseEnvelope.model_validate(json.loads(raw, parse_float=Decimal))
        except (ValueError, ValidationError) as exc:
            if server_error:
                raise ProviderServerError(
                    f"HTTP {status} without a Waffo envelope",
                    provider=self.name,
                    operation=operation,
                    status_code=status,
                ) from exc
            raise ResponseVerificationError(
                f"HTTP {status}; the body is not a Waffo envelope", provider=self.name, operation=operation
            ) from exc

        code = (envelope.code or "").strip()
        code_class = transform.classify_code(code)
        if code_class is transform.CodeClass.SUCCESS:
            return _Answer(data=envelope.data or {}, code=code)
        if code_class is transform.CodeClass.UNKNOWN:
            raise ProviderServerError(
                f"outcome unknown: code {code or '(none)'} {envelope.msg or ''}".rstrip(),
                provider=self.name,
                operation=operation,
                status_code=status,
                code=code or None,
            )
        if code == transform.IDEMPOTENCY_MISMATCH_CODE:
            raise ConflictError(
                f"Waffo {operation}: the request id was already used with other parameters ({code})",
                field="idempotency_key",
            )
        return _Answer(data=envelope.data or {}, failure=transform.provider_failure(code, envelope.msg), code=code)

    def _raise_if_not_found(self, operation: str, failure: ProviderFailure, what: str) -> None:
        if failure.code == transform.NOT_FOUND_CODE:
            raise NotFoundError(f"Waffo {operation}: no such {what} ({failure.code})", field=what)
