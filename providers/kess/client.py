"""KessClient: the normalized provider protocol over KESS Pay's token-authenticated JSON API.

Every call follows the same flow:

1. build the wire model (:mod:`providers.kess.transform`), validating the request before anything is sent;
2. take a bearer token from :class:`~providers.kess.auth.TokenSource`: a fresh one before every request, as
   seed 004 says (``BILLING_KESS_TOKEN_REUSE_S`` reuses one for a while instead);
3. POST compact JSON (amounts as JSON numbers, never floats); on HTTP 401 drop the token, fetch a new one
   and send the same bytes once more (a 401 means the request was not handled);
4. read the ``{success, data}`` envelope and classify it.

Classification (one rule for writes and reads):

* no complete answer (timeout), a broken connection, HTTP 5xx, an unreadable body, ``SYSTEMERROR`` and
  other "try again / query" codes, or an ``err_code`` this client does not know: the outcome is unknown
  and the matching :class:`~billing.errors.OutcomeUnknownError` is raised. The caller inquires with the same
  ``out_trade_no`` and never concludes failure.
* ``OUT_TRADE_NO_USED`` / ``REFUND_FEE_MISMATCH`` (a key reused with other parameters) raise
  :class:`~billing.errors.ConflictError`; ``ORDERNOTEXIST`` / ``REFUNDNOTEXIST`` on a look-up raise
  :class:`~billing.errors.NotFoundError`.
* other refusals are values: the outcome carries a ProviderFailure. ``USERPAYING`` (the buyer is entering the
  PIN) is ``PENDING``: poll :meth:`KessClient.inquire_payment` (every 3 s, up to 45 s), then cancel.

KESS sends no webhooks: every state change is learned by inquiry. The client never retries beyond the one
token renewal; retries belong to the caller (Temporal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import ValidationError

from billing.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderRequestError,
    ProviderServerError,
    ProviderUnavailableError,
    ResponseVerificationError,
    UnsupportedOperationError,
)
from billing.money import Money
from billing.telemetry import provider_call_span
from providers import http
from providers.answers import require_same_object
from providers.base import (
    CancelPayment,
    CancelSubscription,
    CapturePayment,
    ChangeOutcome,
    ChangeSubscription,
    CreatePayment,
    CreateRefund,
    CreateSubscription,
    CustomerAction,
    CustomerActionKind,
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
from providers.kess import transform, wire
from providers.kess.auth import TokenSource
from providers.kess.settings import KessSettings
from providers.kess.timing import LONGEST_WAIT
from providers.parsing import parse_answer

PROVIDER_NAME = "kess"

NATIVE_PAY = "native_pay"
QUICK_PAY = "quick_pay"
JSAPI_PAY = "jsapi_pay"
REFUND = "refund"
PAYMENT_STATUS = "payment_status"
REFUND_STATUS = "refund_status"
CLOSE = "close"

KESS_CAPABILITIES = ProviderCapabilities(
    webhooks=False,
    native_subscriptions=False,
    payment_inquiry=True,
    refund_inquiry=True,
    partial_refund=True,
    multiple_refunds=True,
    manual_capture=False,
    partial_capture=False,
    # Seed 004 documents no close: only BILLING_KESS_SUPPORTS_CLOSE turns it on (per client).
    longest_wait=LONGEST_WAIT,
    cancel_payment=False,
)

#: The engine's name for each API call (span attribute ``billing.operation``).
OPERATIONS = {
    NATIVE_PAY: "create_payment",
    QUICK_PAY: "create_payment",
    JSAPI_PAY: "create_payment",
    PAYMENT_STATUS: "inquire_payment",
    CLOSE: "cancel_payment",
    REFUND: "refund",
    REFUND_STATUS: "inquire_refund",
}

_PAY_OPERATIONS = {
    transform.PayMethod.NATIVE: NATIVE_PAY,
    transform.PayMethod.QUICK: QUICK_PAY,
    transform.PayMethod.JSAPI: JSAPI_PAY,
}

_Data = TypeVar("_Data", bound=wire.KessModel)


@dataclass(frozen=True)
class _Answer:
    """A readable envelope: ``failure`` is None for success, else the definite refusal."""

    data: dict[str, Any] = field(default_factory=dict)
    failure: ProviderFailure | None = None


class KessClient(http.HttpClientOwner):
    """KESS's native, quick and JSAPI pay, refunds, status checks and close as a :class:`PaymentProvider`.

    Build it from settings with :meth:`from_settings`, or explicitly (tests): pass ``http_client`` or
    ``transport`` to route requests anywhere. An injected ``http_client`` is not closed by :meth:`aclose`.
    """

    name = PROVIDER_NAME
    capabilities = KESS_CAPABILITIES

    def __init__(
        self,
        settings: KessSettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not settings.base_url.startswith(("https://", "http://")):
            raise ConfigurationError("must be an http(s) URL", setting="BILLING_KESS_BASE_URL")
        if not settings.user:
            raise ConfigurationError("is not set", setting="BILLING_KESS_USER")
        if settings.password is None or not settings.password.get_secret_value():
            raise ConfigurationError("is not set", setting="BILLING_KESS_PASSWORD")
        if not settings.store_id:
            raise ConfigurationError("is not set", setting="BILLING_KESS_STORE_ID")
        if settings.default_wallet.upper() not in transform.WALLETS:
            raise ConfigurationError("must be WECHAT or ALIPAY", setting="BILLING_KESS_DEFAULT_WALLET")
        if not 0 <= settings.fee_rate <= 100:
            raise ConfigurationError("must be a percentage between 0 and 100", setting="BILLING_KESS_FEE_RATE")
        if settings.quick_pay_timeout <= 45:
            raise ConfigurationError(
                "must be above 45 s: KESS holds quick pay while the buyer enters the PIN",
                setting="BILLING_KESS_QUICK_PAY_TIMEOUT",
            )
        if http_client is not None and transport is not None:
            raise ConfigurationError("give either an http_client or a transport, not both")
        try:
            self._time_zone: tzinfo = ZoneInfo(settings.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError("is not a known time zone", setting="BILLING_KESS_TIME_ZONE") from exc
        self._settings = settings
        self.capabilities = KESS_CAPABILITIES.model_copy(update={"cancel_payment": settings.supports_close})
        self._base_url = settings.base_url.rstrip("/")
        self._store_id = settings.store_id
        self._currency = settings.currency.strip().upper()
        self._default_wallet = settings.default_wallet.upper()
        self._timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self._quick_timeout = httpx.Timeout(settings.quick_pay_timeout, connect=settings.connect_timeout)
        self._paths = {
            NATIVE_PAY: settings.native_pay_path,
            QUICK_PAY: settings.quick_pay_path,
            JSAPI_PAY: settings.jsapi_pay_path,
            REFUND: settings.refund_path,
            PAYMENT_STATUS: settings.payment_status_path,
            REFUND_STATUS: settings.refund_status_path,
            CLOSE: settings.close_path,
        }
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=self._timeout)
        self._tokens = TokenSource(
            http=self._http,
            url=self._url(settings.token_path),
            user=settings.user,
            password=settings.password,
            cache_s=settings.token_reuse_s,
            timeout=self._timeout,
            provider=self.name,
        )

    @classmethod
    def from_settings(
        cls,
        settings: KessSettings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Self:
        """A client from ``BILLING_KESS_*`` settings; a missing or unusable one raises ConfigurationError."""
        return cls(settings or KessSettings(), http_client=http_client, transport=transport)

    def __repr__(self) -> str:
        return f"KessClient(base_url={self._base_url!r}, store_id={self._store_id!r})"

    @property
    def token_fetches(self) -> int:
        """How many tokens were fetched so far (for operators and tests)."""
        return self._tokens.fetches

    # -- payments -------------------------------------------------------------------------------

    async def create_payment(self, request: CreatePayment) -> PaymentOutcome:
        """NATIVE, QUICK or JSAPI pay by ``request.payment_method`` (see :mod:`providers.kess.transform`)."""
        choice = transform.parse_payment_method(request.payment_method, default_wallet=self._default_wallet)
        operation = _PAY_OPERATIONS[choice.method]
        wire_request = transform.pay_request(
            request,
            choice,
            service_id=self._service_id(choice.wallet),
            store_id=self._store_id,
            currency=self._currency,
            fee_rate=self._settings.fee_rate,
            sub_store_id=self._settings.sub_store_id,
            sub_store_name=self._settings.sub_store_name,
            native_auth_code=self._settings.native_auth_code,
            ids_as_text=self._settings.ids_as_text,
            auth_code_as_number=self._settings.auth_code_as_number,
        )
        timeout = self._quick_timeout if choice.method is transform.PayMethod.QUICK else self._timeout
        answer = await self._call(operation, wire_request, timeout=timeout)
        data = parse_answer(wire.PayData, answer.data, provider=self.name, operation=operation)
        self._require_payment_answer(operation, data, request.idempotency_key)
        outcome = self._payment_outcome(
            data,
            idempotency_key=request.idempotency_key,
            requested=request.amount,
            merchant_reference=request.merchant_order_id,
            failure=answer.failure,
            # A refused creation with no stated trade_state: nothing was created.
            default_status=PaymentStatus.DECLINED if answer.failure is not None else PaymentStatus.PENDING,
        )
        if (
            choice.method is transform.PayMethod.QUICK
            and answer.failure is None
            and not data.trade_state
            and (data.result_code or "").strip().upper() == "SUCCESS"
        ):
            # QUICK PAY answers result_code SUCCESS only once the money is taken (seed 004's sample has no
            # trade_state). Without that explicit word the order stays pending and is inquired.
            outcome = outcome.model_copy(update={"status": PaymentStatus.SUCCEEDED})
        window = self._settings.quick_pay_window_s if choice.method is transform.PayMethod.QUICK else None
        outcome = outcome.model_copy(
            update={
                "payable_until": request.requested_at
                + timedelta(seconds=window if window is not None else self._settings.qr_lifetime_s)
            }
        )
        if choice.method is transform.PayMethod.JSAPI and outcome.status is PaymentStatus.PENDING:
            # The wallet app shows the payment sheet to the buyer: nothing to display.
            outcome = outcome.model_copy(
                update={"customer_action": CustomerAction(kind=CustomerActionKind.WALLET_PUSH)}
            )
        return outcome

    async def inquire_payment(self, payment: PaymentRef) -> PaymentOutcome:
        """CHECK PAYMENT STATUS by ``out_trade_no`` (the idempotency key)."""
        wire_request = wire.PaymentStatusRequest(store_id=self._status_store_id(), out_trade_no=payment.idempotency_key)
        answer = await self._call(PAYMENT_STATUS, wire_request)
        if answer.failure is not None:
            self._raise_if_not_found(PAYMENT_STATUS, answer.failure, transform.ORDER_NOT_FOUND, "payment")
            return PaymentOutcome(
                idempotency_key=payment.idempotency_key,
                provider_reference=payment.provider_reference,
                failure=answer.failure,
            )
        data = parse_answer(wire.PayData, answer.data, provider=self.name, operation=PAYMENT_STATUS)
        self._require_payment_answer(
            PAYMENT_STATUS, data, payment.idempotency_key, payment.provider_reference, required=("out_trade_no",)
        )
        return self._payment_outcome(data, idempotency_key=payment.idempotency_key)

    async def cancel_payment(self, request: CancelPayment) -> PaymentOutcome:
        """Close an unpaid order (KESS revokes a quick-pay one). A paid order comes back SUCCEEDED.

        Close never moves money: an order paid before the close answers ``ORDERPAID`` and stays paid.
        Seed 004 documents no close: unless ``BILLING_KESS_SUPPORTS_CLOSE`` is on, this raises
        UnsupportedOperationError and sends nothing.
        """
        if not self._settings.supports_close:
            raise UnsupportedOperationError(
                "KESS documents no close (seed 004); set BILLING_KESS_SUPPORTS_CLOSE where the account has one",
                provider=self.name,
                operation="cancel_payment",
            )
        key = request.payment.idempotency_key
        answer = await self._call(CLOSE, wire.CloseRequest(store_id=self._store_id, out_trade_no=key))
        data = parse_answer(wire.PayData, answer.data, provider=self.name, operation=CLOSE)
        self._require_payment_answer(CLOSE, data, key, request.payment.provider_reference)
        if answer.failure is not None and answer.failure.code not in (transform.ORDER_PAID,):
            # A refusal other than "already paid" says nothing about the payment's state.
            return PaymentOutcome(
                status=transform.payment_status(data.trade_state),
                idempotency_key=key,
                provider_reference=data.transaction_id or request.payment.provider_reference,
                provider_status=data.trade_state,
                failure=answer.failure,
            )
        return self._payment_outcome(
            data, idempotency_key=key, failure=answer.failure, default_status=PaymentStatus.PENDING
        )

    async def capture_payment(self, request: CapturePayment) -> PaymentOutcome:
        raise UnsupportedOperationError("KESS has no manual capture", provider=self.name, operation="capture")

    # -- refunds --------------------------------------------------------------------------------

    async def refund(self, request: CreateRefund) -> RefundOutcome:
        """REFUND TO BUYER; ``out_refund_no`` is the refund's idempotency key. Partial and repeated refunds.

        The order's ``service_id`` is read first with CHECK PAYMENT STATUS (the payment reference carries
        no wallet). If that read does not conclude, the refund request is not sent:
        :class:`~billing.errors.ProviderUnavailableError` (try again), never an unknown refund.
        """
        transform.require_currency(request.amount, self._currency, field="amount")
        status_request = wire.PaymentStatusRequest(
            store_id=self._status_store_id(), out_trade_no=request.payment.idempotency_key
        )
        try:
            status_answer = await self._call(PAYMENT_STATUS, status_request)
            if status_answer.failure is not None:
                return self._refund_refused(request, status_answer.failure)
            order = parse_answer(wire.PayData, status_answer.data, provider=self.name, operation=PAYMENT_STATUS)
            self._require_payment_answer(
                PAYMENT_STATUS, order, request.payment.idempotency_key, required=("out_trade_no",)
            )
        except OutcomeUnknownError as exc:
            raise ProviderUnavailableError(
                f"the payment status read before the refund did not conclude ({exc}); the refund was not sent",
                provider=self.name,
                operation=REFUND,
            ) from exc
        service_id = self._order_service_id(order)
        wire_request = transform.refund_request(
            request, service_id=service_id, store_id=self._store_id, currency=self._currency
        )
        answer = await self._call(REFUND, wire_request, refund=True)
        if answer.failure is not None:
            return self._refund_refused(request, answer.failure)
        data = parse_answer(wire.RefundData, answer.data, provider=self.name, operation=REFUND)
        self._require_refund_answer(
            REFUND, data, request.idempotency_key, request.payment.idempotency_key, request.amount
        )
        return transform.refund_outcome(
            data, idempotency_key=request.idempotency_key, currency=self._currency, requested=request.amount
        )

    async def inquire_refund(self, refund: RefundRef) -> RefundOutcome:
        """CHECK REFUND STATUS by the payment's ``out_trade_no`` (seed 004), naming ``out_refund_no`` too.

        The answer must name our ``out_refund_no``: one about another refund of the order (its latest) is
        no answer about ours (:class:`~billing.errors.AnswerMismatchError`), and the caller asks again.
        """
        wire_request = wire.RefundStatusRequest(
            store_id=self._status_store_id(),
            out_trade_no=refund.payment_idempotency_key,
            out_refund_no=refund.idempotency_key,
        )
        answer = await self._call(REFUND_STATUS, wire_request, refund=True)
        if answer.failure is not None:
            self._raise_if_not_found(REFUND_STATUS, answer.failure, transform.REFUND_NOT_FOUND, "refund")
            return RefundOutcome(
                idempotency_key=refund.idempotency_key,
                provider_reference=refund.provider_reference,
                failure=answer.failure,
            )
        data = parse_answer(wire.RefundData, answer.data, provider=self.name, operation=REFUND_STATUS)
        self._require_refund_answer(
            REFUND_STATUS,
            data,
            refund.idempotency_key,
            refund.payment_idempotency_key,
            refund.amount,
            required=("out_refund_no",),
        )
        return transform.refund_outcome(
            data, idempotency_key=refund.idempotency_key, currency=refund.currency or self._currency
        )

    # -- subscriptions: not offered by KESS -----------------------------------------------------

    def _no_subscriptions(self, operation: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            "KESS has no native subscriptions (the engine invoices each period)",
            provider=self.name,
            operation=operation,
        )

    async def create_subscription(self, request: CreateSubscription) -> SubscriptionOutcome:
        raise self._no_subscriptions("subscription/create")

    async def inquire_subscription(self, subscription: SubscriptionRef) -> SubscriptionOutcome:
        raise self._no_subscriptions("subscription/inquiry")

    async def cancel_subscription(self, request: CancelSubscription) -> SubscriptionOutcome:
        raise self._no_subscriptions("subscription/cancel")

    async def manage_subscription(self, request: ManageSubscription) -> ManagementLink:
        raise self._no_subscriptions("subscription/manage")

    async def change_subscription(self, request: ChangeSubscription) -> ChangeOutcome:
        raise self._no_subscriptions("subscription/change")

    async def inquire_subscription_change(self, request: InquireSubscriptionChange) -> ChangeOutcome:
        raise self._no_subscriptions("subscription/change/inquiry")

    # -- helpers --------------------------------------------------------------------------------

    def _service_id(self, wallet: str) -> int:
        return transform.service_id(
            wallet,
            wechat_service_id=self._settings.wechat_service_id,
            alipay_service_id=self._settings.alipay_service_id,
        )

    def _status_store_id(self) -> int | str:
        """The status checks' ``store_id``: a number, as seed 004 prints it there (``ids_as_text``: text)."""
        return transform.id_to_wire(self._store_id, as_text=self._settings.ids_as_text)

    def _order_service_id(self, order: wire.PayData) -> int:
        if order.service_id is not None and order.service_id.isdigit():
            return int(order.service_id)
        return self._service_id(self._default_wallet)

    def _payment_outcome(
        self,
        data: wire.PayData,
        *,
        idempotency_key: str,
        requested: Money | None = None,
        merchant_reference: str | None = None,
        failure: ProviderFailure | None = None,
        default_status: PaymentStatus = PaymentStatus.PENDING,
    ) -> PaymentOutcome:
        return transform.payment_outcome(
            data,
            idempotency_key=idempotency_key,
            currency=self._currency,
            fee_rate=self._settings.fee_rate,
            amount_includes_fee=self._settings.amount_includes_fee,
            requested=requested,
            merchant_reference=merchant_reference,
            default_status=default_status,
            failure=failure,
            time_zone=self._time_zone,
        )

    def _require_payment_answer(
        self,
        operation: str,
        data: wire.PayData,
        out_trade_no: str,
        transaction_id: str | None = None,
        *,
        required: tuple[str, ...] = (),
    ) -> None:
        asked = {"out_trade_no": out_trade_no, "transaction_id": transaction_id, "currency": self._currency}
        require_same_object(
            provider=self.name,
            operation=operation,
            asked=asked,
            answered=transform.payment_answer_ids(data),
            required=required,
        )

    def _require_refund_answer(
        self,
        operation: str,
        data: wire.RefundData,
        out_refund_no: str,
        out_trade_no: str | None,
        amount: Money | None,
        *,
        required: tuple[str, ...] = (),
    ) -> None:
        asked = {
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "refund_amount": amount,
            "currency": self._currency,
        }
        require_same_object(
            provider=self.name,
            operation=operation,
            asked=asked,
            answered=transform.refund_answer_ids(data, currency=self._currency),
            required=required,
        )

    def _refund_refused(self, request: CreateRefund, failure: ProviderFailure) -> RefundOutcome:
        return RefundOutcome(
            status=RefundStatus.FAILED,
            idempotency_key=request.idempotency_key,
            payment_reference=request.payment.provider_reference,
            amount=request.amount,
            failure=failure,
        )

    def _raise_if_not_found(self, operation: str, failure: ProviderFailure, code: str, what: str) -> None:
        if failure.code == code:
            raise NotFoundError(f"KESS {operation}: no such {what} ({failure.code})", field=what)

    def _url(self, path: str) -> str:
        return f"{self._base_url}/{path.lstrip('/')}"

    # -- transport ------------------------------------------------------------------------------

    async def _call(
        self,
        operation: str,
        request: wire.KessModel,
        *,
        timeout: httpx.Timeout | None = None,
        refund: bool = False,
    ) -> _Answer:
        """Send one request with a bearer token (renewed once on 401) and classify the answer."""
        try:
            body = wire.encode_body(request)
        except (TypeError, ValueError) as exc:
            raise ProviderRequestError(
                "the request could not be serialized", provider=self.name, operation=operation
            ) from exc
        url = self._url(self._paths[operation])
        for attempt in (1, 2):
            token = await self._tokens.token()
            with provider_call_span(self.name, OPERATIONS.get(operation, operation), api=operation) as call:
                response = await self._post(operation, url, body, token, timeout or self._timeout)
                call.http_status(response.status_code)
                if response.status_code == 401 and attempt == 1:
                    self._tokens.invalidate(token)
                    continue
                answer = self._classify(operation, response, refund=refund)
                call.provider_code(answer.failure.code if answer.failure is not None else None)
                return answer
        raise ConfigurationError(  # pragma: no cover - the loop always returns
            "KESS refused a fresh token", setting="BILLING_KESS_USER"
        )

    async def _post(self, operation: str, url: str, body: bytes, token: str, timeout: httpx.Timeout) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        return await http.post(
            self._http, url, provider=self.name, operation=operation, content=body, headers=headers, timeout=timeout
        )

    def _classify(self, operation: str, response: httpx.Response, *, refund: bool) -> _Answer:
        status = response.status_code
        if status == 401:
            raise ConfigurationError("KESS refused a freshly issued token", setting="BILLING_KESS_USER")
        if status >= 500:
            raise ProviderServerError(f"HTTP {status}", provider=self.name, operation=operation, status_code=status)
        try:
            envelope = wire.Envelope.model_validate(wire.decode_body(response.content))
        except (ValueError, ValidationError) as exc:
            raise ResponseVerificationError(
                f"HTTP {status}; the body is not a KESS envelope", provider=self.name, operation=operation
            ) from exc
        data = envelope.data or {}
        error = wire.ErrorData.model_validate(data)
        result = transform.result_class(error.result_code)
        if envelope.success is True and status < 300 and result is transform.ResultClass.SUCCESS:
            return _Answer(data=data)
        code = (error.err_code or "").strip().upper()
        message = error.err_code_des or error.message or envelope.message
        code_class = transform.classify_code(code)
        if envelope.success is True and result is transform.ResultClass.UNKNOWN:
            # A success envelope whose business result is neither SUCCESS nor FAIL: never success.
            raise ProviderServerError(
                f"outcome unknown: HTTP {status}, result_code {error.result_code!r}",
                provider=self.name,
                operation=operation,
                status_code=status,
                code=error.result_code,
            )
        if envelope.success is None or code_class is transform.CodeClass.UNKNOWN:
            raise ProviderServerError(
                f"outcome unknown: HTTP {status}, err_code {code or '(none)'} {message or ''}".rstrip(),
                provider=self.name,
                operation=operation,
                status_code=status,
                code=code or None,
            )
        if code_class is transform.CodeClass.CONFLICT:
            raise ConflictError(
                f"KESS {operation}: the request id was already used with other parameters ({code})",
                field="idempotency_key",
            )
        return _Answer(data=data, failure=transform.provider_failure(code, message, refund=refund))
