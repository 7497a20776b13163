"""Waffo's wire format: pydantic models in Waffo's own spelling (camelCase on the wire).

Requests are built by :mod:`providers.waffo.transform` and serialized with :func:`dump_request`.
Responses and notifications are parsed leniently, the way Waffo's sandbox actually answers:

* unknown fields are ignored;
* ``null`` collections (``paymentDetails``, ``payMethodDetails``, ``productInfoList``) read as empty;
* ``orderAction`` / ``subscriptionAction`` arrive as JSON-encoded strings (a subscription action may also
  be a bare URL);
* failure reasons (``orderFailedReason``, ``refundFailedReason``, ``failedReason``) arrive as a
  JSON-encoded string, an object, plain text or ``null``;
* merchant-config limits arrive as an object, ``null`` or a JSON-encoded string;
* amounts and counters are decimal strings, but a JSON number is read as its exact text (JSON is parsed
  with ``parse_float=Decimal``, so no float is ever created).

Every scalar on the response side is optional: a missing status reads as "unknown", which maps to
pending, never to a failure.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

# -- lenient scalar and container types ---------------------------------------------------------


def _as_text(value: object) -> object:
    """Read JSON numbers (int, or Decimal from ``parse_float=Decimal``) as their exact text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    return value


def _none_as_empty_list(value: object) -> object:
    return [] if value is None else value


def _json_object(value: object) -> object:
    """An object, or a JSON-encoded string holding one; anything else (incl. bad JSON) reads as None."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value, parse_float=Decimal)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _action(value: object) -> object:
    """An action object, a JSON-encoded one, or a bare URL (seen for ``subscriptionAction``)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("https://", "http://")):
            return {"webUrl": text}
    return _json_object(value)


def _failure_reason(value: object) -> object:
    """A failure reason given as an object, a JSON-encoded object, plain text, or null/empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parsed = _json_object(value)
    if parsed is not None:
        return parsed
    if isinstance(value, str):
        return {"description": value.strip()}
    return None


def _limits(value: object) -> object:
    """Merchant limits keyed by currency: an object, null, or a JSON-encoded object."""
    parsed = _json_object(value)
    if not isinstance(parsed, dict):
        return {}
    return {str(key): _as_text(amount) for key, amount in parsed.items() if amount is not None}


#: A string that also accepts a JSON number (read as its exact decimal text).
WireText = Annotated[str, BeforeValidator(_as_text)]


def _optional_json_object(value: object) -> object:
    return None if value is None else _json_object(value)


class WaffoModel(BaseModel):
    """Base of every wire model: camelCase aliases, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


def dump_request(request: WaffoModel) -> dict[str, Any]:
    """The request as Waffo spells it, without unset (None) fields."""
    return request.model_dump(mode="json", by_alias=True, exclude_none=True)


# -- shared pieces ------------------------------------------------------------------------------


class MerchantInfo(WaffoModel):
    merchant_id: WireText | None = None
    sub_merchant_id: WireText | None = None


class UserInfo(WaffoModel):
    user_id: WireText | None = None
    user_email: str | None = None
    user_terminal: str | None = None
    user_phone: str | None = None
    user_country_code: str | None = None
    user_first_name: str | None = None
    user_last_name: str | None = None


class GoodsInfo(WaffoModel):
    goods_id: WireText | None = None
    goods_name: str | None = None
    goods_category: str | None = None
    goods_url: str | None = None
    app_name: str | None = None
    goods_quantity: int | None = None


class PaymentInfo(WaffoModel):
    product_name: str | None = None
    pay_method_type: str | None = None
    pay_method_name: str | None = None
    capture_mode: str | None = None
    pay_method_properties: str | None = None
    pay_method_response: str | None = None


class ActionData(WaffoModel):
    payment_expiry_time: str | None = None
    payment_qr: str | None = None
    payment_code: str | None = None


class Action(WaffoModel):
    """``orderAction`` / ``subscriptionAction`` after decoding the JSON string."""

    action_type: str | None = None
    web_url: str | None = None
    deeplink_url: str | None = None
    action_data: Annotated[ActionData | None, BeforeValidator(_optional_json_object)] = None


LenientAction = Annotated[Action | None, BeforeValidator(_action)]


class FailureReason(WaffoModel):
    """``{"orderFailedCode": ..., "orderFailedDescription": ...}`` and its refund/subscription kin."""

    code: WireText | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "orderFailedCode", "refundFailedCode", "subscriptionFailedCode", "failedCode", "code"
        ),
    )
    description: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "orderFailedDescription",
            "refundFailedDescription",
            "subscriptionFailedDescription",
            "failedDescription",
            "description",
            "msg",
            "message",
        ),
    )

    def is_empty(self) -> bool:
        return not (self.code or self.description)


LenientFailureReason = Annotated[FailureReason | None, BeforeValidator(_failure_reason)]


class OrderSubscriptionInfo(WaffoModel):
    """``subscriptionInfo`` on a subscription's period charge (order inquiry, PAYMENT_NOTIFICATION)."""

    subscription_id: WireText | None = None
    subscription_request: WireText | None = None
    merchant_request: WireText | None = None
    period: WireText | None = None


# -- envelope -----------------------------------------------------------------------------------


class ResponseEnvelope(WaffoModel):
    """``{"code": "0", "msg": "Success", "data": {...}}``; ``data`` is empty on failure."""

    code: WireText | None = None
    msg: str | None = None
    data: Annotated[dict[str, Any] | None, BeforeValidator(_optional_json_object)] = None


# -- orders -------------------------------------------------------------------------------------


class OrderCreateRequest(WaffoModel):
    payment_request_id: str
    merchant_order_id: str
    order_currency: str
    order_amount: str
    order_description: str
    order_requested_at: str
    notify_url: str
    merchant_info: MerchantInfo
    user_info: UserInfo
    payment_info: PaymentInfo
    goods_info: GoodsInfo | None = None
    order_expired_at: str | None = None
    success_redirect_url: str | None = None
    failed_redirect_url: str | None = None
    cancel_redirect_url: str | None = None


class OrderInquiryRequest(WaffoModel):
    payment_request_id: str | None = None
    acquiring_order_id: str | None = None


class OrderCancelRequest(WaffoModel):
    merchant_id: str
    order_requested_at: str
    payment_request_id: str | None = None
    acquiring_order_id: str | None = None


class OrderCaptureRequest(WaffoModel):
    merchant_id: str
    capture_requested_at: str
    capture_amount: str
    payment_request_id: str | None = None
    acquiring_order_id: str | None = None


class OrderData(WaffoModel):
    """The order part of the create, cancel and capture responses."""

    payment_request_id: WireText | None = None
    merchant_order_id: WireText | None = None
    acquiring_order_id: WireText | None = None
    order_status: str | None = None
    order_action: LenientAction = None


class OrderDetails(OrderData):
    """An order in full: the order inquiry response and the PAYMENT_NOTIFICATION result."""

    order_currency: str | None = None
    order_amount: WireText | None = None
    user_currency: str | None = None
    final_deal_amount: WireText | None = None
    order_description: str | None = None
    merchant_info: MerchantInfo | None = None
    user_info: UserInfo | None = None
    payment_info: PaymentInfo | None = None
    order_requested_at: str | None = None
    order_expired_at: str | None = None
    order_updated_at: str | None = None
    order_completed_at: str | None = None
    refund_expiry_at: str | None = None
    order_failed_reason: LenientFailureReason = None
    subscription_info: OrderSubscriptionInfo | None = None


# -- refunds ------------------------------------------------------------------------------------


class OrderRefundRequest(WaffoModel):
    refund_request_id: str
    acquiring_order_id: str
    merchant_id: str
    requested_at: str
    refund_amount: str
    refund_reason: str
    refund_notify_url: str | None = None


class RefundInquiryRequest(WaffoModel):
    refund_request_id: str | None = None
    acquiring_refund_order_id: str | None = None


class RefundData(WaffoModel):
    """The refund create response."""

    refund_request_id: WireText | None = None
    merchant_refund_order_id: WireText | None = None
    acquiring_order_id: WireText | None = None
    acquiring_refund_order_id: WireText | None = None
    refund_amount: WireText | None = None
    refund_status: str | None = None
    remaining_refund_amount: WireText | None = None
    refund_failed_reason: LenientFailureReason = None


class RefundDetails(RefundData):
    """A refund in full: the refund inquiry response and the REFUND_NOTIFICATION result."""

    orig_payment_request_id: WireText | None = None
    user_currency: str | None = None
    final_deal_amount: WireText | None = None
    refund_reason: str | None = None
    refund_requested_at: str | None = None
    refund_updated_at: str | None = None
    refund_completed_at: str | None = None


# -- subscriptions ------------------------------------------------------------------------------


class ProductInfo(WaffoModel):
    description: str | None = None
    period_type: str | None = None
    period_interval: WireText | None = None
    number_of_period: WireText | None = None
    trial_period_amount: WireText | None = None
    number_of_trial_period: WireText | None = None
    trial_period_type: str | None = None
    trial_period_interval: WireText | None = None
    # response only
    current_period: WireText | None = None
    start_date_time: str | None = None
    end_date_time: str | None = None
    next_payment_date_time: str | None = None


class ChangeProductInfo(ProductInfo):
    """One entry of ``productInfoList`` in a change request: a product plus its per-period ``amount``."""

    amount: WireText | None = None


class PaymentDetail(WaffoModel):
    """One period's charge in ``paymentDetails``."""

    period: WireText | None = None
    acquiring_order_id: WireText | None = None
    order_currency: str | None = None
    order_amount: WireText | None = None
    order_status: str | None = None
    order_updated_at: str | None = None


class SubscriptionCreateRequest(WaffoModel):
    subscription_request: str
    merchant_subscription_id: str
    currency: str
    amount: str
    product_info: ProductInfo
    merchant_info: MerchantInfo
    user_info: UserInfo
    payment_info: PaymentInfo
    requested_at: str
    notify_url: str
    goods_info: GoodsInfo | None = None
    success_redirect_url: str | None = None
    failed_redirect_url: str | None = None
    cancel_redirect_url: str | None = None
    subscription_management_url: str | None = None
    order_expired_at: str | None = None


class SubscriptionInquiryRequest(WaffoModel):
    subscription_request: str | None = None
    subscription_id: str | None = None
    #: 1 includes ``paymentDetails``, 0 (Waffo's default) leaves them out.
    payment_details: int | None = None


class SubscriptionCancelRequest(WaffoModel):
    subscription_id: str
    merchant_id: str
    requested_at: str


class SubscriptionManageRequest(WaffoModel):
    subscription_request: str | None = None
    subscription_id: str | None = None


class SubscriptionData(WaffoModel):
    """The subscription create response; also the base of the full subscription views."""

    subscription_request: WireText | None = None
    merchant_subscription_id: WireText | None = None
    subscription_id: WireText | None = None
    pay_method_subscription_id: WireText | None = None
    subscription_status: str | None = None
    subscription_action: LenientAction = None


class SubscriptionDetails(SubscriptionData):
    """A subscription in full: the inquiry response and the SUBSCRIPTION_STATUS /
    SUBSCRIPTION_PERIOD_CHANGED notification result."""

    currency: str | None = None
    user_currency: str | None = None
    amount: WireText | None = None
    product_info: ProductInfo | None = None
    merchant_info: MerchantInfo | None = None
    user_info: UserInfo | None = None
    payment_info: PaymentInfo | None = None
    requested_at: str | None = None
    updated_at: str | None = None
    failed_reason: LenientFailureReason = None
    subscription_management_url: str | None = None
    payment_details: Annotated[list[PaymentDetail], BeforeValidator(_none_as_empty_list)] = Field(default_factory=list)


class SubscriptionCancelData(WaffoModel):
    """The cancel response. Waffo names the resulting subscription status ``orderStatus``."""

    subscription_request: WireText | None = None
    merchant_subscription_id: WireText | None = None
    subscription_id: WireText | None = None
    order_status: str | None = None
    subscription_status: str | None = None


class SubscriptionManageData(WaffoModel):
    subscription_request: WireText | None = None
    merchant_subscription_id: WireText | None = None
    subscription_id: WireText | None = None
    management_url: str | None = None
    expired_at: str | None = None
    subscription_status: str | None = None


class SubscriptionChangeRequest(WaffoModel):
    subscription_request: str
    origin_subscription_request: str
    remaining_amount: str
    currency: str
    requested_at: str
    notify_url: str
    product_info_list: list[ChangeProductInfo]
    merchant_info: MerchantInfo
    user_info: UserInfo
    payment_info: PaymentInfo
    merchant_subscription_id: str | None = None
    goods_info: GoodsInfo | None = None
    success_redirect_url: str | None = None
    failed_redirect_url: str | None = None
    cancel_redirect_url: str | None = None
    subscription_management_url: str | None = None


class SubscriptionChangeInquiryRequest(WaffoModel):
    subscription_request: str
    origin_subscription_request: str


class SubscriptionChangeData(WaffoModel):
    """The change and change-inquiry responses and the SUBSCRIPTION_CHANGE_NOTIFICATION result."""

    subscription_request: WireText | None = None
    origin_subscription_request: WireText | None = None
    merchant_subscription_id: WireText | None = None
    subscription_id: WireText | None = None
    subscription_change_status: str | None = None
    subscription_action: LenientAction = None
    remaining_amount: WireText | None = None
    currency: str | None = None
    requested_at: str | None = None
    product_info_list: Annotated[list[ChangeProductInfo], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )


class ScheduledAmount(WaffoModel):
    period: WireText | None = None
    amount: WireText | None = None


class UpdateProductInfo(WaffoModel):
    trial_period_amount: str | None = None
    scheduled_amounts: list[ScheduledAmount] | None = None


class TopupInfo(WaffoModel):
    topup_request: str
    topup_amount: str
    description: str | None = None
    order_expired_at: str | None = None


class SubscriptionUpdateRequest(WaffoModel):
    subscription_request: str | None = None
    subscription_id: str | None = None
    amount: str | None = None
    product_info: UpdateProductInfo | None = None
    topup_info: TopupInfo | None = None


class TopupResult(WaffoModel):
    acquiring_order_id: WireText | None = None
    topup_request: WireText | None = None
    topup_amount: WireText | None = None
    topup_status: str | None = None
    topup_action: LenientAction = None


class SubscriptionUpdateData(WaffoModel):
    subscription_id: WireText | None = None
    subscription_request: WireText | None = None
    previous_amount: WireText | None = None
    new_amount: WireText | None = None
    next_effective_period: WireText | None = None
    topup_info: TopupResult | None = None


# -- merchant and pay-method configuration ------------------------------------------------------


class MerchantConfigInquiryRequest(WaffoModel):
    merchant_id: str


class MerchantConfigData(WaffoModel):
    merchant_id: WireText | None = None
    total_daily_limit: Annotated[dict[str, str], BeforeValidator(_limits)] = Field(default_factory=dict)
    remaining_daily_limit: Annotated[dict[str, str], BeforeValidator(_limits)] = Field(default_factory=dict)
    transaction_limit: Annotated[dict[str, str], BeforeValidator(_limits)] = Field(default_factory=dict)


class PayMethodConfigInquiryRequest(WaffoModel):
    merchant_id: str


class MaintenanceRule(WaffoModel):
    start_rule: str | None = None
    end_rule: str | None = None


class PayMethodDetail(WaffoModel):
    product_name: str | None = None
    pay_method_name: str | None = None
    pay_method_type: str | None = None
    country: str | None = None
    currency: str | None = None
    order_amount_min: WireText | None = None
    order_amount_max: WireText | None = None
    refund_allowed: WireText | None = None
    current_status: WireText | None = None
    fixed_maintenance_rules: Annotated[list[MaintenanceRule], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )
    fixed_maintenance_timezone: str | None = None


class PayMethodConfigData(WaffoModel):
    merchant_id: WireText | None = None
    pay_method_details: Annotated[list[PayMethodDetail], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )


# -- notifications ------------------------------------------------------------------------------


class NotificationEnvelope(WaffoModel):
    """``{"eventType": "...", "result": {...}}``; ``result`` is parsed by event type."""

    event_type: str
    result: dict[str, Any]


PAYMENT_NOTIFICATION = "PAYMENT_NOTIFICATION"
REFUND_NOTIFICATION = "REFUND_NOTIFICATION"
SUBSCRIPTION_STATUS_NOTIFICATION = "SUBSCRIPTION_STATUS_NOTIFICATION"
SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION = "SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION"
SUBSCRIPTION_CHANGE_NOTIFICATION = "SUBSCRIPTION_CHANGE_NOTIFICATION"
