"""The business rules: native, quick and JSAPI pay, status checks, close and revoke, refunds."""

from __future__ import annotations

import asyncio
import re
import secrets
import string
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from emulators.common.money import currency_exponent, format_amount
from emulators.kess import wire
from emulators.kess.errors import KessApiError, invalid
from emulators.kess.models import (
    OPEN_STATES,
    PAID_STATES,
    Merchant,
    Order,
    PayKind,
    Refund,
    RefundState,
    TradeState,
)

if TYPE_CHECKING:
    from emulators.kess.emulator import KessEmulator

OUT_NO_RE = re.compile(r"^[0-9A-Za-z_\-|*]{1,32}$")

_MESSAGES = {
    TradeState.NOTPAY: "Waiting for payment",
    TradeState.USERPAYING: "Waiting for the buyer to confirm",
    TradeState.SUCCESS: "Payment Successful!",
    # Seed 004's CHECK PAYMENT STATUS example names a refund (out_refund_no) and still says this.
    TradeState.REFUND: "Payment Successful!",
    TradeState.CLOSED: "Order closed",
    TradeState.REVOKED: "Order revoked",
    TradeState.PAYERROR: "Payment failed",
}
_REFUND_MESSAGES = {
    RefundState.SUCCESS: "Refund Successful!",
    RefundState.PROCESSING: "Refund processing",
    RefundState.REFUNDCLOSE: "Refund failed",
}
#: The refusal a quick-pay answer carries for an order that is not (yet) paid.
_STATE_ERR = {
    TradeState.USERPAYING: "USERPAYING",
    TradeState.CLOSED: "ORDERCLOSED",
    TradeState.REVOKED: "ORDERREVERSED",
}


class StateConflict(Exception):
    """A control (buyer) action that does not fit the order's current state."""


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _str_or_none(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string or an integer")
    return str(value)


class PaymentService:
    def __init__(self, emu: KessEmulator) -> None:
        self.emu = emu

    @property
    def _orders(self) -> dict[tuple[str, str], Order]:
        return self.emu.store.orders

    def _now(self) -> datetime:
        return self.emu.clock.now()

    def _after(self, seconds: float) -> datetime:
        return self._now() + timedelta(seconds=self.emu.config.scaled(seconds))

    # -- request checks -------------------------------------------------------------------------

    def _store_id(self, merchant: Merchant, payload: dict[str, Any]) -> None:
        store_id = payload.get("store_id")
        if store_id is None or store_id == "":
            raise invalid("store_id", "is required")
        if str(store_id) != merchant.store_id:
            raise KessApiError("NOAUTH")

    def _out_no(self, payload: dict[str, Any], field: str) -> str:
        value = payload.get(field)
        if not isinstance(value, str) or not OUT_NO_RE.match(value):
            raise invalid(field, "is required: 1-32 characters of [0-9A-Za-z_-|*]")
        return value

    def find(self, merchant: Merchant, payload: dict[str, Any]) -> Order:
        self._store_id(merchant, payload)
        out_trade_no = self._out_no(payload, "out_trade_no")
        order = self._orders.get((merchant.user, out_trade_no))
        if order is None:
            raise KessApiError("ORDERNOTEXIST")
        return order

    # -- views ----------------------------------------------------------------------------------

    def _amount(self, order: Order) -> dict[str, Any]:
        return {
            "amount": order.total_amount if self.emu.config.amount_includes_fee else order.amount,
            "currency": order.currency,
            "fee_rate": order.fee_rate,
            "fee_amount": order.fee_amount,
            "total_amount": order.total_amount,
        }

    def pay_view(self, order: Order) -> dict[str, Any]:
        view: dict[str, Any] = {
            "service_id": order.service_id,
            "out_trade_no": order.out_trade_no,
            "transaction_id": order.transaction_id,
            **self._amount(order),
            "trade_state": order.trade_state.value,
        }
        if order.qr_code is not None:
            view["qr_code"] = order.qr_code
        if order.expires_at is not None and order.kind is not PayKind.QUICK:
            view["time_expire"] = self.emu.timestamp(order.expires_at)
        if order.paid_at is not None:
            view["time_end"] = self.emu.timestamp(order.paid_at)
        return view

    def status_view(self, order: Order) -> dict[str, Any]:
        latest = order.refunds[-1].out_refund_no if order.refunds else None
        view = {
            "is_success": order.trade_state in PAID_STATES,
            **self.pay_view(order),
            "refunded_amount": order.refunded(),
            "out_refund_no": latest,
            "message": _MESSAGES[order.trade_state],
        }
        if order.err_code is not None:
            view["err_code"] = order.err_code
        return view

    def refund_view(self, refund: Refund) -> dict[str, Any]:
        order = self._orders[(refund.user, refund.out_trade_no)]
        return {
            "service_id": order.service_id,
            # A number, as seed 004's REFUND TO BUYER answer prints it (text if it is not digits).
            "store_id": int(order.store_id) if order.store_id.isdigit() else order.store_id,
            "out_trade_no": refund.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "transaction_id": order.transaction_id,
            "refund_amount": refund.amount,
            "buyer_refund_amount": refund.buyer_amount,
            "currency": order.currency,
            "refund_status": refund.status.value,
            "remaining_amount": order.amount - order.refunded(),
        }

    def refund_status_view(self, refund: Refund) -> dict[str, Any]:
        return {
            "is_success": refund.status is RefundState.SUCCESS,
            **self.refund_view(refund),
            "amount": refund.amount,
            "message": _REFUND_MESSAGES[refund.status],
        }

    # -- creation -------------------------------------------------------------------------------

    def create(self, kind: PayKind, merchant: Merchant, payload: dict[str, Any]) -> Order:
        """Create an order, or return the existing one for an identical replay (OUT_TRADE_NO_USED otherwise)."""
        self._store_id(merchant, payload)
        out_trade_no = self._out_no(payload, "out_trade_no")
        service_id = payload.get("service_id")
        if isinstance(service_id, str) and service_id.isdigit():
            service_id = int(service_id)
        if not isinstance(service_id, int) or isinstance(service_id, bool):
            raise invalid("service_id", "is required (an integer)")
        wallet = self.emu.config.services.get(service_id)
        if wallet is None:
            raise invalid("service_id", f"{service_id} is not enabled for this store")
        currency = merchant.currency
        sent_currency = payload.get("currency")
        if sent_currency not in (None, "", currency):
            raise invalid("currency", f"must be {currency} for this store")
        try:
            amount = wire.parse_amount(payload.get("amount"), currency)
        except ValueError as exc:
            raise invalid("amount", str(exc)) from exc
        try:
            fee_rate = wire.parse_rate(payload.get("fee_rate"))
        except ValueError as exc:
            raise invalid("fee_rate", str(exc)) from exc
        try:
            sub_store_id = _str_or_none(payload.get("sub_store_id"))
            auth_code = _str_or_none(payload.get("auth_code"))
        except ValueError as exc:
            raise invalid("sub_store_id/auth_code", str(exc)) from exc
        sub_store_name = payload.get("sub_store_name")
        if sub_store_name is not None and not isinstance(sub_store_name, str):
            raise invalid("sub_store_name", "must be a string")
        if not auth_code and (kind is not PayKind.NATIVE or self.emu.config.native_auth_code == "required"):
            raise invalid("auth_code", "is required")

        fingerprint: tuple[object, ...] = (
            kind,
            service_id,
            amount.normalize(),
            fee_rate.normalize(),
            sub_store_id,
            sub_store_name,
            # Native pay ignores auth_code (KESS's own sample sends one).
            auth_code if kind is not PayKind.NATIVE else None,
        )
        existing = self._orders.get((merchant.user, out_trade_no))
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise KessApiError("OUT_TRADE_NO_USED")
            return existing

        quantum = Decimal(1).scaleb(-currency_exponent(currency))
        fee_amount = (amount * fee_rate / 100).quantize(quantum, rounding=ROUND_HALF_UP)
        order = Order(
            user=merchant.user,
            store_id=merchant.store_id,
            out_trade_no=out_trade_no,
            kind=kind,
            service_id=service_id,
            wallet=wallet,
            currency=currency,
            amount=amount,
            fee_rate=fee_rate,
            fee_amount=fee_amount,
            total_amount=amount + fee_amount,
            transaction_id=self.emu.new_transaction_id(),
            fingerprint=fingerprint,
            created_at=self._now(),
            sub_store_id=sub_store_id,
            sub_store_name=sub_store_name or merchant.store_name,
        )
        self._orders[(merchant.user, out_trade_no)] = order
        if kind is PayKind.NATIVE:
            order.qr_code = self._qr_code(wallet)
            order.expires_at = self._after(self.emu.config.native_order_ttl_s)
        elif kind is PayKind.JSAPI:
            order.expires_at = self._after(self.emu.config.native_order_ttl_s)
        else:
            order.expires_at = self._after(self.emu.config.quick_pay_revoke_after_s)
            self._start_quick_pay(order, auth_code or "")
        return order

    def _qr_code(self, wallet: str) -> str:
        if wallet == "ALIPAY":
            return "https://qr.alipay.com/bax" + _rand(string.ascii_lowercase + string.digits, 20)
        return "weixin://wxpay/bizpayurl?pr=" + _rand(string.ascii_letters + string.digits, 7)

    def _script(self, auth_code: str) -> str:
        scripts = self.emu.config.quick_pay_scripts
        for prefix in sorted(scripts, key=len, reverse=True):
            if auth_code.startswith(prefix):
                return scripts[prefix]
        return "success"

    def _start_quick_pay(self, order: Order, auth_code: str) -> None:
        script = self._script(auth_code)
        if script == "authcodeexpire":
            self._fail(order, "AUTHCODEEXPIRE")
        elif script == "notenough":
            self._fail(order, "NOTENOUGH")
        elif script == "userpaying_then_success":
            order.trade_state = TradeState.USERPAYING
            order.pin_due_at = self._after(self.emu.config.pin_delay_s)
            order.pin_result = TradeState.SUCCESS
        elif script == "userpaying_then_payerror":
            order.trade_state = TradeState.USERPAYING
            order.pin_due_at = self._after(self.emu.config.pin_delay_s)
            order.pin_result = TradeState.PAYERROR
            order.pin_err_code = "PAYERROR"
        elif script == "userpaying_timeout":
            order.trade_state = TradeState.USERPAYING
        else:
            self._pay(order)

    async def hold_quick_pay(self, order: Order) -> None:
        """Keep "polling the wallet" inside the request while the buyer is entering the PIN."""
        config = self.emu.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.scaled(config.quick_pay_hold_s)
        while True:
            self.progress()
            remaining = deadline - loop.time()
            if order.trade_state is not TradeState.USERPAYING or remaining <= 0:
                return
            await asyncio.sleep(min(config.scaled(config.quick_pay_poll_interval_s), remaining))

    def pay_answer(self, order: Order) -> dict[str, Any]:
        """The answer to a pay request: the order, or the refusal its state amounts to.

        Paid orders and unpaid native / JSAPI orders are a success; a quick-pay order still waiting
        for the PIN answers USERPAYING; failed, closed and revoked orders answer their error code.
        """
        view = self.pay_view(order)
        state = order.trade_state
        if state in PAID_STATES or (state is TradeState.NOTPAY and order.kind is not PayKind.QUICK):
            return view
        if state is TradeState.PAYERROR:
            raise KessApiError(order.err_code or "PAYERROR", data=view)
        raise KessApiError(_STATE_ERR.get(state, "SYSTEMERROR"), data=view)

    # -- state changes --------------------------------------------------------------------------

    def _pay(self, order: Order, *, late: bool = False) -> None:
        order.trade_state = TradeState.SUCCESS
        order.paid_at = self._now()
        order.late_payment = late
        order.pin_due_at = None
        self.emu.record(
            "charge",
            order,
            order.total_amount,
            {"merchant_amount": format_amount(order.amount, order.currency), "fee_amount": str(order.fee_amount)},
        )

    def _fail(self, order: Order, err_code: str) -> None:
        order.trade_state = TradeState.PAYERROR
        order.err_code = err_code
        order.closed_at = self._now()
        order.pin_due_at = None

    def _close(self, order: Order) -> None:
        order.trade_state = TradeState.REVOKED if order.kind is PayKind.QUICK else TradeState.CLOSED
        order.closed_at = self._now()
        order.pin_due_at = None

    def progress(self) -> None:
        """Apply everything that is due: PIN entries, quick-pay revocation, QR expiry, refunds."""
        now = self._now()
        for order in self._orders.values():
            if order.trade_state is TradeState.USERPAYING and order.pin_due_at is not None and order.pin_due_at <= now:
                if order.pin_result is TradeState.SUCCESS:
                    self._pay(order)
                else:
                    self._fail(order, order.pin_err_code or "PAYERROR")
            if order.trade_state in OPEN_STATES and order.expires_at is not None and order.expires_at <= now:
                self._close(order)
            for refund in order.refunds:
                if refund.status is RefundState.PROCESSING and refund.due_at is not None and refund.due_at <= now:
                    self.complete_refund(refund, succeed=True)

    # -- close and revoke -----------------------------------------------------------------------

    def close(self, merchant: Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        """Close an unpaid order (a quick-pay order is revoked). A paid order answers ORDERPAID."""
        order = self.find(merchant, payload)
        if order.trade_state in PAID_STATES:
            raise KessApiError("ORDERPAID", data=self.pay_view(order))
        if order.trade_state in OPEN_STATES:
            self._close(order)
        return {**self.pay_view(order), "recall": "N"}

    def revoke(self, merchant: Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        """WeChat's reverse: a quick-pay order is revoked even when paid (the money goes back)."""
        order = self.find(merchant, payload)
        if order.trade_state in PAID_STATES:
            if order.kind is not PayKind.QUICK:
                raise KessApiError("ORDERPAID", data=self.pay_view(order))
            remaining = order.amount - order.refunded()
            if remaining > 0:
                refund = self._new_refund(order, f"REVOKE-{order.out_trade_no}"[:32], remaining, "revoked", ())
                self.complete_refund(refund, succeed=True)
            order.trade_state = TradeState.REVOKED
            order.closed_at = self._now()
        elif order.trade_state in OPEN_STATES:
            self._close(order)
        return {**self.pay_view(order), "recall": "N"}

    # -- control (the buyer's side) -------------------------------------------------------------

    def buyer_pay(self, order: Order, *, late: bool = False) -> None:
        if order.trade_state in PAID_STATES:
            raise StateConflict(f"order {order.out_trade_no} is already paid")
        if order.trade_state not in OPEN_STATES and not late:
            raise StateConflict(
                f'order {order.out_trade_no} is {order.trade_state.value}; send {{"late": true}} to pay it anyway'
            )
        self._pay(order, late=order.trade_state not in OPEN_STATES)

    def buyer_fail(self, order: Order, err_code: str | None) -> None:
        if order.trade_state not in OPEN_STATES:
            raise StateConflict(f"order {order.out_trade_no} is {order.trade_state.value}")
        self._fail(order, err_code or "NOTENOUGH")

    def expire(self, order: Order) -> None:
        if order.trade_state not in OPEN_STATES:
            raise StateConflict(f"order {order.out_trade_no} is {order.trade_state.value}")
        self._close(order)

    # -- refunds --------------------------------------------------------------------------------

    def _new_refund(
        self, order: Order, out_refund_no: str, amount: Decimal, reason: str | None, fingerprint: tuple[object, ...]
    ) -> Refund:
        remaining_after = order.amount - order.refunded() - amount
        if remaining_after == 0:
            # The last refund returns the rest of the buyer's fee too, so rounding never keeps any.
            buyer_amount = order.total_amount - order.buyer_refunded()
        else:
            quantum = Decimal(1).scaleb(-currency_exponent(order.currency))
            buyer_amount = amount + (amount * order.fee_rate / 100).quantize(quantum, rounding=ROUND_HALF_UP)
        refund = Refund(
            out_refund_no=out_refund_no,
            refund_id=self.emu.new_refund_id(),
            out_trade_no=order.out_trade_no,
            user=order.user,
            amount=amount,
            buyer_amount=buyer_amount,
            reason=reason,
            fingerprint=fingerprint,
            created_at=self._now(),
        )
        order.refunds.append(refund)
        self.emu.store.refunds[(order.user, out_refund_no)] = refund
        return refund

    def refund(self, merchant: Merchant, payload: dict[str, Any]) -> dict[str, Any]:
        order = self.find(merchant, payload)
        out_refund_no = self._out_no(payload, "out_refund_no")
        try:
            amount = wire.parse_amount(payload.get("refund_amount"), order.currency)
        except ValueError as exc:
            raise invalid("refund_amount", str(exc)) from exc
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise invalid("reason", "must be a string")
        fingerprint: tuple[object, ...] = (order.out_trade_no, amount.normalize())
        existing = self.emu.store.refunds.get((merchant.user, out_refund_no))
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise KessApiError("REFUND_FEE_MISMATCH")
            return self.refund_view(existing)
        if order.trade_state not in PAID_STATES:
            raise KessApiError("TRADE_STATE_ERROR", data=self.pay_view(order))
        if amount > order.amount - order.refunded():
            raise KessApiError("INVALID_REQUEST", data={"remaining_amount": order.amount - order.refunded()})
        refund = self._new_refund(order, out_refund_no, amount, reason, fingerprint)
        delay = self.emu.config.refund_delay_s
        if delay == 0:
            self.complete_refund(refund, succeed=True)
        elif delay is not None:
            refund.due_at = self._after(delay)
        return self.refund_view(refund)

    def complete_refund(self, refund: Refund, *, succeed: bool) -> None:
        if refund.status is not RefundState.PROCESSING:
            raise StateConflict(f"refund {refund.out_refund_no} is {refund.status.value}")
        order = self._orders[(refund.user, refund.out_trade_no)]
        refund.completed_at = self._now()
        refund.due_at = None
        if not succeed:
            refund.status = RefundState.REFUNDCLOSE
            return
        refund.status = RefundState.SUCCESS
        if order.trade_state is TradeState.SUCCESS:
            order.trade_state = TradeState.REFUND
        self.emu.record(
            "refund",
            order,
            refund.buyer_amount,
            {"out_refund_no": refund.out_refund_no, "refund_id": refund.refund_id},
        )

    def find_refund(self, merchant: Merchant, payload: dict[str, Any]) -> Refund:
        """The latest refund of ``out_trade_no`` (seed 004's request); with ``refund_status_by="out_refund_no"``
        the refund an ``out_refund_no`` names, when one is sent."""
        self._store_id(merchant, payload)
        out_refund_no = payload.get("out_refund_no")
        if out_refund_no and self.emu.config.refund_status_by == "out_refund_no":
            refund = self.emu.store.refunds.get((merchant.user, self._out_no(payload, "out_refund_no")))
            if refund is None:
                raise KessApiError("REFUNDNOTEXIST")
            return refund
        order = self.find(merchant, payload)
        if not order.refunds:
            raise KessApiError("REFUNDNOTEXIST")
        return order.refunds[-1]
