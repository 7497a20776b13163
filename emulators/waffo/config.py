"""Configuration of the Waffo emulator. Defaults follow the reference; [INF] choices are switchable."""

from __future__ import annotations

from dataclasses import dataclass

# Waffo's documented webhook retry delays: attempt 2 after 30 s, 3 after 1 min, 4 after 4 min,
# 5 after 30 min, 6 after 4 h, 7 and 8 after 8 h each; then the notification is permanently failed.
WAFFO_RETRY_DELAYS_S: tuple[float, ...] = (30, 60, 240, 1800, 4 * 3600, 8 * 3600, 8 * 3600)


@dataclass
class WaffoEmulatorConfig:
    # Base URL the emulator is reachable at; checkout and management URLs are built from it.
    public_base_url: str = "http://127.0.0.1:8090"
    # The "Waffo" signing key (PEM or Base64 PKCS#8 DER). An RSA-2048 key is generated when None.
    waffo_private_key_pem: bytes | None = None
    # Multiplies every webhook retry delay (e.g. 0.001 in tests).
    notify_time_scale: float = 1.0
    # How long a merchant has to answer one notification attempt.
    notify_timeout_s: float = 10.0
    notify_retry_delays_s: tuple[float, ...] = WAFFO_RETRY_DELAYS_S
    # Order lifetime when the request has no orderExpiredAt.
    order_expiry_default_s: int = 3600
    # Subscription authorization lifetime when the request has no orderExpiredAt (docs: 4 hours).
    subscription_expiry_default_s: int = 4 * 3600
    # Seconds from a refund request (answered REFUND_IN_PROGRESS) to its completion. 0 completes it
    # right after the response is built; None leaves it in progress until
    # POST /control/refunds/{ref}/succeed or /fail.
    refund_delay_s: float | None = 0.0
    # Same for a capture (answered CAPTURE_IN_PROGRESS) becoming PAY_SUCCESS.
    capture_delay_s: float | None = 0.0
    # Whether AUTHED_WAITING_CAPTURE is pushed as a PAYMENT_NOTIFICATION (unknown for real Waffo).
    notify_authorized: bool = False
    # Whether a merchant cancel (order/cancel) pushes PAYMENT_NOTIFICATION ORDER_CLOSE.
    notify_on_merchant_cancel: bool = True
    # The orderFailedReason (code, description) an order closed by a merchant cancel carries. The
    # reference does not say whether Waffo states a reason for a close it did not cause; None: no reason.
    cancel_failed_reason: tuple[str, str] | None = None
    # How long after orderExpiredAt an unpaid order stays payable. The reference does not say how
    # promptly Waffo closes an expired order, so a payment may complete after the merchant's deadline.
    expiry_grace_s: float = 0.0
    # Status after a user cancels on the management page (the docs are cut off; CLOSE is the
    # other candidate).
    user_cancel_status: str = "USER_CANCELLED"
    # order/create requires goodsInfo with goodsName and at least one of goodsUrl / appName (reference
    # §3.1: "required in practice"; the SDK's AcqOrderGoodsInfo requires all three keys). False accepts an
    # order without goodsInfo, as the openapi "optional" column reads.
    require_goods_info: bool = True
    # order/create and subscription/create require userInfo.userTerminal (reference §3.1 ✔, §4.1 "required
    # per skill").
    require_user_terminal: bool = True
    # How subscriptionAction is written: "json", a JSON string {"actionType","webUrl"} as the SDK's models and
    # orderAction; "url", the bare URL the reference (§4.1) also reports.
    subscription_action_format: str = "json"
    # Reject (A0004) requests whose merchantInfo.merchantId / merchantId is not the caller's.
    check_merchant_id: bool = True
    # Sandbox error-trigger amounts (9.1/91/991 C0001, 9.2/92/992 E0001, 9/90/990 C0005).
    magic_amounts: bool = True
    # How often unpaid orders and subscriptions past their expiry are closed in the background.
    expiry_sweep_interval_s: float = 1.0
    # refundExpiryAt = payment completion + this many days (end of that day, UTC).
    refund_window_days: int = 180
    # Lifetime of a subscription management URL.
    management_url_ttl_s: int = 24 * 3600
    # A notification held back by a "reorder" fault is sent after this long if nothing follows it.
    reorder_max_hold_s: float = 2.0
