"""The Waffo emulator: state, money ledger, notification delivery and background expiry."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.common.background import cancel_and_wait
from emulators.common.clock import Clock
from emulators.common.faults import FaultQueue
from emulators.common.ledger import Ledger, LedgerEntry, LedgerKind
from emulators.common.notifier import OutboundNotification, RetryingNotifier
from emulators.waffo import signing
from emulators.waffo.config import WaffoEmulatorConfig
from emulators.waffo.models import CAPTURE_IN_PROGRESS, REFUND_IN_PROGRESS, Merchant, Store
from emulators.waffo.orders import OrderService
from emulators.waffo.subscriptions import SubscriptionService
from emulators.waffo.wire import encode_json, format_timestamp

log = logging.getLogger(__name__)

ACK_BODY = b'{"message":"success"}'


def reply_judge(merchant_public_key: rsa.RSAPublicKey) -> Callable[[httpx.Response], str | None]:
    """Waffo accepts a notification only on HTTP 200, Content-Type application/json, the exact body
    {"message":"success"} and a valid X-SIGNATURE over that body by the merchant's key."""

    def judge(response: httpx.Response) -> str | None:
        if response.status_code != 200:
            return f"HTTP status {response.status_code}, expected 200"
        content_type = response.headers.get("content-type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return f"Content-Type {content_type or '(missing)'!r}, expected application/json"
        if response.content != ACK_BODY:
            return 'reply body is not exactly {"message":"success"}'
        signature = response.headers.get(signing.SIGNATURE_HEADER)
        if not signature:
            return "reply has no X-SIGNATURE header"
        if not signing.verify(response.content, signature, merchant_public_key):
            return "reply X-SIGNATURE does not verify with the merchant public key"
        return None

    return judge


class WaffoEmulator:
    """An offline Waffo PSP: serve it with `create_app(emulator)`.

    Business time comes from `self.clock` (adjustable through the control API); webhook retry
    delays use real time scaled by `config.notify_time_scale`.
    """

    def __init__(self, config: WaffoEmulatorConfig, http_client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        if config.waffo_private_key_pem is not None:
            self._private_key = signing.load_private_key(config.waffo_private_key_pem)
        else:
            self._private_key = signing.generate_private_key()
        self._public_key_b64 = signing.public_key_b64(self._private_key.public_key())
        self.clock = Clock()
        self.store = Store()
        self.ledger = Ledger()
        self.faults = FaultQueue()
        self.notifier = RetryingNotifier(
            retry_delays_s=config.notify_retry_delays_s,
            time_scale=config.notify_time_scale,
            timeout_s=config.notify_timeout_s,
            clock=self.clock,
            format_time=format_timestamp,
            faults=self.faults,
            http_client=http_client,
            reorder_max_hold_s=config.reorder_max_hold_s,
        )
        self.orders: OrderService = OrderService(self)
        self.subscriptions: SubscriptionService = SubscriptionService(self)
        self._timers: set[asyncio.TimerHandle] = set()
        self._pending_completions: list[tuple[str, Any]] = []
        self._sweeper: asyncio.Task[None] | None = None

    # -- merchants and keys ---------------------------------------------------------------------

    def register_merchant(self, api_key: str, merchant_id: str, public_key: str | bytes) -> Merchant:
        """Register (or replace) a merchant. `public_key` is Base64 SPKI DER or PEM."""
        key = signing.load_public_key(public_key)
        merchant = Merchant(api_key, merchant_id, key, signing.public_key_b64(key))
        self.store.merchants_by_key[api_key] = merchant
        return merchant

    def waffo_public_key_b64(self) -> str:
        """The Waffo public key merchants configure: Base64 SPKI DER on one line."""
        return self._public_key_b64

    def sign(self, body: bytes) -> str:
        return signing.sign(body, self._private_key)

    # -- time -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def timestamp(self, when: datetime | None = None) -> str:
        return format_timestamp(when or self.clock.now())

    # -- ledger and notifications ---------------------------------------------------------------

    def record(
        self,
        kind: LedgerKind,
        *,
        merchant_id: str,
        amount: Decimal,
        currency: str,
        references: dict[str, str | None],
    ) -> LedgerEntry:
        return self.ledger.record(
            kind,
            merchant_id=merchant_id,
            amount=amount,
            currency=currency,
            at=self.timestamp(),
            references=references,
        )

    def notify(self, merchant_id: str, url: str | None, event_type: str, result: dict[str, Any]) -> None:
        """Queue a signed `{"eventType", "result"}` POST to `url`."""
        merchant = self.store.merchant_by_id(merchant_id)
        if not url or merchant is None:
            log.warning("not sending %s: no notify URL or unknown merchant %s", event_type, merchant_id)
            return
        # Config changes made after construction (e.g. a test slowing retries down) apply at once.
        self.notifier.time_scale = self.config.notify_time_scale
        self.notifier.timeout_s = self.config.notify_timeout_s
        body = encode_json({"eventType": event_type, "result": result})
        headers = {"Content-Type": "application/json", signing.SIGNATURE_HEADER: self.sign(body)}
        self.notifier.submit(
            OutboundNotification(
                id=self.notifier.new_id(),
                url=url,
                event_type=event_type,
                body=body,
                headers=headers,
                judge=reply_judge(merchant.public_key),
                created_at=self.timestamp(),
                owner=merchant_id,
            )
        )

    async def drain_notifications(self, timeout_s: float = 10.0) -> bool:
        """Wait until no notification is queued, in flight or waiting for a retry.

        Returns True when drained, False when `timeout_s` passed first.
        """
        return await self.notifier.drain(timeout_s)

    # -- deferred completions and background work -----------------------------------------------

    def later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Run `callback` after `delay_s` seconds of real time on the running loop."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            callback()

        handle = loop.call_later(delay_s, fire)
        self._timers.add(handle)

    def ensure_background(self) -> None:
        """Start delivery and the expiry sweeper on the running loop if they are not running."""
        self.notifier.start()
        if self._pending_completions:
            self._resume_completions()
        loop = asyncio.get_running_loop()
        if self._sweeper is None or self._sweeper.done() or self._sweeper.get_loop() is not loop:
            self._sweeper = loop.create_task(self._sweep(), name="waffo-expiry-sweeper")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.config.expiry_sweep_interval_s)
            try:
                self.expire_due()
            except Exception:  # pragma: no cover - the sweeper must keep running
                log.exception("expiry sweep failed")

    def expire_due(self) -> None:
        """Close unpaid orders and unauthorized subscriptions whose expiry has passed."""
        self.orders.expire_due()
        self.subscriptions.expire_due()

    def reset(self) -> None:
        """Forget every order, refund, subscription, ledger entry, notification and fault.

        Registered merchants and the Waffo key are kept; the clock returns to real time.
        """
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.store.clear_business_state()
        self.ledger.clear()
        self.faults.clear()
        self.notifier.reset()
        self.clock.reset()

    # -- saved state (billing dev keeps it across restarts) ---------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Orders, refunds, subscriptions, the ledger, notifications, queued faults and the clock, as
        picklable data.

        Registered merchants are not part of it (they are registered again at start, with their keys)."""
        business = {
            item.name: getattr(self.store, item.name)
            for item in dataclasses.fields(self.store)
            if item.name != "merchants_by_key"
        }
        return {
            "store": business,
            "ledger": self.ledger.export(),
            "clock": self.clock.offset,
            "notifier": self.notifier.export(),
            "faults": self.faults.export(),
        }

    def restore_state(self, saved: dict[str, Any]) -> None:
        """Load what :meth:`export_state` saved. Captures and refunds that were completing are completed
        after the configured delay again; undelivered notifications are sent again."""
        for name, value in saved["store"].items():
            setattr(self.store, name, value)
        self.ledger.restore(saved["ledger"])
        self.clock.offset = saved["clock"]
        self.faults.restore(saved.get("faults"))

        def judge_for(merchant_id: str) -> Callable[[httpx.Response], str | None] | None:
            merchant = self.store.merchant_by_id(merchant_id)
            return None if merchant is None else reply_judge(merchant.public_key)

        self.notifier.restore(saved["notifier"], judge_for)
        self._pending_completions = [
            *(("capture", order) for order in self.store.orders.values() if order.status == CAPTURE_IN_PROGRESS),
            *(("refund", refund) for refund in self.store.refunds.values() if refund.status == REFUND_IN_PROGRESS),
        ]

    def _resume_completions(self) -> None:
        """Schedule again the captures and refunds a restart interrupted (on the running loop)."""
        pending, self._pending_completions = self._pending_completions, []
        for kind, item in pending:
            if kind == "capture" and self.config.capture_delay_s is not None:
                self.later(self.config.capture_delay_s, functools.partial(self.orders.complete_capture, item))
            elif kind == "refund" and self.config.refund_delay_s is not None:
                self.later(
                    self.config.refund_delay_s, functools.partial(self.orders.complete_refund, item, succeed=True)
                )

    async def aclose(self) -> None:
        """Cancel background tasks and timers and close the owned HTTP client."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        sweeper, self._sweeper = self._sweeper, None
        await cancel_and_wait([sweeper])
        await self.notifier.aclose()
