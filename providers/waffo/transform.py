"""Pure mapping between the engine's normalized models (providers/base.py) and Waffo's wire models.

The only place that knows Waffo's formats: amounts as major-unit decimal strings, timestamps as
``YYYY-MM-DDTHH:MM:SS.mmmZ``, status words, error-code classes and the period vocabulary.

Status decisions (reference §3.3, §3.7, §4.2, §4.6):

* ``ORDER_CLOSE`` is ``DECLINED`` when Waffo gives a failure reason (``orderFailedReason``: the payment
  was attempted and refused, and ``failure`` says why) and ``CLOSED`` otherwise (cancelled, expired or
  abandoned without a refusal). Both are final and take no money.
* ``CAPTURE_IN_PROGRESS`` is ``PENDING``: the capture was accepted, settlement is asynchronous.
* Every status word not listed maps to pending, never to a failure.

Error codes (reference §2.2): ``"0"`` is success; ``A``/``B``/``C``/``D`` codes are definite refusals,
carried as a :class:`~providers.base.ProviderFailure`; ``E`` codes mean the outcome is unknown, and so
does any code of a class Waffo does not document (the engine never concludes failure from a statement it
cannot read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from billing.errors import CurrencyMismatchError, InputError, MoneyError
from billing.money import Money
from providers.base import (
    BillingInterval,
    CancelledBy,
    CancelPayment,
    CancelSubscription,
    CaptureMode,
    CapturePayment,
    ChangeOutcome,
    ChangeStatus,
    ChangeSubscription,
    CreatePayment,
    CreateRefund,
    CreateSubscription,
    Customer,
    CustomerAction,
    CustomerActionKind,
    FailureCategory,
    InquireSubscriptionChange,
    ManageSubscription,
    PaymentOutcome,
    PaymentRef,
    PaymentStatus,
    ProviderFailure,
    RefundOutcome,
    RefundRef,
    RefundStatus,
    SubscriptionOutcome,
    SubscriptionPayment,
    SubscriptionPlan,
    SubscriptionRef,
    SubscriptionStatus,
)
from providers.parsing import parse_time
from providers.waffo import wire
from providers.waffo.results import (
    MaintenanceWindow,
    MerchantConfig,
    PayMethodAvailability,
    PayMethodConfig,
    SubscriptionUpdateOutcome,
    TopUpOutcome,
    UpdateSubscription,
)

#: Waffo's limit for paymentRequestId, refundRequestId, subscriptionRequest and acquiringOrderId.
MAX_REQUEST_ID_LENGTH = 32
#: Waffo's limit for subscriptionId.
MAX_SUBSCRIPTION_ID_LENGTH = 64

ONE_TIME_PAYMENT = "ONE_TIME_PAYMENT"
SUBSCRIPTION_PRODUCT = "SUBSCRIPTION"
MANUAL_CAPTURE = "manualCapture"
WEB_TERMINAL = "WEB"
#: Subscription create without payMethodType is refused with A0003; this is Waffo's recommended default.
DEFAULT_SUBSCRIPTION_PAY_METHOD_TYPES = "CREDITCARD,DEBITCARD,APPLEPAY,GOOGLEPAY"
#: refundReason is required by Waffo; used when the caller gives none.
DEFAULT_REFUND_REASON = "Refund requested by merchant"
#: goodsName is limited to 64 characters.
MAX_GOODS_NAME_LENGTH = 64


# -- request ids --------------------------------------------------------------------------------


def require_request_id(value: str | None, *, field: str, max_length: int = MAX_REQUEST_ID_LENGTH) -> str:
    """The id itself, or InputError naming ``field`` if it is empty or longer than Waffo accepts."""
    if not value:
        raise InputError("is required", field=field)
    if len(value) > max_length:
        raise InputError(
            f"is {len(value)} characters; Waffo accepts at most {max_length} (use uuid4().hex, not a UUID)",
            field=field,
        )
    return value


def optional_request_id(value: str | None, *, field: str, max_length: int = MAX_REQUEST_ID_LENGTH) -> str | None:
    return None if value is None else require_request_id(value, field=field, max_length=max_length)


def subscription_request_id(subscription: SubscriptionRef) -> str:
    """The engine's request id of ``subscription`` (Waffo's ``subscriptionRequest``): required."""
    return require_request_id(subscription.idempotency_key, field="subscription.idempotency_key")


def waffo_subscription_id(subscription: SubscriptionRef) -> str | None:
    """Waffo's own id of ``subscription`` (``subscriptionId``), when it is known."""
    return optional_request_id(
        subscription.provider_reference, field="subscription.provider_reference", max_length=MAX_SUBSCRIPTION_ID_LENGTH
    )


# -- money --------------------------------------------------------------------------------------


def amount_to_wire(amount: Money) -> str:
    """Major units with the currency's exponent: ``"10.50"``, ``"1000"`` (JPY), ``"1.250"`` (KWD)."""
    return amount.to_decimal_string()


def amount_from_wire(text: str | None, currency: str | None) -> Money | None:
    """Exact Money from Waffo's decimal string, or None when absent or not representable.

    An amount the engine cannot represent exactly (unknown currency, more decimals than the currency has)
    is left out rather than guessed; the statement's status still counts.
    """
    if not text or not currency:
        return None
    try:
        return Money.parse(text, currency)
    except MoneyError:
        return None


# -- timestamps ---------------------------------------------------------------------------------


def format_timestamp(moment: datetime, *, field: str = "requested_at") -> str:
    """``2026-02-28T10:05:58.000Z``: UTC, exactly three fractional digits, ``Z`` suffix."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError("must be timezone-aware (UTC)", field=field)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


# -- error codes --------------------------------------------------------------------------------

SUCCESS_CODE = "0"


class CodeClass(StrEnum):
    SUCCESS = "SUCCESS"  # "0"
    REFUSED = "REFUSED"  # A/B/C/D: a definite statement that the operation was not done
    UNKNOWN = "UNKNOWN"  # E-class, or a code of no documented class: the outcome is unknown


_CATEGORY_BY_PREFIX = {
    "A": FailureCategory.MERCHANT,
    "B": FailureCategory.CUSTOMER,
    "C": FailureCategory.PROVIDER,
    "D": FailureCategory.RISK,
}

#: A-class codes that may pass with time (limits reset, balance is topped up, a new rate is fetched).
#: Every other A-class code is about the request or the merchant contract and fails again unchanged.
_SOFT_MERCHANT_CODES = frozenset({"A0005", "A0012", "A0021", "A0024"})

#: The request id was reused with other parameters (reference §2.3).
IDEMPOTENCY_MISMATCH_CODE = "A0011"
#: The order / subscription / refund does not exist.
NOT_FOUND_CODE = "A0009"
#: The order was already paid, so it cannot be cancelled.
ALREADY_PAID_CODE = "A0013"


def classify_code(code: str | None) -> CodeClass:
    if code is None:
        return CodeClass.UNKNOWN
    text = code.strip()
    if text == SUCCESS_CODE:
        return CodeClass.SUCCESS
    if text[:1] in _CATEGORY_BY_PREFIX:
        return CodeClass.REFUSED
    return CodeClass.UNKNOWN


def failure_category(code: str, *, default: FailureCategory = FailureCategory.PROVIDER) -> FailureCategory:
    return _CATEGORY_BY_PREFIX.get(code.strip()[:1], default)


def is_hard_failure(code: str) -> bool:
    """Whether retrying later is pointless.

    Merchant (A) codes are hard except limits, balance and expired rates; risk (D) rejections are
    hard; customer (B) and channel/system (C) refusals are soft: the same payer may succeed later.
    """
    text = code.strip()
    prefix = text[:1]
    if prefix == "A":
        return text not in _SOFT_MERCHANT_CODES
    return prefix == "D"


def provider_failure(code: str, message: str | None) -> ProviderFailure:
    """A definite API refusal (an A/B/C/D envelope code) as a value."""
    text = code.strip()
    return ProviderFailure(
        code=text,
        message=message or "",
        category=failure_category(text),
        hard=is_hard_failure(text),
    )


def failure_from_reason(reason: wire.FailureReason | None) -> ProviderFailure | None:
    """A failure reason on an order, refund or subscription (channel codes such as ``K024`` included).

    Codes of an API class keep that class's category; other codes are channel-level and count as
    provider refusals, soft.
    """
    if reason is None or reason.is_empty():
        return None
    code = (reason.code or "").strip() or "UNSPECIFIED"
    return ProviderFailure(
        code=code,
        message=reason.description or "",
        category=failure_category(code),
        hard=is_hard_failure(code),
    )


# -- status maps --------------------------------------------------------------------------------

_PAYMENT_STATUS = {
    "PAY_SUCCESS": PaymentStatus.SUCCEEDED,
    "AUTHED_WAITING_CAPTURE": PaymentStatus.AUTHORIZED,
    "PAY_IN_PROGRESS": PaymentStatus.PENDING,
    "AUTHORIZATION_REQUIRED": PaymentStatus.PENDING,
    "CAPTURE_IN_PROGRESS": PaymentStatus.PENDING,
}


def payment_status(order_status: str | None, *, failed: bool = False) -> PaymentStatus:
    """``orderStatus`` → PaymentStatus; ``failed`` says whether a failure reason came with it."""
    if order_status == "ORDER_CLOSE":
        return PaymentStatus.DECLINED if failed else PaymentStatus.CLOSED
    return _PAYMENT_STATUS.get(order_status or "", PaymentStatus.PENDING)


_REFUND_STATUS = {
    "REFUND_IN_PROGRESS": RefundStatus.PENDING,
    "ORDER_PARTIALLY_REFUNDED": RefundStatus.SUCCEEDED,
    "ORDER_FULLY_REFUNDED": RefundStatus.SUCCEEDED,
    "ORDER_REFUND_FAILED": RefundStatus.FAILED,
}


def refund_status(status: str | None) -> RefundStatus:
    """``refundStatus`` → RefundStatus. The partially/fully refunded words both mean this refund succeeded."""
    return _REFUND_STATUS.get(status or "", RefundStatus.PENDING)


_SUBSCRIPTION_STATUS: dict[str, tuple[SubscriptionStatus, CancelledBy | None]] = {
    "AUTHORIZATION_REQUIRED": (SubscriptionStatus.PENDING, None),
    "IN_PROGRESS": (SubscriptionStatus.PENDING, None),
    "ACTIVE": (SubscriptionStatus.ACTIVE, None),
    "CLOSE": (SubscriptionStatus.CLOSED, None),
    "MERCHANT_CANCELLED": (SubscriptionStatus.CANCELLED, CancelledBy.MERCHANT),
    "USER_CANCELLED": (SubscriptionStatus.CANCELLED, CancelledBy.CUSTOMER),
    "CHANNEL_CANCELLED": (SubscriptionStatus.CANCELLED, CancelledBy.PROVIDER),
    "EXPIRED": (SubscriptionStatus.EXPIRED, None),
}


def subscription_status(status: str | None) -> tuple[SubscriptionStatus, CancelledBy | None]:
    """``subscriptionStatus`` → (SubscriptionStatus, who cancelled it when it is CANCELLED)."""
    return _SUBSCRIPTION_STATUS.get(status or "", (SubscriptionStatus.PENDING, None))


_CHANGE_STATUS = {
    "IN_PROGRESS": ChangeStatus.PENDING,
    "AUTHORIZATION_REQUIRED": ChangeStatus.PENDING,
    "SUCCESS": ChangeStatus.SUCCEEDED,
    "CLOSED": ChangeStatus.CLOSED,
    # Subscriptions spell it CLOSE; accept it here too rather than read a final word as pending.
    "CLOSE": ChangeStatus.CLOSED,
}


def change_status(status: str | None) -> ChangeStatus:
    """``subscriptionChangeStatus`` → ChangeStatus."""
    return _CHANGE_STATUS.get(status or "", ChangeStatus.PENDING)


# -- billing periods ----------------------------------------------------------------------------

_PERIOD_TYPE = {
    BillingInterval.DAY: ("DAILY", 1),
    BillingInterval.WEEK: ("WEEKLY", 1),
    BillingInterval.MONTH: ("MONTHLY", 1),
    # Waffo has no YEARLY: a year is twelve months.
    BillingInterval.YEAR: ("MONTHLY", 12),
}


def billing_period(interval: BillingInterval, count: int) -> tuple[str, str]:
    """(periodType, periodInterval): ``(YEAR, 1)`` → ``("MONTHLY", "12")``."""
    period_type, multiplier = _PERIOD_TYPE[interval]
    return period_type, str(count * multiplier)


def product_info(plan: SubscriptionPlan) -> wire.ProductInfo:
    return wire.ProductInfo(**_product_fields(plan))


def change_product_info(plan: SubscriptionPlan) -> wire.ChangeProductInfo:
    return wire.ChangeProductInfo(amount=amount_to_wire(plan.amount), **_product_fields(plan))


def _product_fields(plan: SubscriptionPlan) -> dict[str, str | None]:
    period_type, period_interval = billing_period(plan.interval, plan.interval_count)
    fields: dict[str, str | None] = {
        "description": plan.description,
        "period_type": period_type,
        "period_interval": period_interval,
        "number_of_period": str(plan.periods) if plan.periods is not None else None,
    }
    if plan.trial_periods is not None:
        fields["number_of_trial_period"] = str(plan.trial_periods)
        fields["trial_period_type"] = period_type
        fields["trial_period_interval"] = period_interval
    if plan.trial_amount is not None:
        _same_currency(plan.trial_amount, plan.amount.currency, field="plan.trial_amount")
        fields["trial_period_amount"] = amount_to_wire(plan.trial_amount)
    return fields


def _same_currency(amount: Money, currency: str, *, field: str) -> None:
    if amount.currency != currency:
        raise CurrencyMismatchError(f"must be in {currency} (the plan's currency), not {amount.currency}", field=field)


# -- request pieces -----------------------------------------------------------------------------


def user_info(customer: Customer) -> wire.UserInfo:
    return wire.UserInfo(
        user_id=customer.customer_id,
        user_email=customer.email,
        user_terminal=WEB_TERMINAL,
        user_phone=customer.phone,
        user_country_code=customer.country_code,
        user_first_name=customer.first_name,
        user_last_name=customer.last_name,
    )


def goods_name(description: str) -> str:
    return description[:MAX_GOODS_NAME_LENGTH]


@dataclass(frozen=True)
class GoodsDefaults:
    """The merchant-wide ``goodsInfo`` fields (settings ``BILLING_WAFFO_GOODS_URL`` / ``_APP_NAME``)."""

    goods_url: str | None = None
    app_name: str | None = None


def goods_info(name: str, goods: GoodsDefaults, *, goods_id: str | None = None) -> wire.GoodsInfo:
    """``goodsInfo``: the name, and the merchant's product page and/or app name (Waffo needs one of them)."""
    return wire.GoodsInfo(
        goods_id=goods_id, goods_name=goods_name(name), goods_url=goods.goods_url, app_name=goods.app_name
    )


def required_url(value: str | None, *, field: str) -> str:
    if not value:
        raise InputError("is required by Waffo; give it in the request or in the settings", field=field)
    return value


# -- responses and notifications → outcomes -----------------------------------------------------


def customer_action(action: wire.Action | None) -> CustomerAction | None:
    """What the customer must do, from ``orderAction`` / ``subscriptionAction``.

    Like Waffo's SDKs: the deeplink when the action type is DEEPLINK, otherwise the web URL; a QR or
    payment code from ``actionData`` when there is no URL at all.
    """
    if action is None:
        return None
    data = action.action_data
    expires_at = parse_time(data.payment_expiry_time) if data else None
    if (action.action_type or "").upper() == "DEEPLINK" and action.deeplink_url:
        return CustomerAction(kind=CustomerActionKind.DEEPLINK, url=action.deeplink_url, expires_at=expires_at)
    if action.web_url:
        return CustomerAction(kind=CustomerActionKind.REDIRECT, url=action.web_url, expires_at=expires_at)
    if action.deeplink_url:
        return CustomerAction(kind=CustomerActionKind.DEEPLINK, url=action.deeplink_url, expires_at=expires_at)
    if data and (data.payment_qr or data.payment_code):
        return CustomerAction(
            kind=CustomerActionKind.QR, qr=data.payment_qr or data.payment_code, expires_at=expires_at
        )
    return None


# -- which object an answer is about (see providers/answers.py) ---------------------------------

AnswerIds = dict[str, str | Money | None]


def order_answer_ids(data: wire.OrderData) -> AnswerIds:
    ids: AnswerIds = {
        "paymentRequestId": data.payment_request_id,
        "merchantOrderId": data.merchant_order_id,
        "acquiringOrderId": data.acquiring_order_id,
    }
    if isinstance(data, wire.OrderDetails):
        ids["orderAmount"] = amount_from_wire(data.order_amount, data.order_currency)
    return ids


def refund_answer_ids(data: wire.RefundData, *, currency: str | None) -> AnswerIds:
    ids: AnswerIds = {
        "refundRequestId": data.refund_request_id,
        "acquiringOrderId": data.acquiring_order_id,
        "acquiringRefundOrderId": data.acquiring_refund_order_id,
        "refundAmount": amount_from_wire(data.refund_amount, currency),
    }
    if isinstance(data, wire.RefundDetails):
        ids["paymentRequestId"] = data.orig_payment_request_id
    return ids


def change_answer_ids(data: wire.SubscriptionChangeData) -> AnswerIds:
    return {
        "subscriptionRequest": data.subscription_request,
        "originSubscriptionRequest": data.origin_subscription_request,
    }


def subscription_answer_ids(data: wire.SubscriptionData | wire.SubscriptionCancelData) -> AnswerIds:
    return {"subscriptionRequest": data.subscription_request, "subscriptionId": data.subscription_id}


def payment_outcome(data: wire.OrderData, *, idempotency_key: str | None = None) -> PaymentOutcome:
    """A PaymentOutcome from an order create/cancel/capture response, an inquiry or a notification."""
    failure: ProviderFailure | None = None
    amount = paid_amount = None
    completed_at = None
    subscription_reference = None
    subscription_period = None
    if isinstance(data, wire.OrderDetails):
        failure = failure_from_reason(data.order_failed_reason)
        amount = amount_from_wire(data.order_amount, data.order_currency)
        paid_amount = amount_from_wire(data.final_deal_amount, data.user_currency or data.order_currency)
        if paid_amount is not None and paid_amount == amount:
            paid_amount = None
        completed_at = parse_time(data.order_completed_at)
        if data.subscription_info is not None:
            subscription_reference = data.subscription_info.subscription_id
            subscription_period = _int_or_none(data.subscription_info.period)
    status = payment_status(data.order_status, failed=failure is not None)
    return PaymentOutcome(
        status=status,
        idempotency_key=data.payment_request_id or idempotency_key,
        provider_reference=data.acquiring_order_id,
        merchant_reference=data.merchant_order_id,
        provider_status=data.order_status,
        amount=amount,
        paid_amount=paid_amount,
        customer_action=customer_action(data.order_action),
        failure=failure if status is PaymentStatus.DECLINED else None,
        completed_at=completed_at,
        subscription_reference=subscription_reference,
        subscription_period=subscription_period,
    )


def refund_outcome(
    data: wire.RefundData, *, currency: str | None = None, idempotency_key: str | None = None
) -> RefundOutcome:
    """A RefundOutcome. Waffo's refund messages carry no currency: amounts need the caller's ``currency``."""
    status = refund_status(data.refund_status)
    completed_at = None
    if isinstance(data, wire.RefundDetails):
        completed_at = parse_time(data.refund_completed_at)
    failure = failure_from_reason(data.refund_failed_reason) if status is RefundStatus.FAILED else None
    return RefundOutcome(
        status=status,
        idempotency_key=data.refund_request_id or idempotency_key,
        provider_reference=data.acquiring_refund_order_id,
        payment_reference=data.acquiring_order_id,
        provider_status=data.refund_status,
        amount=amount_from_wire(data.refund_amount, currency),
        remaining_refundable=amount_from_wire(data.remaining_refund_amount, currency),
        failure=failure,
        completed_at=completed_at,
    )


def subscription_payment(detail: wire.PaymentDetail) -> SubscriptionPayment | None:
    period = _int_or_none(detail.period)
    if period is None:
        return None
    return SubscriptionPayment(
        period=period,
        status=payment_status(detail.order_status),
        provider_reference=detail.acquiring_order_id,
        amount=amount_from_wire(detail.order_amount, detail.order_currency),
        updated_at=parse_time(detail.order_updated_at),
    )


def subscription_outcome(data: wire.SubscriptionData, *, idempotency_key: str | None = None) -> SubscriptionOutcome:
    """A SubscriptionOutcome from a create response, an inquiry or a subscription notification."""
    status, cancelled_by = subscription_status(data.subscription_status)
    outcome = SubscriptionOutcome(
        status=status,
        idempotency_key=data.subscription_request or idempotency_key,
        provider_reference=data.subscription_id,
        merchant_reference=data.merchant_subscription_id,
        provider_status=data.subscription_status,
        cancelled_by=cancelled_by,
        customer_action=customer_action(data.subscription_action),
    )
    if not isinstance(data, wire.SubscriptionDetails):
        return outcome
    product = data.product_info
    payments = tuple(payment for payment in map(subscription_payment, data.payment_details) if payment is not None)
    failure = failure_from_reason(data.failed_reason)
    return outcome.model_copy(
        update={
            "amount": amount_from_wire(data.amount, data.currency),
            "current_period": _int_or_none(product.current_period) if product else None,
            "next_payment_at": parse_time(product.next_payment_date_time) if product else None,
            "management_url": data.subscription_management_url,
            "payments": tuple(sorted(payments, key=lambda payment: payment.period)),
            "failure": failure if status is not SubscriptionStatus.ACTIVE else None,
        }
    )


def subscription_cancel_outcome(
    data: wire.SubscriptionCancelData, *, idempotency_key: str | None = None
) -> SubscriptionOutcome:
    word = data.order_status or data.subscription_status
    status, cancelled_by = subscription_status(word)
    return SubscriptionOutcome(
        status=status,
        idempotency_key=data.subscription_request or idempotency_key,
        provider_reference=data.subscription_id,
        provider_status=word,
        cancelled_by=cancelled_by,
    )


def change_outcome(
    data: wire.SubscriptionChangeData,
    *,
    idempotency_key: str | None = None,
    original_idempotency_key: str | None = None,
) -> ChangeOutcome:
    return ChangeOutcome(
        status=change_status(data.subscription_change_status),
        idempotency_key=data.subscription_request or idempotency_key,
        original_idempotency_key=data.origin_subscription_request or original_idempotency_key,
        provider_reference=data.subscription_id,
        merchant_reference=data.merchant_subscription_id,
        provider_status=data.subscription_change_status,
        customer_action=customer_action(data.subscription_action),
    )


# -- domain requests → wire requests ------------------------------------------------------------


def order_create_request(
    request: CreatePayment, *, merchant_id: str, notify_url: str | None, goods: GoodsDefaults
) -> wire.OrderCreateRequest:
    return wire.OrderCreateRequest(
        payment_request_id=require_request_id(request.idempotency_key, field="idempotency_key"),
        merchant_order_id=request.merchant_order_id,
        order_currency=request.amount.currency,
        order_amount=amount_to_wire(request.amount),
        order_description=request.description,
        order_requested_at=format_timestamp(request.requested_at),
        notify_url=required_url(request.notify_url or notify_url, field="notify_url"),
        merchant_info=wire.MerchantInfo(merchant_id=merchant_id),
        user_info=user_info(request.customer),
        payment_info=wire.PaymentInfo(
            product_name=ONE_TIME_PAYMENT,
            pay_method_type=request.payment_method,
            capture_mode=MANUAL_CAPTURE if request.capture_mode is CaptureMode.MANUAL else None,
        ),
        goods_info=goods_info(request.description, goods),
        order_expired_at=(format_timestamp(request.expires_at, field="expires_at") if request.expires_at else None),
        success_redirect_url=request.success_url,
        failed_redirect_url=request.failure_url,
        cancel_redirect_url=request.cancel_url,
    )


def order_inquiry_request(payment: PaymentRef) -> wire.OrderInquiryRequest:
    return wire.OrderInquiryRequest(
        payment_request_id=require_request_id(payment.idempotency_key, field="payment.idempotency_key")
    )


def order_cancel_request(request: CancelPayment, *, merchant_id: str) -> wire.OrderCancelRequest:
    return wire.OrderCancelRequest(
        merchant_id=merchant_id,
        order_requested_at=format_timestamp(request.requested_at),
        payment_request_id=require_request_id(request.payment.idempotency_key, field="payment.idempotency_key"),
    )


def order_capture_request(request: CapturePayment, *, merchant_id: str) -> wire.OrderCaptureRequest:
    require_request_id(request.idempotency_key, field="idempotency_key")
    return wire.OrderCaptureRequest(
        merchant_id=merchant_id,
        capture_requested_at=format_timestamp(request.requested_at),
        capture_amount=amount_to_wire(request.amount),
        payment_request_id=require_request_id(request.payment.idempotency_key, field="payment.idempotency_key"),
        acquiring_order_id=optional_request_id(request.payment.provider_reference, field="payment.provider_reference"),
    )


def order_refund_request(
    request: CreateRefund, *, merchant_id: str, refund_notify_url: str | None
) -> wire.OrderRefundRequest:
    return wire.OrderRefundRequest(
        refund_request_id=require_request_id(request.idempotency_key, field="idempotency_key"),
        acquiring_order_id=require_request_id(request.payment.provider_reference, field="payment.provider_reference"),
        merchant_id=merchant_id,
        requested_at=format_timestamp(request.requested_at),
        refund_amount=amount_to_wire(request.amount),
        refund_reason=request.reason or DEFAULT_REFUND_REASON,
        refund_notify_url=request.notify_url or refund_notify_url,
    )


def refund_inquiry_request(refund: RefundRef) -> wire.RefundInquiryRequest:
    return wire.RefundInquiryRequest(
        refund_request_id=require_request_id(refund.idempotency_key, field="refund.idempotency_key")
    )


def subscription_create_request(
    request: CreateSubscription, *, merchant_id: str, notify_url: str | None, goods: GoodsDefaults
) -> wire.SubscriptionCreateRequest:
    plan = request.plan
    return wire.SubscriptionCreateRequest(
        subscription_request=require_request_id(request.idempotency_key, field="idempotency_key"),
        merchant_subscription_id=request.merchant_subscription_id,
        currency=plan.amount.currency,
        amount=amount_to_wire(plan.amount),
        product_info=product_info(plan),
        merchant_info=wire.MerchantInfo(merchant_id=merchant_id),
        user_info=user_info(request.customer),
        payment_info=wire.PaymentInfo(
            product_name=SUBSCRIPTION_PRODUCT,
            pay_method_type=request.payment_method or DEFAULT_SUBSCRIPTION_PAY_METHOD_TYPES,
        ),
        requested_at=format_timestamp(request.requested_at),
        notify_url=required_url(request.notify_url or notify_url, field="notify_url"),
        goods_info=goods_info(plan.description, goods, goods_id=plan.plan_id),
        success_redirect_url=request.success_url,
        failed_redirect_url=request.failure_url,
        cancel_redirect_url=request.cancel_url,
        subscription_management_url=request.management_url,
        order_expired_at=(format_timestamp(request.expires_at, field="expires_at") if request.expires_at else None),
    )


def subscription_inquiry_request(subscription: SubscriptionRef) -> wire.SubscriptionInquiryRequest:
    return wire.SubscriptionInquiryRequest(
        subscription_request=subscription_request_id(subscription), payment_details=1
    )


def subscription_cancel_request(request: CancelSubscription, *, merchant_id: str) -> wire.SubscriptionCancelRequest:
    subscription_request_id(request.subscription)
    return wire.SubscriptionCancelRequest(
        subscription_id=require_request_id(
            request.subscription.provider_reference,
            field="subscription.provider_reference",
            max_length=MAX_SUBSCRIPTION_ID_LENGTH,
        ),
        merchant_id=merchant_id,
        requested_at=format_timestamp(request.requested_at),
    )


def subscription_manage_request(request: ManageSubscription) -> wire.SubscriptionManageRequest:
    return wire.SubscriptionManageRequest(
        subscription_request=subscription_request_id(request.subscription),
        subscription_id=waffo_subscription_id(request.subscription),
    )


def subscription_change_request(
    request: ChangeSubscription, *, merchant_id: str, notify_url: str | None, goods: GoodsDefaults
) -> wire.SubscriptionChangeRequest:
    plan = request.new_plan
    _same_currency(request.remaining_credit, plan.amount.currency, field="remaining_credit")
    return wire.SubscriptionChangeRequest(
        subscription_request=require_request_id(request.idempotency_key, field="idempotency_key"),
        origin_subscription_request=require_request_id(
            request.original.idempotency_key, field="original.idempotency_key"
        ),
        remaining_amount=amount_to_wire(request.remaining_credit),
        currency=plan.amount.currency,
        requested_at=format_timestamp(request.requested_at),
        notify_url=required_url(request.notify_url or notify_url, field="notify_url"),
        product_info_list=[change_product_info(plan)],
        merchant_info=wire.MerchantInfo(merchant_id=merchant_id),
        user_info=user_info(request.customer),
        payment_info=wire.PaymentInfo(
            product_name=SUBSCRIPTION_PRODUCT,
            pay_method_type=request.payment_method or DEFAULT_SUBSCRIPTION_PAY_METHOD_TYPES,
        ),
        merchant_subscription_id=request.merchant_subscription_id,
        goods_info=goods_info(plan.description, goods, goods_id=plan.plan_id),
        success_redirect_url=request.success_url,
        failed_redirect_url=request.failure_url,
        cancel_redirect_url=request.cancel_url,
        subscription_management_url=request.management_url,
    )


def subscription_change_inquiry_request(
    request: InquireSubscriptionChange,
) -> wire.SubscriptionChangeInquiryRequest:
    return wire.SubscriptionChangeInquiryRequest(
        subscription_request=require_request_id(request.idempotency_key, field="idempotency_key"),
        origin_subscription_request=require_request_id(
            request.original.idempotency_key, field="original.idempotency_key"
        ),
    )


# -- configuration look-ups ---------------------------------------------------------------------


def merchant_config_request(*, merchant_id: str) -> wire.MerchantConfigInquiryRequest:
    return wire.MerchantConfigInquiryRequest(merchant_id=merchant_id)


def pay_method_config_request(*, merchant_id: str) -> wire.PayMethodConfigInquiryRequest:
    return wire.PayMethodConfigInquiryRequest(merchant_id=merchant_id)


def _limits(limits: dict[str, str]) -> dict[str, Money]:
    """Limits keyed by currency; an entry the engine cannot represent exactly is left out."""
    parsed = {currency: amount_from_wire(text, currency) for currency, text in limits.items()}
    return {currency: amount for currency, amount in parsed.items() if amount is not None}


def merchant_config(data: wire.MerchantConfigData) -> MerchantConfig:
    return MerchantConfig(
        merchant_id=data.merchant_id,
        total_daily_limit=_limits(data.total_daily_limit),
        remaining_daily_limit=_limits(data.remaining_daily_limit),
        transaction_limit=_limits(data.transaction_limit),
    )


def pay_method_config(data: wire.PayMethodConfigData) -> PayMethodConfig:
    return PayMethodConfig(
        merchant_id=data.merchant_id,
        pay_methods=tuple(
            PayMethodAvailability(
                product_name=detail.product_name,
                pay_method_name=detail.pay_method_name,
                pay_method_type=detail.pay_method_type,
                country=detail.country,
                currency=detail.currency,
                min_amount=amount_from_wire(detail.order_amount_min, detail.currency),
                max_amount=amount_from_wire(detail.order_amount_max, detail.currency),
                refund_allowed=None if detail.refund_allowed is None else detail.refund_allowed.strip() == "1",
                available=(detail.current_status or "").strip() == "1",
                maintenance_windows=tuple(
                    MaintenanceWindow(start_rule=rule.start_rule, end_rule=rule.end_rule)
                    for rule in detail.fixed_maintenance_rules
                    if rule.start_rule and rule.end_rule
                ),
                maintenance_timezone=detail.fixed_maintenance_timezone,
            )
            for detail in data.pay_method_details
        ),
    )


# -- subscription/update ------------------------------------------------------------------------


def subscription_update_request(request: UpdateSubscription) -> wire.SubscriptionUpdateRequest:
    currency = request.currency
    for name, value in (("amount", request.amount), ("trial_amount", request.trial_amount)):
        if value is not None:
            _same_currency(value, currency, field=name)
    for period, value in request.scheduled_amounts.items():
        _same_currency(value, currency, field=f"scheduled_amounts[{period}]")
    product: wire.UpdateProductInfo | None = None
    if request.trial_amount is not None or request.scheduled_amounts:
        product = wire.UpdateProductInfo(
            trial_period_amount=amount_to_wire(request.trial_amount) if request.trial_amount else None,
            scheduled_amounts=[
                wire.ScheduledAmount(period=str(period), amount=amount_to_wire(value))
                for period, value in sorted(request.scheduled_amounts.items())
            ]
            or None,
        )
    top_up: wire.TopupInfo | None = None
    if request.top_up is not None:
        _same_currency(request.top_up.amount, currency, field="top_up.amount")
        top_up = wire.TopupInfo(
            topup_request=require_request_id(request.top_up.idempotency_key, field="top_up.idempotency_key"),
            topup_amount=amount_to_wire(request.top_up.amount),
            description=request.top_up.description,
        )
    return wire.SubscriptionUpdateRequest(
        subscription_request=subscription_request_id(request.subscription),
        subscription_id=waffo_subscription_id(request.subscription),
        amount=amount_to_wire(request.amount) if request.amount is not None else None,
        product_info=product,
        topup_info=top_up,
    )


def subscription_update_outcome(data: wire.SubscriptionUpdateData, *, currency: str) -> SubscriptionUpdateOutcome:
    top_up = data.topup_info
    return SubscriptionUpdateOutcome(
        subscription_id=data.subscription_id,
        previous_amount=amount_from_wire(data.previous_amount, currency),
        new_amount=amount_from_wire(data.new_amount, currency),
        next_effective_period=_int_or_none(data.next_effective_period),
        top_up=(
            TopUpOutcome(
                idempotency_key=top_up.topup_request,
                provider_reference=top_up.acquiring_order_id,
                amount=amount_from_wire(top_up.topup_amount, currency),
                status=payment_status(top_up.topup_status),
                provider_status=top_up.topup_status,
            )
            if top_up is not None
            else None
        ),
    )
