"""Wire views of the emulator's state, in Waffo's spelling. Empty collections are JSON null."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from emulators.common.money import format_amount
from emulators.waffo.calendar import period_boundary
from emulators.waffo.models import Order, Refund, Subscription, SubscriptionChange
from emulators.waffo.wire import format_timestamp, json_string, parse_timestamp


def amount_text(value: Decimal, currency: str) -> str:
    """Amounts Waffo computes itself. Integral IDR-style amounts keep the sandbox's "50000" look."""
    text = format_amount(value, currency)
    if currency == "IDR" and value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return text


def checkout_url(base_url: str, order: Order) -> str:
    return f"{base_url.rstrip('/')}/checkout/{order.acquiring_order_id}"


def subscription_checkout_url(base_url: str, subscription: Subscription) -> str:
    return f"{base_url.rstrip('/')}/checkout/subscription/{subscription.subscription_id}"


def subscription_action(base_url: str, subscription: Subscription, action_format: str) -> str:
    """``subscriptionAction``: a JSON-encoded action like ``orderAction`` ("json"), or the bare URL ("url")."""
    url = subscription_checkout_url(base_url, subscription)
    if action_format == "url":
        return url
    return json_string({"actionType": "WEB", "webUrl": url})


def order_action(base_url: str, order: Order) -> str:
    return json_string({"actionType": "WEB", "webUrl": checkout_url(base_url, order)})


def _payment_info(order: Order) -> dict[str, Any] | None:
    info = order.request.get("paymentInfo")
    if not isinstance(info, dict):
        return None
    view = dict(info)
    if order.pay_method_name:
        view["payMethodName"] = order.pay_method_name
    return view


def _with_keys(value: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """An object as the merchant sent it, plus the keys Waffo's order schema always has (JSON null when
    not given): the SDK's AcqOrderGoodsInfo and AcqOrderMerchantUserInfo require them."""
    if not isinstance(value, dict):
        return None
    return {**dict.fromkeys(keys), **value}


ORDER_GOODS_KEYS = ("goodsName", "goodsUrl", "appName")
ORDER_USER_KEYS = ("userId", "userEmail", "userTerminal")


def refund_expiry_at(order: Order, window_days: int) -> str | None:
    if order.completed_at is None or order.status != "PAY_SUCCESS":
        return None
    end = parse_timestamp(order.completed_at) + timedelta(days=window_days)
    return format_timestamp(end.replace(hour=23, minute=59, second=59, microsecond=999000))


def subscription_info(order: Order) -> dict[str, Any] | None:
    if order.subscription_id is None:
        return None
    return {
        "subscriptionId": order.subscription_id,
        "subscriptionRequest": order.subscription_request,
        "merchantRequest": order.subscription_request,
        "period": str(order.period),
    }


def order_view(order: Order, base_url: str, refund_window_days: int) -> dict[str, Any]:
    """order/inquiry data and PAYMENT_NOTIFICATION result."""
    # A Waffo-initiated subscription charge has no merchant ids: the keys stay, null (AcqOrderInquiry
    # requires them).
    view: dict[str, Any] = {
        "paymentRequestId": order.payment_request_id,
        "merchantOrderId": order.merchant_order_id,
    }
    final_deal = order.final_deal_amount if order.final_deal_amount is not None else order.amount
    view.update(
        {
            "acquiringOrderId": order.acquiring_order_id,
            "orderStatus": order.status,
            "orderAction": order_action(base_url, order) if order.subscription_id is None else None,
            "orderCurrency": order.currency,
            "orderAmount": order.amount_text,
            "finalDealAmount": amount_text(final_deal, order.currency),
            "userCurrency": order.request.get("userCurrency") or order.currency,
            "orderDescription": order.description,
            "merchantInfo": order.request.get("merchantInfo"),
            "userInfo": _with_keys(order.request.get("userInfo"), ORDER_USER_KEYS),
            "goodsInfo": _with_keys(order.request.get("goodsInfo"), ORDER_GOODS_KEYS),
            "addressInfo": order.request.get("addressInfo"),
            "paymentInfo": _payment_info(order),
            "orderRequestedAt": order.requested_at,
            "orderExpiredAt": format_timestamp(order.expires_at),
            "orderUpdatedAt": order.updated_at,
            "orderCompletedAt": order.completed_at,
            "refundExpiryAt": refund_expiry_at(order, refund_window_days),
            "cancelRedirectUrl": order.request.get("cancelRedirectUrl"),
            "orderFailedReason": order.failed_reason,
            "extendInfo": order.request.get("extendInfo"),
            "subscriptionInfo": subscription_info(order),
        }
    )
    return view


def order_created_view(order: Order, base_url: str) -> dict[str, Any]:
    return {
        "paymentRequestId": order.payment_request_id,
        "merchantOrderId": order.merchant_order_id,
        "acquiringOrderId": order.acquiring_order_id,
        "orderStatus": order.status,
        "orderAction": order_action(base_url, order),
    }


def order_status_view(order: Order) -> dict[str, Any]:
    """order/cancel and order/capture data."""
    return {
        "paymentRequestId": order.payment_request_id,
        "merchantOrderId": order.merchant_order_id,
        "acquiringOrderId": order.acquiring_order_id,
        "orderStatus": order.status,
    }


def refund_view(refund: Refund, order: Order) -> dict[str, Any]:
    """refund/inquiry data and REFUND_NOTIFICATION result."""
    return {
        "refundRequestId": refund.refund_request_id,
        "merchantRefundOrderId": refund.merchant_refund_order_id,
        "acquiringOrderId": refund.acquiring_order_id,
        "acquiringRefundOrderId": refund.acquiring_refund_order_id,
        "origPaymentRequestId": order.payment_request_id,
        "refundAmount": amount_text(refund.amount, refund.currency),
        "refundStatus": refund.status,
        "remainingRefundAmount": amount_text(order.refundable, order.currency),
        "userCurrency": order.request.get("userCurrency") or order.currency,
        "finalDealAmount": amount_text(refund.amount, refund.currency),
        "refundReason": refund.reason,
        "refundRequestedAt": refund.requested_at,
        "refundUpdatedAt": refund.updated_at,
        "refundCompletedAt": refund.completed_at,
        "refundFailedReason": refund.failed_reason,
        "userInfo": refund.request.get("userInfo"),
        "refundSource": refund.request.get("refundSource") or "MERCHANT",
        "extendInfo": refund.request.get("extendInfo"),
        "subscriptionInfo": subscription_info(order),
    }


def refund_created_view(refund: Refund, order: Order, status: str) -> dict[str, Any]:
    return {
        "refundRequestId": refund.refund_request_id,
        "merchantRefundOrderId": refund.merchant_refund_order_id,
        "acquiringOrderId": refund.acquiring_order_id,
        "acquiringRefundOrderId": refund.acquiring_refund_order_id,
        "refundAmount": amount_text(refund.amount, refund.currency),
        "refundStatus": status,
        "remainingRefundAmount": amount_text(order.refundable, order.currency),
        "refundSource": refund.request.get("refundSource") or "MERCHANT",
    }


def product_info_view(subscription: Subscription) -> dict[str, Any]:
    view = dict(subscription.product_info)
    start = subscription.start
    if start is None:
        view.update({"currentPeriod": None, "startDateTime": None, "endDateTime": None, "nextPaymentDateTime": None})
        return view
    pt, interval = subscription.period_type, subscription.period_interval
    end = period_boundary(start, pt, interval, subscription.number_of_period) if subscription.number_of_period else None
    has_next = subscription.status == "ACTIVE" and (
        subscription.number_of_period is None or subscription.current_period < subscription.number_of_period
    )
    view.update(
        {
            "currentPeriod": str(subscription.current_period),
            "startDateTime": format_timestamp(start),
            "endDateTime": format_timestamp(end) if end else None,
            "nextPaymentDateTime": (
                format_timestamp(period_boundary(start, pt, interval, subscription.current_period))
                if has_next
                else None
            ),
        }
    )
    return view


def payment_details(orders: Iterable[Order]) -> list[dict[str, Any]] | None:
    details = [
        {
            "period": str(order.period),
            "acquiringOrderId": order.acquiring_order_id,
            "orderCurrency": order.currency,
            "orderAmount": order.amount_text,
            "orderStatus": order.status,
            "orderUpdatedAt": order.updated_at,
        }
        for order in orders
    ]
    return details or None


def subscription_view(
    subscription: Subscription, base_url: str, details: list[dict[str, Any]] | None, action_format: str
) -> dict[str, Any]:
    """subscription/inquiry data and SUBSCRIPTION_*_NOTIFICATION result."""
    request = subscription.request
    payment_info = request.get("paymentInfo")
    if isinstance(payment_info, dict) and subscription.pay_method_name:
        payment_info = {**payment_info, "payMethodName": subscription.pay_method_name}
    return {
        "subscriptionRequest": subscription.subscription_request,
        "merchantSubscriptionId": subscription.merchant_subscription_id,
        "subscriptionId": subscription.subscription_id,
        "payMethodSubscriptionId": None,
        "subscriptionStatus": subscription.status,
        "subscriptionAction": subscription_action(base_url, subscription, action_format),
        "currency": subscription.currency,
        "userCurrency": request.get("userCurrency") or subscription.currency,
        "amount": amount_text(subscription.amount, subscription.currency),
        "productInfo": product_info_view(subscription),
        "merchantInfo": request.get("merchantInfo"),
        "userInfo": request.get("userInfo"),
        "goodsInfo": request.get("goodsInfo"),
        "addressInfo": request.get("addressInfo"),
        "paymentInfo": payment_info,
        "requestedAt": subscription.requested_at,
        "updatedAt": subscription.updated_at,
        "failedReason": subscription.failed_reason,
        "subscriptionManagementUrl": request.get("subscriptionManagementUrl"),
        "extendInfo": request.get("extendInfo"),
        "paymentDetails": details,
    }


def subscription_created_view(subscription: Subscription, base_url: str, action_format: str) -> dict[str, Any]:
    return {
        "subscriptionRequest": subscription.subscription_request,
        "merchantSubscriptionId": subscription.merchant_subscription_id,
        "subscriptionId": subscription.subscription_id,
        "payMethodSubscriptionId": None,
        "subscriptionStatus": subscription.status,
        "subscriptionAction": subscription_action(base_url, subscription, action_format),
    }


def change_view(change: SubscriptionChange, new: Subscription, base_url: str, action_format: str) -> dict[str, Any]:
    """subscription/change/inquiry data and SUBSCRIPTION_CHANGE_NOTIFICATION result."""
    request = change.request
    return {
        "originSubscriptionRequest": change.origin_subscription_request,
        "subscriptionRequest": change.subscription_request,
        "merchantSubscriptionId": new.merchant_subscription_id,
        "subscriptionId": new.subscription_id,
        "subscriptionChangeStatus": change.status,
        "subscriptionAction": subscription_action(base_url, new, action_format),
        "remainingAmount": amount_text(change.remaining_amount, change.currency),
        "currency": change.currency,
        "userCurrency": request.get("userCurrency") or change.currency,
        "requestedAt": change.requested_at,
        "orderExpiredAt": format_timestamp(new.expires_at),
        "subscriptionManagementUrl": request.get("subscriptionManagementUrl"),
        "extendInfo": request.get("extendInfo"),
        "productInfoList": request.get("productInfoList"),
        "merchantInfo": request.get("merchantInfo"),
        "userInfo": request.get("userInfo"),
        "goodsInfo": request.get("goodsInfo"),
        "addressInfo": request.get("addressInfo"),
        "paymentInfo": request.get("paymentInfo"),
    }


def change_created_view(
    change: SubscriptionChange, new: Subscription, base_url: str, action_format: str
) -> dict[str, Any]:
    return {
        "originSubscriptionRequest": change.origin_subscription_request,
        "subscriptionRequest": change.subscription_request,
        "merchantSubscriptionId": new.merchant_subscription_id,
        "subscriptionChangeStatus": change.status,
        "subscriptionAction": subscription_action(base_url, new, action_format),
        "subscriptionId": new.subscription_id,
    }
