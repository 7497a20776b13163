"""Pure mapping between the engine's normalized models (providers/base.py) and KESS's wire models.

The only place that knows KESS's formats: amounts as major-unit JSON numbers, the fee_rate
surcharge, WeChat-style ``trade_state`` words, ``err_code`` classes and the ``payment_method``
convention that selects native, quick or JSAPI pay.

Payment method convention (``CreatePayment.payment_method``):

* ``None``, ``"NATIVE"``, ``"NATIVE:WECHAT"``, ``"NATIVE:ALIPAY"``, ``"WECHAT"``, ``"ALIPAY"``: NATIVE PAY,
  a dynamic QR code the buyer scans (the default wallet is a setting);
* ``"QUICKPAY:<auth_code>"`` or ``"QUICKPAY:<WALLET>:<auth_code>"``: QUICK PAY, the merchant scanned the
  buyer's payment code. Without a wallet it is read from the code (WeChat codes start 10-15, Alipay
  codes 25-30), else the default wallet;
* ``"JSAPI:<auth_code>"`` or ``"JSAPI:<WALLET>:<auth_code>"``: JSAPI PAY inside the wallet app.

Status decisions (reference B3): SUCCESS and REFUND (paid, then refunded) are ``SUCCEEDED``;
NOTPAY, USERPAYING and ACCEPT are ``PENDING``; CLOSED and REVOKED are ``CLOSED``; PAYERROR is
``DECLINED``. Every other word, and a missing one, is ``PENDING``.

Error codes: SYSTEMERROR, BANKERROR, BIZERR_NEED_RETRY, FREQ_LIMIT and codes this module does not know
mean the outcome is unknown (the engine never concludes failure from a statement it cannot read);
OUT_TRADE_NO_USED and REFUND_FEE_MISMATCH are idempotency conflicts; the rest are definite refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from billing.errors import CurrencyMismatchError, InputError, MoneyError
from billing.money import Money
from providers.base import (
    CreatePayment,
    CreateRefund,
    CustomerAction,
    CustomerActionKind,
    FailureCategory,
    PaymentOutcome,
    PaymentStatus,
    ProviderFailure,
    RefundOutcome,
    RefundStatus,
)
from providers.kess import wire
from providers.parsing import parse_time

WECHAT = "WECHAT"
ALIPAY = "ALIPAY"
WALLETS = frozenset({WECHAT, ALIPAY})


class PayMethod(StrEnum):
    NATIVE = "NATIVE"
    QUICK = "QUICKPAY"
    JSAPI = "JSAPI"


@dataclass(frozen=True)
class MethodChoice:
    method: PayMethod
    wallet: str
    auth_code: str | None = None


def wallet_of_auth_code(auth_code: str) -> str | None:
    """WeChat payment codes start with 10-15, Alipay codes with 25-30; None when neither."""
    prefix = auth_code[:2]
    if prefix.isdigit():
        if 10 <= int(prefix) <= 15:
            return WECHAT
        if 25 <= int(prefix) <= 30:
            return ALIPAY
    return None


def parse_payment_method(value: str | None, *, default_wallet: str) -> MethodChoice:
    """The payment method convention above; InputError naming ``payment_method`` otherwise."""
    if value is None or not value.strip():
        return MethodChoice(PayMethod.NATIVE, default_wallet)
    parts = [part.strip() for part in value.strip().split(":")]
    head = parts[0].upper()
    if head in WALLETS and len(parts) == 1:
        return MethodChoice(PayMethod.NATIVE, head)
    if head == PayMethod.NATIVE:
        if len(parts) == 1:
            return MethodChoice(PayMethod.NATIVE, default_wallet)
        if len(parts) == 2 and parts[1].upper() in WALLETS:
            return MethodChoice(PayMethod.NATIVE, parts[1].upper())
    if head in (PayMethod.QUICK, PayMethod.JSAPI):
        method = PayMethod(head)
        if len(parts) == 2 and parts[1]:
            code = parts[1]
            return MethodChoice(method, wallet_of_auth_code(code) or default_wallet, code)
        if len(parts) == 3 and parts[1].upper() in WALLETS and parts[2]:
            return MethodChoice(method, parts[1].upper(), parts[2])
    raise InputError(
        "must be NATIVE[:WECHAT|ALIPAY], QUICKPAY:[WALLET:]<auth_code> or JSAPI:[WALLET:]<auth_code>",
        field="payment_method",
    )


# -- money --------------------------------------------------------------------------------------


def require_currency(amount: Money, currency: str, *, field: str) -> None:
    if amount.currency != currency:
        raise CurrencyMismatchError(f"the KESS store settles in {currency}, not {amount.currency}", field=field)


def amount_to_wire(amount: Money) -> Decimal:
    """Major units, exact: 1050 USD minor -> Decimal("10.50"), sent as the JSON number 10.50."""
    return amount.to_decimal()


def amount_from_wire(value: Decimal | None, currency: str | None) -> Money | None:
    """Exact Money, or None when absent or not representable (the statement's status still counts)."""
    if value is None or not currency:
        return None
    try:
        return Money.from_decimal(value, currency.strip().upper())
    except MoneyError:
        return None


def buyer_total(amount: Money, fee_rate: Decimal) -> Money:
    """What the buyer pays: the amount plus ``fee_rate`` percent, rounded half up to the minor unit."""
    fee = Money.from_decimal(
        (amount.to_decimal() * fee_rate / 100).quantize(Decimal(1).scaleb(-amount.exponent), rounding=ROUND_HALF_UP),
        amount.currency,
    )
    return amount + fee


# -- error codes --------------------------------------------------------------------------------


class CodeClass(StrEnum):
    REFUSED = "REFUSED"  # a definite statement that the operation was not done
    CONFLICT = "CONFLICT"  # the idempotency key was used with other parameters
    UNKNOWN = "UNKNOWN"  # the outcome is unknown: reconcile by inquiry


USERPAYING = "USERPAYING"
ORDER_PAID = "ORDERPAID"
ORDER_NOT_FOUND = "ORDERNOTEXIST"
REFUND_NOT_FOUND = "REFUNDNOTEXIST"
_UNKNOWN_CODES = frozenset({"SYSTEMERROR", "BANKERROR", "BIZERR_NEED_RETRY", "FREQ_LIMIT"})
_CONFLICT_CODES = frozenset({"OUT_TRADE_NO_USED", "REFUND_FEE_MISMATCH"})
#: code -> (category, hard). Hard: the same request will not succeed later.
_REFUSALS: dict[str, tuple[FailureCategory, bool]] = {
    # the buyer
    "USERPAYING": (FailureCategory.CUSTOMER, False),
    "AUTHCODEEXPIRE": (FailureCategory.CUSTOMER, False),
    "AUTH_CODE_INVALID": (FailureCategory.CUSTOMER, True),
    "AUTH_CODE_ERROR": (FailureCategory.CUSTOMER, True),
    "NOTENOUGH": (FailureCategory.CUSTOMER, False),
    "NOTSUPORTCARD": (FailureCategory.CUSTOMER, True),
    "PAYERROR": (FailureCategory.CUSTOMER, False),
    "BUYER_MISMATCH": (FailureCategory.CUSTOMER, True),
    # the order's state
    "ORDERPAID": (FailureCategory.MERCHANT, True),
    "ORDERCLOSED": (FailureCategory.MERCHANT, True),
    "ORDERREVERSED": (FailureCategory.MERCHANT, True),
    "ORDERNOTEXIST": (FailureCategory.MERCHANT, True),
    "REFUNDNOTEXIST": (FailureCategory.MERCHANT, True),
    "TRADE_STATE_ERROR": (FailureCategory.MERCHANT, True),
    "ORDER_NOT_READY": (FailureCategory.PROVIDER, False),
    # our request or the merchant account
    "PARAM_ERROR": (FailureCategory.MERCHANT, True),
    "LACK_PARAMS": (FailureCategory.MERCHANT, True),
    "INVALID_REQUEST": (FailureCategory.MERCHANT, True),
    "NOAUTH": (FailureCategory.MERCHANT, True),
    "SIGNERROR": (FailureCategory.MERCHANT, True),
    "APPID_NOT_EXIST": (FailureCategory.MERCHANT, True),
    "MCHID_NOT_EXIST": (FailureCategory.MERCHANT, True),
    "POST_DATA_EMPTY": (FailureCategory.MERCHANT, True),
    "XML_FORMAT_ERROR": (FailureCategory.MERCHANT, True),
    "REQUIRE_POST_METHOD": (FailureCategory.MERCHANT, True),
    "USER_ACCOUNT_ABNORMAL": (FailureCategory.RISK, True),
}


class ResultClass(StrEnum):
    SUCCESS = "SUCCESS"  # result_code SUCCESS, or absent (the envelope's success then speaks)
    FAIL = "FAIL"  # result_code FAIL: a refusal, classified by its err_code
    UNKNOWN = "UNKNOWN"  # any other word: the outcome is unknown


def result_class(result_code: str | None) -> ResultClass:
    """KESS's ``data.result_code`` (WeChat's business result), which can say FAIL inside ``success: true``."""
    text = (result_code or "").strip().upper()
    if text in ("", "SUCCESS"):
        return ResultClass.SUCCESS
    if text == "FAIL":
        return ResultClass.FAIL
    return ResultClass.UNKNOWN


def classify_code(code: str | None) -> CodeClass:
    text = (code or "").strip().upper()
    if text in _CONFLICT_CODES:
        return CodeClass.CONFLICT
    if text in _REFUSALS:
        return CodeClass.REFUSED
    return CodeClass.UNKNOWN


def provider_failure(code: str, message: str | None, *, refund: bool = False) -> ProviderFailure:
    text = code.strip().upper()
    category, hard = _REFUSALS.get(text, (FailureCategory.PROVIDER, False))
    if refund and text == "NOTENOUGH":
        # For a refund NOTENOUGH is the merchant's balance, not the buyer's.
        category, hard = FailureCategory.MERCHANT, False
    return ProviderFailure(code=text, message=message or "", category=category, hard=hard)


# -- status maps --------------------------------------------------------------------------------

_PAYMENT_STATUS = {
    "SUCCESS": PaymentStatus.SUCCEEDED,
    "REFUND": PaymentStatus.SUCCEEDED,
    "NOTPAY": PaymentStatus.PENDING,
    "USERPAYING": PaymentStatus.PENDING,
    "ACCEPT": PaymentStatus.PENDING,
    "CLOSED": PaymentStatus.CLOSED,
    "REVOKED": PaymentStatus.CLOSED,
    "PAYERROR": PaymentStatus.DECLINED,
}
#: A refusal without a trade_state still states the order's fate for these codes.
_STATUS_BY_CODE = {
    "USERPAYING": PaymentStatus.PENDING,
    "ORDERPAID": PaymentStatus.SUCCEEDED,
    "ORDERCLOSED": PaymentStatus.CLOSED,
    "ORDERREVERSED": PaymentStatus.CLOSED,
    "AUTHCODEEXPIRE": PaymentStatus.DECLINED,
    "AUTH_CODE_INVALID": PaymentStatus.DECLINED,
    "AUTH_CODE_ERROR": PaymentStatus.DECLINED,
    "NOTENOUGH": PaymentStatus.DECLINED,
    "NOTSUPORTCARD": PaymentStatus.DECLINED,
    "PAYERROR": PaymentStatus.DECLINED,
    "BUYER_MISMATCH": PaymentStatus.DECLINED,
}


def payment_status(trade_state: str | None) -> PaymentStatus:
    """``trade_state`` -> PaymentStatus; unknown or missing words are pending."""
    return _PAYMENT_STATUS.get((trade_state or "").strip().upper(), PaymentStatus.PENDING)


_REFUND_STATUS = {
    "SUCCESS": RefundStatus.SUCCEEDED,
    "PROCESSING": RefundStatus.PENDING,
    "CHANGE": RefundStatus.PENDING,
    "REFUNDCLOSE": RefundStatus.FAILED,
}


def refund_status(status: str | None) -> RefundStatus:
    return _REFUND_STATUS.get((status or "").strip().upper(), RefundStatus.PENDING)


# -- requests -----------------------------------------------------------------------------------


def service_id(wallet: str, *, wechat_service_id: int, alipay_service_id: int) -> int:
    return alipay_service_id if wallet == ALIPAY else wechat_service_id


def pay_request(
    request: CreatePayment,
    choice: MethodChoice,
    *,
    service_id: int,
    store_id: str,
    currency: str,
    fee_rate: Decimal,
    sub_store_id: str | None,
    sub_store_name: str | None,
    native_auth_code: str | None = None,
    ids_as_text: bool = False,
    auth_code_as_number: bool = False,
) -> wire.PayRequest:
    """One pay body. Native pay carries ``native_auth_code`` as ``auth_code`` (seed 004's sample has one).

    ``sub_store_id`` goes as a JSON number (seed 004's samples) unless ``ids_as_text``; ``auth_code`` as a
    string unless ``auth_code_as_number`` (see :class:`~providers.kess.settings.KessSettings`)."""
    require_currency(request.amount, currency, field="amount")
    auth_code = choice.auth_code if choice.method is not PayMethod.NATIVE else native_auth_code
    return wire.PayRequest(
        service_id=service_id,
        store_id=store_id,
        sub_store_id=id_to_wire(sub_store_id, as_text=ids_as_text) if sub_store_id is not None else None,
        sub_store_name=sub_store_name,
        amount=amount_to_wire(request.amount),
        fee_rate=fee_rate,
        auth_code=wire.seed_number(auth_code) if auth_code is not None and auth_code_as_number else auth_code,
        out_trade_no=request.idempotency_key,
    )


def id_to_wire(value: str, *, as_text: bool) -> int | str:
    """An id seed 004 prints as a number: that number (:func:`wire.seed_number`), or the text ``as_text``."""
    return value if as_text else wire.seed_number(value)


def refund_request(request: CreateRefund, *, service_id: int, store_id: str, currency: str) -> wire.RefundRequest:
    require_currency(request.amount, currency, field="amount")
    return wire.RefundRequest(
        service_id=service_id,
        store_id=store_id,
        refund_amount=amount_to_wire(request.amount),
        out_trade_no=request.payment.idempotency_key,
        out_refund_no=request.idempotency_key,
        reason=request.reason,
    )


# -- which object an answer is about ------------------------------------------------------------


def payment_answer_ids(data: wire.PayData) -> dict[str, str | Money | None]:
    """What a pay answer, status or close answer says it is about (see providers/answers.py)."""
    return {"out_trade_no": data.out_trade_no, "transaction_id": data.transaction_id, "currency": data.currency}


def refund_answer_ids(data: wire.RefundData, *, currency: str) -> dict[str, str | Money | None]:
    """What a refund answer or refund status says it is about. Only ``refund_amount`` is compared: the
    ``amount`` of CHECK REFUND STATUS may be the order's (seed 004 does not say)."""
    code = (data.currency or currency).strip().upper()
    return {
        "out_trade_no": data.out_trade_no,
        "out_refund_no": data.out_refund_no,
        "refund_amount": amount_from_wire(data.refund_amount, code),
        "currency": data.currency,
    }


# -- responses -> outcomes ----------------------------------------------------------------------


def _amounts(
    data: wire.PayData, *, currency: str, fee_rate: Decimal, amount_includes_fee: bool, requested: Money | None
) -> tuple[Money | None, Money | None]:
    """(merchant amount, buyer total) from a pay answer or status, the request filling gaps."""
    code = (data.currency or currency).strip().upper()
    stated = amount_from_wire(data.amount, code)
    total = amount_from_wire(data.total_amount, code)
    fee = amount_from_wire(data.fee_amount, code)
    if amount_includes_fee:
        total = total or stated
        merchant = total - fee if total is not None and fee is not None else requested
    else:
        merchant = stated or requested
    if total is None and merchant is not None:
        rate = data.fee_rate if data.fee_rate is not None else fee_rate
        total = merchant + fee if fee is not None else buyer_total(merchant, rate)
    return merchant, total


def payment_outcome(
    data: wire.PayData,
    *,
    idempotency_key: str,
    currency: str,
    fee_rate: Decimal,
    amount_includes_fee: bool = False,
    requested: Money | None = None,
    merchant_reference: str | None = None,
    default_status: PaymentStatus = PaymentStatus.PENDING,
    failure: ProviderFailure | None = None,
    time_zone: tzinfo = UTC,
) -> PaymentOutcome:
    """One statement about a payment: a pay answer, a status check or a close answer."""
    if data.trade_state:
        status = payment_status(data.trade_state)
    elif failure is not None:
        status = _STATUS_BY_CODE.get(failure.code, default_status)
    elif data.is_success:
        status = PaymentStatus.SUCCEEDED
    else:
        status = default_status
    if failure is not None and failure.code == USERPAYING:
        failure = None  # the buyer is entering the PIN: not a refusal
    if failure is None and status is PaymentStatus.DECLINED and data.err_code:
        failure = provider_failure(data.err_code, data.message)
    amount, paid = _amounts(
        data, currency=currency, fee_rate=fee_rate, amount_includes_fee=amount_includes_fee, requested=requested
    )
    action = None
    if data.qr_code and status is PaymentStatus.PENDING:
        expires_at = parse_time(data.time_expire, time_zone)
        action = CustomerAction(kind=CustomerActionKind.QR, qr=data.qr_code, expires_at=expires_at)
    return PaymentOutcome(
        status=status,
        idempotency_key=idempotency_key,
        provider_reference=data.transaction_id,
        merchant_reference=merchant_reference,
        provider_status=data.trade_state or (failure.code if failure else None),
        amount=amount,
        paid_amount=paid,
        customer_action=action,
        failure=failure,
        completed_at=parse_time(data.time_end, time_zone) if status is PaymentStatus.SUCCEEDED else None,
    )


def refund_outcome(
    data: wire.RefundData, *, idempotency_key: str, currency: str | None, requested: Money | None = None
) -> RefundOutcome:
    if data.refund_status:
        status = refund_status(data.refund_status)
    elif data.is_success:
        status = RefundStatus.SUCCEEDED
    else:
        status = RefundStatus.PENDING
    code = (data.currency or currency or (requested.currency if requested else "")).strip().upper()
    amount = amount_from_wire(data.refund_amount if data.refund_amount is not None else data.amount, code)
    return RefundOutcome(
        status=status,
        idempotency_key=idempotency_key,
        provider_reference=data.refund_id,
        payment_reference=data.transaction_id,
        provider_status=data.refund_status,
        amount=amount or requested,
        remaining_refundable=amount_from_wire(data.remaining_amount, code),
    )
