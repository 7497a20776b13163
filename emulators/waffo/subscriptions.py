"""Subscriptions: creation, first payment, renewals, cancel, manage, change and update."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from emulators.waffo import models as m
from emulators.waffo import validation as v
from emulators.waffo import views
from emulators.waffo.errors import WaffoApiError, invalid
from emulators.waffo.orders import (
    ABANDON_REASON,
    DEFAULT_FAIL_CODE,
    EXPIRY_REASON,
    StateConflict,
    default_pay_method,
    magic_code,
    require_user_terminal,
)
from emulators.waffo.wire import failed_reason

if TYPE_CHECKING:
    from emulators.waffo.emulator import WaffoEmulator

SUBSCRIPTION_ID_MAX = 64


class SubscriptionService:
    def __init__(self, emu: WaffoEmulator) -> None:
        self.emu = emu

    @property
    def _store(self) -> m.Store:
        return self.emu.store

    @property
    def _action_format(self) -> str:
        return self.emu.config.subscription_action_format

    @property
    def _base_url(self) -> str:
        return self.emu.config.public_base_url

    # -- helpers --------------------------------------------------------------------------------

    def details(self, subscription: m.Subscription) -> list[dict[str, Any]] | None:
        return views.payment_details(self._store.orders[oid] for oid in subscription.charge_order_ids)

    def view(self, subscription: m.Subscription, *, with_details: bool = True) -> dict[str, Any]:
        details = self.details(subscription) if with_details else None
        return views.subscription_view(subscription, self._base_url, details, self._action_format)

    def _touch(self, subscription: m.Subscription) -> None:
        subscription.updated_at = self.emu.timestamp()

    def _notify(self, subscription: m.Subscription, event_type: str) -> None:
        self.emu.notify(subscription.merchant_id, subscription.notify_url, event_type, self.view(subscription))

    def _notify_status(self, subscription: m.Subscription) -> None:
        self._notify(subscription, "SUBSCRIPTION_STATUS_NOTIFICATION")

    def find(self, merchant: m.Merchant, payload: dict[str, Any]) -> m.Subscription:
        subscription_id = v.optional_str(payload, "subscriptionId", SUBSCRIPTION_ID_MAX)
        subscription_request = v.optional_str(payload, "subscriptionRequest", v.REQUEST_ID_MAX)
        if subscription_id is None and subscription_request is None:
            raise invalid("subscriptionId", "or subscriptionRequest is required")
        if subscription_id is not None:
            subscription = self._store.subscriptions.get(subscription_id)
        else:
            key = (merchant.merchant_id, subscription_request or "")
            subscription = self._store.subscriptions.get(self._store.subscription_by_request.get(key, ""))
        if subscription is None or subscription.merchant_id != merchant.merchant_id:
            raise WaffoApiError("A0009", "subscription does not exist")
        return subscription

    def find_any(self, ref: str) -> m.Subscription | None:
        subscription = self._store.subscriptions.get(ref)
        if subscription is not None:
            return subscription
        for (_, request_id), subscription_id in self._store.subscription_by_request.items():
            if request_id == ref:
                return self._store.subscriptions[subscription_id]
        return None

    def _validate_product(self, payload: dict[str, Any], prefix: str, currency: str) -> dict[str, Any]:
        v.require_object(payload, prefix)
        v.require_str(payload, f"{prefix}.description", 128)
        v.require_period_type(payload, f"{prefix}.periodType")
        v.require_count(payload, f"{prefix}.periodInterval")
        v.optional_count(payload, f"{prefix}.numberOfPeriod")
        v.optional_amount(payload, f"{prefix}.trialPeriodAmount", currency)
        v.optional_count(payload, f"{prefix}.numberOfTrialPeriod")
        if v.lookup(payload, f"{prefix}.trialPeriodType") not in (None, ""):
            v.require_period_type(payload, f"{prefix}.trialPeriodType")
        v.optional_count(payload, f"{prefix}.trialPeriodInterval")
        self._scheduled_amounts(payload, f"{prefix}.scheduledAmounts", currency)
        return dict(v.lookup(payload, prefix))

    def _scheduled_amounts(self, payload: dict[str, Any], path: str, currency: str) -> dict[int, Decimal]:
        value = v.lookup(payload, path)
        if value is None:
            return {}
        if not isinstance(value, list):
            raise invalid(path, "must be a list")
        out: dict[int, Decimal] = {}
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise invalid(f"{path}[{index}]", "must be an object")
            period = v.require_count(item, "period")
            out[period] = v.require_amount(item, "amount", currency, allow_zero=True)
        return out

    def _new_subscription(
        self,
        merchant: m.Merchant,
        payload: dict[str, Any],
        *,
        subscription_request: str,
        currency: str,
        amount: Decimal,
        product_info: dict[str, Any],
        status: str,
    ) -> m.Subscription:
        now = self.emu.now()
        expires_at = v.optional_timestamp(payload, "orderExpiredAt")
        trial_amount = v.optional_amount(product_info, "trialPeriodAmount", currency)
        subscription = m.Subscription(
            subscription_id=m.new_id("SC", now),
            subscription_request=subscription_request,
            merchant_subscription_id=v.optional_str(payload, "merchantSubscriptionId", 64),
            merchant_id=merchant.merchant_id,
            currency=currency,
            amount=amount,
            status=status,
            notify_url=payload["notifyUrl"],
            product_info=product_info,
            period_type=product_info["periodType"],
            period_interval=int(product_info["periodInterval"]),
            number_of_period=v.optional_count(product_info, "numberOfPeriod"),
            requested_at=payload["requestedAt"],
            updated_at=self.emu.timestamp(now),
            expires_at=expires_at or now + timedelta(seconds=self.emu.config.subscription_expiry_default_s),
            request=dict(payload),
            trial_amount=trial_amount,
            trial_periods=(v.optional_count(product_info, "numberOfTrialPeriod") or 0) if trial_amount else 0,
            scheduled_amounts=self._scheduled_amounts(product_info, "scheduledAmounts", currency),
        )
        self._store.subscriptions[subscription.subscription_id] = subscription
        self._store.subscription_by_request[(merchant.merchant_id, subscription_request)] = subscription.subscription_id
        return subscription

    def _validate_parties(self, merchant: m.Merchant, payload: dict[str, Any]) -> None:
        v.require_object(payload, "merchantInfo")
        v.require_str(payload, "merchantInfo.merchantId", 64)
        v.require_object(payload, "userInfo")
        v.require_str(payload, "userInfo.userId", 64)
        v.require_str(payload, "userInfo.userEmail", 64)
        v.require_object(payload, "paymentInfo")
        v.require_str(payload, "paymentInfo.productName")
        v.require_timestamp(payload, "requestedAt")
        v.optional_timestamp(payload, "orderExpiredAt")
        v.require_str(payload, "notifyUrl", 256)
        for url_field in ("successRedirectUrl", "failedRedirectUrl", "cancelRedirectUrl"):
            v.optional_str(payload, url_field, 512)
        v.optional_str(payload, "subscriptionManagementUrl", 256)
        v.optional_str(payload, "extendInfo", 256)
        self.emu.orders.check_merchant_id(merchant, payload, "merchantInfo.merchantId")

    # -- API: subscription/create, inquiry, cancel, manage, update ------------------------------

    def create(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        subscription_request = v.require_str(payload, "subscriptionRequest", v.REQUEST_ID_MAX)
        v.require_str(payload, "merchantSubscriptionId", 64)
        currency = v.require_currency(payload, "currency")
        amount = v.require_amount(payload, "amount", currency)
        v.optional_str(payload, "userCurrency", 12)
        product_info = self._validate_product(payload, "productInfo", currency)
        v.require_str(payload, "paymentInfo.payMethodType", 256)
        require_user_terminal(payload, strict=self.emu.config.require_user_terminal)
        self._validate_parties(merchant, payload)

        orders = self.emu.orders
        if orders.check_idempotency("subscription", merchant, subscription_request, payload):
            key = (merchant.merchant_id, subscription_request)
            existing = self._store.subscriptions[self._store.subscription_by_request[key]]
            return views.subscription_created_view(existing, self._base_url, self._action_format)

        magic = magic_code(amount) if self.emu.config.magic_amounts else None
        if magic in ("C0001", "C0005"):
            raise WaffoApiError(magic)
        subscription = self._new_subscription(
            merchant,
            payload,
            subscription_request=subscription_request,
            currency=currency,
            amount=amount,
            product_info=product_info,
            status=m.SUB_IN_PROGRESS if magic == "E0001" else m.SUB_AUTHORIZATION_REQUIRED,
        )
        orders.remember("subscription", merchant, subscription_request, payload)
        if magic == "E0001":
            raise WaffoApiError("E0001")
        return views.subscription_created_view(subscription, self._base_url, self._action_format)

    def inquiry(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        subscription = self.find(merchant, payload)
        flag = payload.get("paymentDetails", 0)
        if flag not in (0, 1, "0", "1", None):
            raise invalid("paymentDetails", "must be 0 or 1")
        return self.view(subscription, with_details=str(flag) == "1")

    def cancel(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        v.require_str(payload, "merchantId", 64)
        v.require_timestamp(payload, "requestedAt")
        self.emu.orders.check_merchant_id(merchant, payload, "merchantId")
        subscription = self.find(merchant, payload)
        if subscription.status == m.SUB_ACTIVE:
            subscription.status = m.SUB_MERCHANT_CANCELLED
            self._touch(subscription)
            self._notify_status(subscription)
        elif subscription.status != m.SUB_MERCHANT_CANCELLED:
            raise WaffoApiError("A0010", f"subscription is {subscription.status}, not ACTIVE")
        return {
            "merchantSubscriptionId": subscription.merchant_subscription_id,
            "subscriptionRequest": subscription.subscription_request,
            "subscriptionId": subscription.subscription_id,
            "orderStatus": subscription.status,
        }

    def manage(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        subscription = self.find(merchant, payload)
        if subscription.status != m.SUB_ACTIVE:
            raise WaffoApiError("A0010", f"subscription is {subscription.status}, not ACTIVE")
        expires = self.emu.now() + timedelta(seconds=self.emu.config.management_url_ttl_s)
        token = secrets.token_hex(8)
        base = self._base_url.rstrip("/")
        url = f"{base}/manage/subscription/{subscription.subscription_id}?mock=true&t={token}"
        return {
            "subscriptionRequest": subscription.subscription_request,
            "merchantSubscriptionId": subscription.merchant_subscription_id,
            "subscriptionId": subscription.subscription_id,
            "managementUrl": url,
            "expiredAt": self.emu.timestamp(expires),
            "subscriptionStatus": subscription.status,
        }

    def update(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        subscription = self.find(merchant, payload)
        if subscription.status not in (m.SUB_ACTIVE, *m.SUB_AWAITING_AUTHORIZATION):
            raise WaffoApiError("A0010", f"subscription is {subscription.status}")
        currency = subscription.currency
        new_amount = v.optional_amount(payload, "amount", currency)
        new_trial = v.optional_amount(payload, "productInfo.trialPeriodAmount", currency)
        new_scheduled = self._scheduled_amounts(payload, "productInfo.scheduledAmounts", currency)

        def scheduled_view(amounts: dict[int, Decimal]) -> list[dict[str, str]] | None:
            items = [{"period": str(p), "amount": views.amount_text(a, currency)} for p, a in sorted(amounts.items())]
            return items or None

        def text(value: Decimal | None) -> str | None:
            return views.amount_text(value, currency) if value is not None else None

        response: dict[str, Any] = {
            "subscriptionId": subscription.subscription_id,
            "subscriptionRequest": subscription.subscription_request,
            "previousAmount": text(subscription.amount),
            "newAmount": text(new_amount if new_amount is not None else subscription.amount),
            "previousTrialPeriodAmount": text(subscription.trial_amount),
            "newTrialPeriodAmount": text(new_trial if new_trial is not None else subscription.trial_amount),
            "previousScheduledAmounts": scheduled_view(subscription.scheduled_amounts),
            "newScheduledAmounts": scheduled_view({**subscription.scheduled_amounts, **new_scheduled}),
            "nextEffectivePeriod": str(subscription.current_period + 1),
        }
        if new_amount is not None and new_amount == 0:
            raise invalid("amount", "must be greater than zero")
        topup = self._topup(merchant, subscription, payload)
        if topup is not None:
            response["topupInfo"] = topup
        if new_amount is not None:
            subscription.amount = new_amount
        if new_trial is not None:
            subscription.trial_amount = new_trial
        subscription.scheduled_amounts.update(new_scheduled)
        self._touch(subscription)
        return response

    def _topup(
        self, merchant: m.Merchant, subscription: m.Subscription, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``topupInfo``: a one-off charge on the subscription's stored payment method, idempotent by
        ``topupRequest``. The emulator charges it at once (PAY_SUCCESS, PAYMENT_NOTIFICATION); only an ACTIVE
        subscription has a stored method (else A0010)."""
        if v.lookup(payload, "topupInfo") is None:
            return None
        info = v.require_object(payload, "topupInfo")
        topup_request = v.require_str(payload, "topupInfo.topupRequest", v.REQUEST_ID_MAX)
        amount = v.require_amount(payload, "topupInfo.topupAmount", subscription.currency)
        v.optional_str(payload, "topupInfo.description", 128)
        v.optional_timestamp(payload, "topupInfo.orderExpiredAt")
        orders = self.emu.orders
        key = (merchant.merchant_id, topup_request)
        if orders.check_idempotency("topup", merchant, topup_request, info):
            order = self._store.orders[self._store.topups[key]]
        else:
            if subscription.status != m.SUB_ACTIVE:
                raise WaffoApiError("A0010", f"a top-up needs an ACTIVE subscription, not {subscription.status}")
            order = orders.create_subscription_charge(
                subscription, subscription.current_period, amount, succeed=True, period_charge=False
            )
            self._store.topups[key] = order.acquiring_order_id
            orders.remember("topup", merchant, topup_request, info)
        return {
            "acquiringOrderId": order.acquiring_order_id,
            "topupRequest": topup_request,
            "topupAmount": order.amount_text,
            "topupStatus": order.status,
            "topupAction": None,
        }

    # -- API: subscription/change, change/inquiry -----------------------------------------------

    def change(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        subscription_request = v.require_str(payload, "subscriptionRequest", v.REQUEST_ID_MAX)
        origin_request = v.require_str(payload, "originSubscriptionRequest", v.REQUEST_ID_MAX)
        v.optional_str(payload, "merchantSubscriptionId", 64)
        if self.emu.config.require_goods_info:
            v.require_object(payload, "goodsInfo")  # reference §4.6: goodsInfo ✔
        currency = v.require_currency(payload, "currency")
        remaining = v.require_amount(payload, "remainingAmount", currency, allow_zero=True)
        products = v.lookup(payload, "productInfoList")
        if not isinstance(products, list) or not products:
            raise invalid("productInfoList", "must be a non-empty list")
        for index in range(len(products)):
            if not isinstance(products[index], dict):
                raise invalid(f"productInfoList[{index}]", "must be an object")
            self._validate_product({"p": products[index]}, "p", currency)
            v.require_amount(products[index], "amount", currency)
        self._validate_parties(merchant, payload)

        orders = self.emu.orders
        key = (merchant.merchant_id, subscription_request)
        if orders.check_idempotency("subscription", merchant, subscription_request, payload):
            existing = self._store.changes.get(key)
            if existing is None:
                raise WaffoApiError("A0011", f"{subscription_request} is not a subscription change")
            new = self._store.subscriptions[existing.new_subscription_id]
            return views.change_created_view(existing, new, self._base_url, self._action_format)

        origin_id = self._store.subscription_by_request.get((merchant.merchant_id, origin_request))
        origin = self._store.subscriptions.get(origin_id or "")
        if origin is None:
            raise WaffoApiError("A0009", "original subscription does not exist")
        if origin.status != m.SUB_ACTIVE:
            raise WaffoApiError("A0010", f"original subscription is {origin.status}, not ACTIVE")
        first = dict(products[0])
        amount = v.require_amount(first, "amount", currency)
        product_info = {k: val for k, val in first.items() if k != "amount"}
        new = self._new_subscription(
            merchant,
            payload,
            subscription_request=subscription_request,
            currency=currency,
            amount=amount,
            product_info=product_info,
            status=m.SUB_AUTHORIZATION_REQUIRED,
        )
        new.change_key = key
        new.first_period_credit = remaining
        new.pay_method_name = origin.pay_method_name
        change = m.SubscriptionChange(
            merchant_id=merchant.merchant_id,
            origin_subscription_request=origin_request,
            subscription_request=subscription_request,
            new_subscription_id=new.subscription_id,
            remaining_amount=remaining,
            currency=currency,
            status=m.CHANGE_AUTHORIZATION_REQUIRED,
            requested_at=payload["requestedAt"],
            request=dict(payload),
        )
        self._store.changes[key] = change
        orders.remember("subscription", merchant, subscription_request, payload)
        return views.change_created_view(change, new, self._base_url, self._action_format)

    def change_inquiry(self, merchant: m.Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        v.require_str(payload, "originSubscriptionRequest", v.REQUEST_ID_MAX)
        subscription_request = v.require_str(payload, "subscriptionRequest", v.REQUEST_ID_MAX)
        change = self._store.changes.get((merchant.merchant_id, subscription_request))
        if change is None or change.origin_subscription_request != payload["originSubscriptionRequest"]:
            raise WaffoApiError("A0009", "subscription change does not exist")
        new = self._store.subscriptions[change.new_subscription_id]
        return views.change_view(change, new, self._base_url, self._action_format)

    # -- customer and scheduler actions (checkout page, management page, control API) -----------

    def authorize(self, subscription: m.Subscription, pay_method_name: str | None = None) -> None:
        """The customer completes the first payment (or authorizes a pending change)."""
        if subscription.status not in m.SUB_AWAITING_AUTHORIZATION:
            raise StateConflict(f"subscription is {subscription.status}, not awaiting authorization")
        change = self._store.changes.get(subscription.change_key) if subscription.change_key else None
        origin = self._origin(change) if change else None
        if change is not None and (origin is None or origin.status != m.SUB_ACTIVE):
            self._close_first(subscription, "S0001", "original subscription is no longer active", charge=False)
            return
        subscription.pay_method_name = (
            pay_method_name
            or subscription.pay_method_name
            or default_pay_method(subscription.request.get("paymentInfo"))
        )
        subscription.start = self.emu.now()
        subscription.current_period = 1
        subscription.status = m.SUB_ACTIVE
        self._touch(subscription)
        first_amount = max(subscription.amount_for_period(1) - subscription.first_period_credit, Decimal(0))
        if change is None or first_amount > 0:
            self.emu.orders.create_subscription_charge(subscription, 1, first_amount, succeed=True)
        if change is not None and origin is not None:
            change.status = m.CHANGE_SUCCESS
            self._notify_change(change, subscription)
            origin.status = m.SUB_MERCHANT_CANCELLED
            self._touch(origin)
            self._notify_status(origin)
        self._notify_status(subscription)

    def fail_first_payment(
        self, subscription: m.Subscription, code: str | None = None, description: str | None = None
    ) -> None:
        if subscription.status not in m.SUB_AWAITING_AUTHORIZATION:
            raise StateConflict(f"subscription is {subscription.status}, not awaiting authorization")
        self._close_first(subscription, code or DEFAULT_FAIL_CODE, description or "payment failed", charge=True)

    def abandon(self, subscription: m.Subscription) -> None:
        """The customer leaves the checkout without paying."""
        if subscription.status not in m.SUB_AWAITING_AUTHORIZATION:
            raise StateConflict(f"subscription is {subscription.status}, not awaiting authorization")
        self._close_first(subscription, *ABANDON_REASON, charge=False)

    def _close_first(self, subscription: m.Subscription, code: str, description: str, *, charge: bool) -> None:
        if charge:
            amount = max(subscription.amount_for_period(1) - subscription.first_period_credit, Decimal(0))
            self.emu.orders.create_subscription_charge(
                subscription, 1, amount, succeed=False, code=code, description=description
            )
        subscription.status = m.SUB_CLOSE
        subscription.failed_reason = failed_reason(code, description)
        self._touch(subscription)
        change = self._store.changes.get(subscription.change_key) if subscription.change_key else None
        if change is not None:
            change.status = m.CHANGE_CLOSED
            self._notify_change(change, subscription)
        self._notify_status(subscription)

    def renew(
        self,
        subscription: m.Subscription,
        *,
        succeed: bool,
        code: str | None = None,
        description: str | None = None,
    ) -> None:
        """Waffo charges the next period (one click of the sandbox's "next period" buttons).

        When every period of a fixed-term subscription has been charged, the next renewal ends it
        as EXPIRED instead of charging.
        """
        if subscription.status != m.SUB_ACTIVE:
            raise StateConflict(f"subscription is {subscription.status}, not ACTIVE")
        total = subscription.number_of_period
        if total is not None and subscription.current_period >= total:
            subscription.status = m.SUB_EXPIRED
            self._touch(subscription)
            self._notify_status(subscription)
            return
        period = subscription.current_period + 1
        amount = subscription.amount_for_period(period)
        self.emu.orders.create_subscription_charge(
            subscription, period, amount, succeed=succeed, code=code, description=description
        )
        if not succeed:
            self._touch(subscription)
            return
        subscription.current_period = period
        self._touch(subscription)
        self._notify(subscription, "SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION")

    def user_cancel(self, subscription: m.Subscription) -> None:
        if subscription.status != m.SUB_ACTIVE:
            raise StateConflict(f"subscription is {subscription.status}, not ACTIVE")
        subscription.status = self.emu.config.user_cancel_status
        self._touch(subscription)
        self._notify_status(subscription)

    def expire_due(self) -> None:
        now = self.emu.now()
        for subscription in list(self._store.subscriptions.values()):
            if subscription.status in m.SUB_AWAITING_AUTHORIZATION and subscription.expires_at <= now:
                self._close_first(subscription, *EXPIRY_REASON, charge=False)

    def _origin(self, change: m.SubscriptionChange) -> m.Subscription | None:
        origin_id = self._store.subscription_by_request.get((change.merchant_id, change.origin_subscription_request))
        return self._store.subscriptions.get(origin_id or "")

    def _notify_change(self, change: m.SubscriptionChange, new: m.Subscription) -> None:
        self.emu.notify(
            change.merchant_id,
            new.notify_url,
            "SUBSCRIPTION_CHANGE_NOTIFICATION",
            views.change_view(change, new, self._base_url, self._action_format),
        )
