"""One-time payment orders, captures and refunds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from emulators.waffo import models as m
from emulators.waffo import validation as v
from emulators.waffo import views
from emulators.waffo.errors import WaffoApiError, invalid
from emulators.waffo.wire import failed_reason

if TYPE_CHECKING:
    from emulators.waffo.emulator import WaffoEmulator

# Sandbox error-trigger amounts, compared as decimals (9.1 == 9.10).
MAGIC_AMOUNTS: dict[Decimal, str] = {
    **{Decimal(a): "C0001" for a in ("9.1", "91", "991")},
    **{Decimal(a): "E0001" for a in ("9.2", "92", "992")},
    **{Decimal(a): "C0005" for a in ("9", "90", "990")},
}

DEFAULT_FAIL_CODE = "K024"
DEFAULT_FAIL_DESCRIPTION = "payment failed"
ABANDON_REASON = ("B0003", "user cancelled the payment")
EXPIRY_REASON = ("B0002", "payment timeout")

# The payment method shown after payment when the request only names a method type.
_DEFAULT_METHOD_FOR_TYPE = {
    "CREDITCARD": "CC_VISA",
    "DEBITCARD": "DC_VISA",
    "EWALLET": "DANA",
    "APPLEPAY": "APPLEPAY",
    "GOOGLEPAY": "GOOGLEPAY",
    "VA": "BCA",
    "ONLINE_BANKING": "ONLINE_BANKING",
    "DIGITAL_BANKING": "DIGITAL_BANKING",
    "OTC": "OTC",
}


def require_user_terminal(payload: dict[str, Any], *, strict: bool) -> None:
    if strict:
        v.require_str(payload, "userInfo.userTerminal", 32)
    else:
        v.optional_str(payload, "userInfo.userTerminal", 32)


def magic_code(amount: Decimal) -> str | None:
    return MAGIC_AMOUNTS.get(amount)


def default_pay_method(payment_info: Any) -> str | None:
    if not isinstance(payment_info, dict):
        return None
    name = payment_info.get("payMethodName")
    if isinstance(name, str) and name:
        return name.split(",")[0].strip()
    method_type = payment_info.get("payMethodType")
    if isinstance(method_type, str) and method_type:
        first = method_type.split(",")[0].strip()
        return _DEFAULT_METHOD_FOR_TYPE.get(first, first)
    return None


class StateConflict(Exception):
    """A control (customer) action that does not fit the resource's current state."""


class OrderService:
    def __init__(self, emu: WaffoEmulator) -> None:
        self.emu = emu

    @property
    def _store(self) -> m.Store:
        return self.emu.store

    @property
    def _base_url(self) -> str:
        return self.emu.config.public_base_url

    # -- helpers --------------------------------------------------------------------------------

    def check_merchant_id(self, merchant: m.Merchant, payload: dict[str, Any], path: str) -> None:
        claimed = v.lookup(payload, path)
        if self.emu.config.check_merchant_id and claimed not in (None, "", merchant.merchant_id):
            raise WaffoApiError("A0004", f"{path} does not belong to this API key")

    def check_idempotency(self, kind: str, merchant: m.Merchant, request_id: str, payload: dict[str, Any]) -> bool:
        """True if `request_id` was already used with the same business payload; A0011 if different.

        "Same" compares the whole request except the per-call timestamps (orderRequestedAt,
        requestedAt, captureRequestedAt), which SDKs fill with the current time on every call.
        """
        previous = self._store.fingerprints.get((kind, merchant.merchant_id, request_id))
        if previous is None:
            return False
        if previous != v.business_fingerprint(payload):
            raise WaffoApiError("A0011", f"{request_id} was used with different parameters")
        return True

    def remember(self, kind: str, merchant: m.Merchant, request_id: str, payload: dict[str, Any]) -> None:
        self._store.fingerprints[(kind, merchant.merchant_id, request_id)] = v.business_fingerprint(payload)

    def view(self, order: m.Order) -> dict[str, Any]:
        return views.order_view(order, self._base_url, self.emu.config.refund_window_days)

    def _touch(self, order: m.Order) -> None:
        order.updated_at = self.emu.timestamp()

    def _notify_payment(self, order: m.Order) -> None:
        self.emu.notify(order.merchant_id, order.notify_url, "PAYMENT_NOTIFICATION", self.view(order))

    def find(self, merchant: m.Merchant, payload: dict[str, Any]) -> m.Order:
        """Look an order up by paymentRequestId or acquiringOrderId (A0009 when unknown)."""
        payment_request_id = v.optional_str(payload, "paymentRequestId", v.REQUEST_ID_MAX)
        acquiring_order_id = v.optional_str(payload, "acquiringOrderId", v.REQUEST_ID_MAX)
        if payment_request_id is None and acquiring_order_id is None:
            raise invalid("paymentRequestId", "or acquiringOrderId is required")
        order: m.Order | None = None
        if acquiring_order_id is not None:
            order = self._store.orders.get(acquiring_order_id)
        elif payment_request_id is not None:
            order_id = self._store.order_by_request.get((merchant.merchant_id, payment_request_id))
            order = self._store.orders.get(order_id) if order_id else None
        if order is None or order.merchant_id != merchant.merchant_id:
            raise WaffoApiError("A0009")
        if payment_request_id is not None and order.payment_request_id not in (None, payment_request_id):
            raise WaffoApiError("A0009", "paymentRequestId and acquiringOrderId do not match")
        return order

    def find_any(self, ref: str) -> m.Order | None:
        """Control API lookup: acquiringOrderId, or paymentRequestId of any merchant."""
        order = self._store.orders.get(ref)
        if order is not None:
            return order
        for (_, payment_request_id), order_id in self._store.order_by_request.items():
            if payment_request_id == ref:
                return self._store.orders[order_id]
        return None

    # -- API: order/create ----------------------------------------------------------------------

    def _validate_goods_info(self, payload: dict[str, Any]) -> None:
        """goodsInfo (reference §3.1): goodsName, and goodsUrl or appName ("provide either")."""
        if v.lookup(payload, "goodsInfo") is None and not self.emu.config.require_goods_info:
            return
        v.require_object(payload, "goodsInfo")
        if self.emu.config.require_goods_info:
            v.require_str(payload, "goodsInfo.goodsName", 64)
        else:
            v.optional_str(payload, "goodsInfo.goodsName", 64)
        v.optional_str(payload, "goodsInfo.goodsId", 128)
        goods_url = v.optional_str(payload, "goodsInfo.goodsUrl", 128)
        app_name = v.optional_str(payload, "goodsInfo.appName", 32)
        if self.emu.config.require_goods_info and goods_url is None and app_name is None:
            raise invalid("goodsInfo.goodsUrl", "or goodsInfo.appName is required")

    def create(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        payment_request_id = v.require_str(payload, "paymentRequestId", v.REQUEST_ID_MAX)
        merchant_order_id = v.require_str(payload, "merchantOrderId", 64)
        currency = v.require_currency(payload, "orderCurrency")
        amount = v.require_amount(payload, "orderAmount", currency)
        v.optional_str(payload, "userCurrency", 12)
        description = v.require_str(payload, "orderDescription", 128)
        requested_at = v.require_timestamp(payload, "orderRequestedAt")
        expires_at = v.optional_timestamp(payload, "orderExpiredAt")
        notify_url = v.require_str(payload, "notifyUrl", 256)
        for url_field in ("successRedirectUrl", "failedRedirectUrl", "cancelRedirectUrl"):
            v.optional_str(payload, url_field, 512)
        v.optional_str(payload, "extendInfo", 128)
        v.require_object(payload, "merchantInfo")
        v.require_str(payload, "merchantInfo.merchantId", 64)
        v.require_object(payload, "userInfo")
        v.require_str(payload, "userInfo.userId", 64)
        v.require_str(payload, "userInfo.userEmail", 64)
        require_user_terminal(payload, strict=self.emu.config.require_user_terminal)
        self._validate_goods_info(payload)
        v.require_object(payload, "paymentInfo")
        v.require_str(payload, "paymentInfo.productName")
        v.optional_str(payload, "paymentInfo.payMethodType", 256)
        capture_mode = v.optional_str(payload, "paymentInfo.captureMode", 24)
        self.check_merchant_id(merchant, payload, "merchantInfo.merchantId")

        if self.check_idempotency("order", merchant, payment_request_id, payload):
            order_id = self._store.order_by_request[(merchant.merchant_id, payment_request_id)]
            return views.order_created_view(self._store.orders[order_id], self._base_url)

        magic = magic_code(amount) if self.emu.config.magic_amounts else None
        if magic in ("C0001", "C0005"):
            raise WaffoApiError(magic)

        now = self.emu.now()
        order = m.Order(
            acquiring_order_id=m.new_id("A", now),
            merchant_id=merchant.merchant_id,
            payment_request_id=payment_request_id,
            merchant_order_id=merchant_order_id,
            currency=currency,
            amount=amount,
            amount_text=payload["orderAmount"],
            description=description,
            status=m.PAY_IN_PROGRESS if magic == "E0001" else m.AUTHORIZATION_REQUIRED,
            notify_url=notify_url,
            requested_at=self.emu.timestamp(requested_at),
            expires_at=expires_at or now + timedelta(seconds=self.emu.config.order_expiry_default_s),
            updated_at=self.emu.timestamp(now),
            request=dict(payload),
            manual_capture=(capture_mode or "").lower() == "manualcapture",
        )
        self._store.orders[order.acquiring_order_id] = order
        self._store.order_by_request[(merchant.merchant_id, payment_request_id)] = order.acquiring_order_id
        self.remember("order", merchant, payment_request_id, payload)
        if magic == "E0001":
            raise WaffoApiError("E0001")
        return views.order_created_view(order, self._base_url)

    # -- API: order/inquiry, order/cancel, order/capture ----------------------------------------

    def inquiry(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        return self.view(self.find(merchant, payload))

    def cancel(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        v.require_str(payload, "merchantId", 64)
        v.require_timestamp(payload, "orderRequestedAt")
        self.check_merchant_id(merchant, payload, "merchantId")
        order = self.find(merchant, payload)
        if order.status in (m.PAY_SUCCESS, m.CAPTURE_IN_PROGRESS):
            raise WaffoApiError("A0013")
        if order.status == m.ORDER_CLOSE:
            return views.order_status_view(order)
        if order.subscription_id is not None:
            raise WaffoApiError("A0010", "subscription charges cannot be cancelled")
        was_authorized = order.status == m.AUTHED_WAITING_CAPTURE
        order.status = m.ORDER_CLOSE
        if self.emu.config.cancel_failed_reason is not None:
            order.failed_reason = failed_reason(*self.emu.config.cancel_failed_reason)
        self._touch(order)
        order.completed_at = order.updated_at
        if was_authorized:
            self.emu.record("void", **self._ledger_refs(order, order.amount))
        if self.emu.config.notify_on_merchant_cancel:
            self._notify_payment(order)
        return views.order_status_view(order)

    def capture(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        v.require_timestamp(payload, "captureRequestedAt")
        v.optional_str(payload, "merchantId", 64)
        self.check_merchant_id(merchant, payload, "merchantId")
        order = self.find(merchant, payload)
        capture_amount = v.require_amount(payload, "captureAmount", order.currency)
        if order.capture_amount is not None and order.status in (m.CAPTURE_IN_PROGRESS, m.PAY_SUCCESS):
            if capture_amount != order.capture_amount:
                raise WaffoApiError("A0011", "the order was captured with a different captureAmount")
            return views.order_status_view(order)
        if not order.manual_capture:
            raise WaffoApiError("A0035", "the order was not created with captureMode manualCapture")
        if order.status != m.AUTHED_WAITING_CAPTURE:
            raise WaffoApiError("A0036", f"order is {order.status}, not AUTHED_WAITING_CAPTURE")
        if capture_amount > order.amount:
            raise invalid("captureAmount", "exceeds the authorized amount")
        order.capture_amount = capture_amount
        order.status = m.CAPTURE_IN_PROGRESS
        self._touch(order)
        response = views.order_status_view(order)
        delay = self.emu.config.capture_delay_s
        if delay == 0:
            self.complete_capture(order)
        elif delay is not None:
            self.emu.later(delay, lambda: self.complete_capture(order))
        return response

    def complete_capture(self, order: m.Order) -> None:
        if order.status != m.CAPTURE_IN_PROGRESS or order.capture_amount is None:
            raise StateConflict(f"order is {order.status}, not CAPTURE_IN_PROGRESS")
        captured = order.capture_amount
        order.status = m.PAY_SUCCESS
        order.collected = captured
        order.final_deal_amount = captured
        self._touch(order)
        order.completed_at = order.updated_at
        self.emu.record("capture", **self._ledger_refs(order, captured))
        if captured < order.amount:
            self.emu.record("void", **self._ledger_refs(order, order.amount - captured))
        self._notify_payment(order)

    # -- customer actions (checkout page and control API) ---------------------------------------

    def customer_pay(self, order: m.Order, pay_method_name: str | None = None) -> None:
        if order.status not in m.AWAITING_PAYMENT:
            raise StateConflict(f"order is {order.status}, not awaiting payment")
        order.pay_method_name = pay_method_name or default_pay_method(order.request.get("paymentInfo"))
        self._touch(order)
        if order.manual_capture:
            order.status = m.AUTHED_WAITING_CAPTURE
            self.emu.record("authorization", **self._ledger_refs(order, order.amount))
            if self.emu.config.notify_authorized:
                self._notify_payment(order)
            return
        order.status = m.PAY_SUCCESS
        order.completed_at = order.updated_at
        order.collected = order.amount
        order.final_deal_amount = order.amount
        self.emu.record("charge", **self._ledger_refs(order, order.amount))
        self._notify_payment(order)

    def customer_fail(self, order: m.Order, code: str | None = None, description: str | None = None) -> None:
        self._close(order, code or DEFAULT_FAIL_CODE, description or DEFAULT_FAIL_DESCRIPTION)

    def customer_abandon(self, order: m.Order) -> None:
        self._close(order, *ABANDON_REASON)

    def expire(self, order: m.Order) -> None:
        self._close(order, *EXPIRY_REASON)

    def _close(self, order: m.Order, code: str, description: str) -> None:
        if order.status not in m.AWAITING_PAYMENT:
            raise StateConflict(f"order is {order.status}, not awaiting payment")
        order.status = m.ORDER_CLOSE
        order.failed_reason = failed_reason(code, description)
        self._touch(order)
        order.completed_at = order.updated_at
        self._notify_payment(order)

    def expire_due(self) -> None:
        now = self.emu.now() - timedelta(seconds=self.emu.config.expiry_grace_s)
        for order in list(self._store.orders.values()):
            if order.status in m.AWAITING_PAYMENT and order.expires_at <= now:
                self.expire(order)

    def _ledger_refs(self, order: m.Order, amount: Decimal) -> dict[str, Any]:
        references: dict[str, str | None] = {
            "paymentRequestId": order.payment_request_id,
            "acquiringOrderId": order.acquiring_order_id,
        }
        if order.subscription_id is not None:
            references["subscriptionId"] = order.subscription_id
            references["period"] = str(order.period)
        return {
            "merchant_id": order.merchant_id,
            "amount": amount,
            "currency": order.currency,
            "references": references,
        }

    # -- API: order/refund, refund/inquiry ------------------------------------------------------

    def refund(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        refund_request_id = v.require_str(payload, "refundRequestId", v.REQUEST_ID_MAX)
        acquiring_order_id = v.require_str(payload, "acquiringOrderId", v.REQUEST_ID_MAX)
        merchant_refund_order_id = v.optional_str(payload, "merchantRefundOrderId", 64)
        v.require_str(payload, "merchantId", 64)
        v.require_timestamp(payload, "requestedAt")
        reason = v.require_str(payload, "refundReason", 256)
        refund_notify_url = v.optional_str(payload, "refundNotifyUrl", 256)
        v.optional_str(payload, "extendInfo", 128)
        v.require_str(payload, "refundAmount", 24)
        self.check_merchant_id(merchant, payload, "merchantId")

        if self.check_idempotency("refund", merchant, refund_request_id, payload):
            refund_id = self._store.refund_by_request[(merchant.merchant_id, refund_request_id)]
            existing = self._store.refunds[refund_id]
            original = self._store.orders[existing.acquiring_order_id]
            return views.refund_created_view(existing, original, existing.status)

        order = self._store.orders.get(acquiring_order_id)
        if order is None or order.merchant_id != merchant.merchant_id:
            raise WaffoApiError("A0009")
        amount = v.require_amount(payload, "refundAmount", order.currency)
        if order.status != m.PAY_SUCCESS:
            raise WaffoApiError("A0014", f"order is {order.status}, not PAY_SUCCESS")
        if amount > order.refundable:
            raise WaffoApiError(
                "A0014",
                f"refundAmount exceeds the remaining refundable amount "
                f"{views.amount_text(order.refundable, order.currency)}",
            )
        now = self.emu.now()
        refund = m.Refund(
            acquiring_refund_order_id=m.new_id("R", now),
            refund_request_id=refund_request_id,
            merchant_id=merchant.merchant_id,
            acquiring_order_id=order.acquiring_order_id,
            amount=amount,
            currency=order.currency,
            status=m.REFUND_IN_PROGRESS,
            reason=reason,
            notify_url=refund_notify_url or order.notify_url,
            requested_at=payload["requestedAt"],
            updated_at=self.emu.timestamp(now),
            request=dict(payload),
            merchant_refund_order_id=merchant_refund_order_id,
        )
        order.refund_reserved += amount
        self._store.refunds[refund.acquiring_refund_order_id] = refund
        self._store.refund_by_request[(merchant.merchant_id, refund_request_id)] = refund.acquiring_refund_order_id
        self.remember("refund", merchant, refund_request_id, payload)
        response = views.refund_created_view(refund, order, m.REFUND_IN_PROGRESS)
        delay = self.emu.config.refund_delay_s
        if delay == 0:
            self.complete_refund(refund, succeed=True)
        elif delay is not None:
            self.emu.later(delay, lambda: self.complete_refund(refund, succeed=True))
        return response

    def complete_refund(
        self, refund: m.Refund, *, succeed: bool, code: str | None = None, description: str | None = None
    ) -> None:
        if refund.status != m.REFUND_IN_PROGRESS:
            raise StateConflict(f"refund is {refund.status}, not REFUND_IN_PROGRESS")
        order = self._store.orders[refund.acquiring_order_id]
        refund.updated_at = self.emu.timestamp()
        refund.completed_at = refund.updated_at
        if succeed:
            order.refund_completed += refund.amount
            fully = order.refund_completed >= order.collected
            refund.status = m.ORDER_FULLY_REFUNDED if fully else m.ORDER_PARTIALLY_REFUNDED
            references = self._ledger_refs(order, refund.amount)
            references["references"] = {
                **references["references"],
                "refundRequestId": refund.refund_request_id,
                "acquiringRefundOrderId": refund.acquiring_refund_order_id,
            }
            self.emu.record("refund", **references)
        else:
            order.refund_reserved -= refund.amount
            refund.status = m.ORDER_REFUND_FAILED
            refund.failed_reason = failed_reason(code or "R0001", description or "refund failed")
        self.emu.notify(refund.merchant_id, refund.notify_url, "REFUND_NOTIFICATION", views.refund_view(refund, order))

    def refund_inquiry(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        refund_request_id = v.optional_str(payload, "refundRequestId", v.REQUEST_ID_MAX)
        acquiring_refund_order_id = v.optional_str(payload, "acquiringRefundOrderId", 32)
        if refund_request_id is None and acquiring_refund_order_id is None:
            raise invalid("refundRequestId", "or acquiringRefundOrderId is required")
        refund_id = acquiring_refund_order_id or self._store.refund_by_request.get(
            (merchant.merchant_id, refund_request_id or "")
        )
        refund = self._store.refunds.get(refund_id or "")
        if refund is None or refund.merchant_id != merchant.merchant_id:
            raise WaffoApiError("A0009", "refund does not exist")
        return views.refund_view(refund, self._store.orders[refund.acquiring_order_id])

    def find_refund_any(self, ref: str) -> m.Refund | None:
        refund = self._store.refunds.get(ref)
        if refund is not None:
            return refund
        for (_, refund_request_id), refund_id in self._store.refund_by_request.items():
            if refund_request_id == ref:
                return self._store.refunds[refund_id]
        return None

    # -- subscription charges -------------------------------------------------------------------

    def create_subscription_charge(
        self,
        subscription: m.Subscription,
        period: int,
        amount: Decimal,
        *,
        succeed: bool,
        code: str | None = None,
        description: str | None = None,
        period_charge: bool = True,
    ) -> m.Order:
        """A Waffo-initiated charge for one subscription period, already final. A top-up
        (``period_charge=False``) is not listed in the subscription's ``paymentDetails``."""
        now = self.emu.now()
        request = subscription.request
        payment_info = request.get("paymentInfo") if isinstance(request.get("paymentInfo"), dict) else {}
        order = m.Order(
            acquiring_order_id=m.new_id("A", now),
            merchant_id=subscription.merchant_id,
            payment_request_id=None,
            merchant_order_id=None,
            currency=subscription.currency,
            amount=amount,
            amount_text=views.amount_text(amount, subscription.currency),
            description=str(subscription.product_info.get("description") or ""),
            status=m.PAY_SUCCESS if succeed else m.ORDER_CLOSE,
            notify_url=subscription.notify_url,
            requested_at=self.emu.timestamp(now),
            expires_at=now,
            updated_at=self.emu.timestamp(now),
            request={
                "userCurrency": request.get("userCurrency"),
                "merchantInfo": request.get("merchantInfo"),
                "userInfo": request.get("userInfo"),
                "goodsInfo": request.get("goodsInfo"),
                "addressInfo": request.get("addressInfo"),
                "paymentInfo": {
                    "productName": (payment_info or {}).get("productName") or "SUBSCRIPTION",
                    "payMethodType": (payment_info or {}).get("payMethodType"),
                },
            },
            completed_at=self.emu.timestamp(now),
            pay_method_name=subscription.pay_method_name,
            subscription_id=subscription.subscription_id,
            subscription_request=subscription.subscription_request,
            period=period,
        )
        if succeed:
            order.collected = amount
            order.final_deal_amount = amount
        else:
            order.failed_reason = failed_reason(code or DEFAULT_FAIL_CODE, description or DEFAULT_FAIL_DESCRIPTION)
        self._store.orders[order.acquiring_order_id] = order
        if period_charge:
            subscription.charge_order_ids.append(order.acquiring_order_id)
        if succeed and amount > 0:
            self.emu.record("charge", **self._ledger_refs(order, amount))
        self._notify_payment(order)
        return order
