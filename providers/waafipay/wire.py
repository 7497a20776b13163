"""WaafiPay's wire format: pydantic models in WaafiPay's own spelling (camelCase on the wire).

Every operation is one ``POST <host>/asm`` with the same envelope (reference A2)::

    {"schemaVersion": "1.0", "requestId": "...", "timestamp": "...", "channelName": "WEB",
     "serviceName": "API_PURCHASE", "serviceParams": {...}}

and every answer the same envelope back (reference A3), whatever the outcome, usually on HTTP 200::

    {"schemaVersion": "1.0", "timestamp": "...", "responseId": "...", "responseCode": "2001",
     "errorCode": "0", "responseMsg": "RCS_SUCCESS", "params": {...}}

Requests are built by :mod:`providers.waafipay.transform` and serialized with :func:`dump_request`.
Answers are read leniently, the way WaafiPay actually answers:

* unknown fields are ignored; every field is optional (a missing state reads as "unknown", never as a
  failure);
* ``params`` may be an object, ``{}``, ``[]``, ``null`` or absent: anything but an object reads as empty;
* values are strings, but a JSON number is read as its exact text (JSON is parsed with
  ``parse_float=Decimal``, so no float is ever created);
* older answers echo ``requestId`` and carry ``sessionId`` instead of ``responseId``; both are accepted.

Keys (``apiKey``, ``hppKey``) travel in the body, unsigned (reference A2): they are ``SecretStr`` here and
revealed only when the body is serialized for sending.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, SerializeAsAny, field_serializer
from pydantic.alias_generators import to_camel

from providers.http import json_numbers

SCHEMA_VERSION = "1.0"
CHANNEL_WEB = "WEB"

# -- service names (reference A4) ----------------------------------------------------------------

API_PURCHASE = "API_PURCHASE"
API_CANCELPURCHASE = "API_CANCELPURCHASE"
API_PREAUTHORIZE = "API_PREAUTHORIZE"
API_PREAUTHORIZE_COMMIT = "API_PREAUTHORIZE_COMMIT"
API_PREAUTHORIZE_CANCEL = "API_PREAUTHORIZE_CANCEL"
API_REFUND = "API_REFUND"
HPP_PURCHASE = "HPP_PURCHASE"
HPP_GETRESULTINFO = "HPP_GETRESULTINFO"
HPP_GETTRANINFO = "HPP_GETTRANINFO"
HPP_REFUNDPURCHASE = "HPP_REFUNDPURCHASE"

#: The wallet payment method of API pushes (``MWALLET_ACCOUNT``; WaafiPay compares it case-insensitively).
MWALLET_ACCOUNT = "MWALLET_ACCOUNT"
#: Payment methods the hosted payment page offers.
HPP_PAYMENT_METHODS = frozenset({"MWALLET_ACCOUNT", "CREDIT_CARD", "MWALLET_BANKACCOUNT"})


# -- lenient scalars -----------------------------------------------------------------------------


def _as_text(value: object) -> object:
    """Read JSON numbers (int, or Decimal from ``parse_float=Decimal``) as their exact text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | Decimal):
        return str(value)
    return value


def _params(value: object) -> object:
    """``params``: an object, or empty for ``{}``, ``[]``, ``null``, a string or anything else."""
    return value if isinstance(value, dict) else {}


#: A string that also accepts a JSON number (read as its exact decimal text).
WireText = Annotated[str, BeforeValidator(_as_text)]
#: An identifier WaafiPay documents as a JSON number (``storeId``, ``apiUserId``, HPP ``transactionId``);
#: digits are sent as a number, anything else as text.
WireId = int | str


class WaafiPayModel(BaseModel):
    """Base of every wire model: camelCase aliases, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


# -- request pieces ------------------------------------------------------------------------------


class ApiCredentials(WaafiPayModel):
    """The API credential set, flattened into ``serviceParams`` of every ``API_*`` service."""

    merchant_uid: str
    api_user_id: WireId
    api_key: SecretStr

    @field_serializer("api_key", when_used="json")
    def _reveal_api_key(self, value: SecretStr) -> str:
        return value.get_secret_value()


class HppCredentials(WaafiPayModel):
    """The HPP credential set, flattened into ``serviceParams`` of every ``HPP_*`` service."""

    merchant_uid: str
    store_id: WireId
    hpp_key: SecretStr

    @field_serializer("hpp_key", when_used="json")
    def _reveal_hpp_key(self, value: SecretStr) -> str:
        return value.get_secret_value()


class PayerInfo(WaafiPayModel):
    #: The payer's wallet number, MSISDN with country code and no ``+`` (API pushes).
    account_no: str | None = None
    #: Pre-fills (and locks) the payer's number on the hosted payment page.
    subscription_id: str | None = None


class TransactionInfo(WaafiPayModel):
    reference_id: str
    invoice_id: str | None = None
    #: Major units, sent as a JSON number (seed 001/002 type it Number; see :func:`encode_request`).
    amount: Decimal
    currency: str
    description: str | None = None


# -- requests (serviceParams) --------------------------------------------------------------------


class PurchaseParams(ApiCredentials):
    """``API_PURCHASE`` and ``API_PREAUTHORIZE``: a PIN push to the payer's wallet."""

    payment_method: str = MWALLET_ACCOUNT
    payer_info: PayerInfo
    transaction_info: TransactionInfo


class CancelPurchaseParams(ApiCredentials):
    """``API_CANCELPURCHASE``: reverse a completed purchase."""

    payment_method: str = MWALLET_ACCOUNT
    transaction_id: str
    reference_id: str | None = None
    description: str | None = None


class PreauthorizeActionParams(ApiCredentials):
    """``API_PREAUTHORIZE_COMMIT`` and ``API_PREAUTHORIZE_CANCEL``: capture or release a hold."""

    transaction_id: str
    reference_id: str | None = None
    description: str | None = None


class RefundParams(ApiCredentials):
    """``API_REFUND`` (the SDKs' ``ServiceParamsRefund``)."""

    transaction_id: str
    reference_id: str | None = None
    description: str | None = None
    amount: Decimal


class HppPurchaseParams(HppCredentials):
    """``HPP_PURCHASE``: create a hosted-payment-page order."""

    payment_method: str
    hpp_success_callback_url: str
    hpp_failure_callback_url: str
    hpp_resp_data_format: int
    transaction_info: TransactionInfo
    payer_info: PayerInfo | None = None


class HppResultInfoParams(HppCredentials):
    """``HPP_GETRESULTINFO``: exchange the callback's ``hppResultToken`` for the result."""

    hpp_result_token: str


class HppTranInfoParams(HppCredentials):
    """``HPP_GETTRANINFO``: a transaction by the merchant's ``referenceId``."""

    reference_id: str


class HppRefundParams(HppCredentials):
    """``HPP_REFUNDPURCHASE``: refund (partial allowed) by ``transactionId`` or ``referenceId``."""

    amount: Decimal
    transaction_id: WireId | None = None
    reference_id: str | None = None
    description: str | None = None


class RequestEnvelope(WaafiPayModel):
    schema_version: str = SCHEMA_VERSION
    request_id: str
    timestamp: str
    channel_name: str = CHANNEL_WEB
    service_name: str
    service_params: SerializeAsAny[WaafiPayModel]


def dump_request(request: RequestEnvelope) -> dict[str, Any]:
    """The request as WaafiPay spells it, keys revealed, without unset (None) fields; amounts as Decimal."""
    dumped: dict[str, Any] = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    params = dumped.get("serviceParams")
    for holder in (params, params.get("transactionInfo") if isinstance(params, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("amount"), str):
            holder["amount"] = Decimal(holder["amount"])
    return dumped


def encode_request(request: RequestEnvelope) -> bytes:
    """The exact bytes sent: compact JSON, UTF-8, non-ASCII kept as is, amounts as JSON numbers.

    Seed 001 (API_PURCHASE) and seed 002 (HPP_PURCHASE, HPP_REFUNDPURCHASE) type every amount Number and
    the HPP_PURCHASE example sends ``10``; only the HPP_REFUNDPURCHASE example quotes it (``"10"``). The
    type tables decide: amounts are written as number text (``10.50``), never through a float.
    """
    return json_numbers(dump_request(request)).encode("utf-8")


# -- answers -------------------------------------------------------------------------------------


class ResponseEnvelope(WaafiPayModel):
    schema_version: WireText | None = None
    timestamp: WireText | None = None
    response_id: WireText | None = None
    request_id: WireText | None = None
    response_code: WireText | None = None
    error_code: WireText | None = None
    response_msg: WireText | None = None
    params: Annotated[dict[str, Any], BeforeValidator(_params)] = Field(default_factory=dict)


class PurchaseResult(WaafiPayModel):
    """``params`` of ``API_PURCHASE`` / ``API_PREAUTHORIZE``."""

    state: WireText | None = None
    reference_id: WireText | None = None
    transaction_id: WireText | None = None
    issuer_transaction_id: WireText | None = None
    tx_amount: WireText | None = None
    account_no: WireText | None = None
    account_type: WireText | None = None
    merchant_charges: WireText | None = None
    order_id: WireText | None = None
    issuer_approval_code: WireText | None = None
    description: WireText | None = None


class ActionResult(WaafiPayModel):
    """``params`` of reversals, commits, releases and refunds: ``{description, state, transactionId,
    referenceId}``."""

    description: WireText | None = None
    state: WireText | None = None
    transaction_id: WireText | None = None
    reference_id: WireText | None = None


class HppPurchaseResult(WaafiPayModel):
    """``params`` of ``HPP_PURCHASE`` (2022 sandbox: only hppUrl, hppRequestId and referenceId)."""

    hpp_url: WireText | None = None
    direct_payment_link: WireText | None = None
    order_id: WireText | None = None
    hpp_request_id: WireText | None = None
    reference_id: WireText | None = None


class HppResultInfo(WaafiPayModel):
    """``params`` of ``HPP_GETRESULTINFO``. Card fields are not read (personal data)."""

    state: WireText | None = None
    proc_code: WireText | None = None
    proc_description: WireText | None = None
    reference_id: WireText | None = None
    transaction_id: WireText | None = None
    issuer_transaction_id: WireText | None = None
    tx_amount: WireText | None = None
    invoice_id: WireText | None = None


class TranInfo(WaafiPayModel):
    """``params`` of ``HPP_GETTRANINFO``."""

    status: WireText | None = None
    tran_status_desc: WireText | None = None
    tran_status_id: WireText | None = None
    amount: WireText | None = None
    tran_amount: WireText | None = None
    currency: WireText | None = None
    reference_id: WireText | None = None
    invoice_id: WireText | None = None
    transaction_id: WireText | None = None
    payment_method: WireText | None = None
    description: WireText | None = None
    tran_date: WireText | None = None
