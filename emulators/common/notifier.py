"""Retrying delivery of signed notifications (webhooks) to merchant URLs.

Provider-neutral: the provider builds the body and headers and supplies a `judge` that decides from
the merchant's reply whether the notification was accepted. The notifier delivers first attempts in
submission order, like a provider's webhook fleet: one at a time to each URL (so notifications about
one order, sent to its notify URL, arrive in order), up to `max_in_flight` at once across URLs (so one
slow merchant reply does not hold up every other order). It schedules retries on the provider's delay schedule
(multiplied by `time_scale`, so tests can run a 20-hour schedule in milliseconds) and records every
attempt in a delivery log.

Notification faults come from a `FaultQueue` under the operation name "notify":
`drop` (never sent), `duplicate` (sent twice, as two independent deliveries), `reorder` (held back
and sent right after the next notification, or after `reorder_max_hold_s` if none follows) and `delay`
(first sent after `params.ms` milliseconds, unscaled: a webhook fleet running late; later ones pass it).

All asyncio machinery is created lazily on the running loop, so the notifier works both inside an
ASGI lifespan and in tests that drive the app through `httpx.ASGITransport` without one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx

from emulators.common.background import cancel_and_wait
from emulators.common.clock import Clock
from emulators.common.faults import FaultQueue, references_in

log = logging.getLogger(__name__)

NOTIFY_OPERATION = "notify"
NOTIFY_FAULT_KINDS = frozenset({"drop", "duplicate", "reorder", "delay"})
#: How long a ``delay`` fault holds its notification back when ``params.ms`` is not given.
DEFAULT_DELAY_MS = 5000

# Decides whether a reply acknowledges the notification: None if accepted, else the reason why not.
Judge = Callable[[httpx.Response], "str | None"]

_REPLY_LOG_LIMIT = 2000


@dataclass
class OutboundNotification:
    id: str
    url: str
    event_type: str
    body: bytes
    headers: dict[str, str]
    judge: Judge
    created_at: str
    status: str = "pending"  # pending | held | delayed | retrying | delivered | failed | dropped
    attempts: int = 0
    notes: list[str] = field(default_factory=list)
    #: Whose notification this is (the provider's merchant id): finds the judge again after a restart.
    owner: str = ""

    def to_json(self) -> dict[str, Any]:
        try:
            payload: Any = json.loads(self.body)
        except ValueError:
            payload = self.body.decode("utf-8", "replace")
        return {
            "id": self.id,
            "url": self.url,
            "eventType": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "createdAt": self.created_at,
            "notes": list(self.notes),
            "payload": payload,
        }


@dataclass(frozen=True)
class DeliveryAttempt:
    notification_id: str
    url: str
    event_type: str
    attempt: int
    http_status: int | None
    reply_body: str | None
    accepted: bool
    reason: str | None
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "notificationId": self.notification_id,
            "url": self.url,
            "eventType": self.event_type,
            "attempt": self.attempt,
            "httpStatus": self.http_status,
            "replyBody": self.reply_body,
            "accepted": self.accepted,
            "reason": self.reason,
            "at": self.at,
        }


class RetryingNotifier:
    def __init__(
        self,
        *,
        retry_delays_s: Sequence[float],
        time_scale: float,
        timeout_s: float,
        clock: Clock,
        format_time: Callable[[datetime], str],
        faults: FaultQueue | None = None,
        http_client: httpx.AsyncClient | None = None,
        reorder_max_hold_s: float = 2.0,
        id_prefix: str = "N",
        max_in_flight: int = 16,
    ) -> None:
        self._delays = tuple(retry_delays_s)
        self.time_scale = time_scale
        self.timeout_s = timeout_s
        self._clock = clock
        self._format_time = format_time
        self._faults = faults
        self._client = http_client
        self._owns_client = http_client is None
        self._reorder_max_hold_s = reorder_max_hold_s
        self._id_prefix = id_prefix
        self._ids = itertools.count(1)
        self._last_id = 0

        self.notifications: list[OutboundNotification] = []
        self.log: list[DeliveryAttempt] = []

        self._ready: deque[OutboundNotification] = deque()
        self._held: OutboundNotification | None = None
        self._held_timer: asyncio.TimerHandle | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self.max_in_flight = max_in_flight
        self._in_flight = 0
        self._busy_urls: set[str] = set()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._generation = 0
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None

    @property
    def max_attempts(self) -> int:
        return 1 + len(self._delays)

    def new_id(self) -> str:
        self._last_id = next(self._ids)
        return f"{self._id_prefix}{self._last_id:08d}"

    # -- saved state ----------------------------------------------------------------------------

    #: Statuses of a notification that is still to be sent (first attempt or a retry).
    UNDELIVERED = frozenset({"pending", "held", "delayed", "retrying"})

    def export(self) -> dict[str, Any]:
        """Every notification (without its judge) and the delivery log, for the emulator's saved state."""
        return {
            "last_id": self._last_id,
            "notifications": [
                {name: value for name, value in vars(notification).items() if name != "judge"}
                for notification in self.notifications
            ],
            "log": list(self.log),
        }

    def restore(self, saved: dict[str, Any], judge_for: Callable[[str], Judge | None]) -> None:
        """Load saved notifications; those not yet delivered are queued again (with the judge of their owner,
        ``judge_for(owner)``; one whose owner is unknown now is marked failed)."""
        self._last_id = int(saved["last_id"])
        self._ids = itertools.count(self._last_id + 1)
        self.log = list(saved["log"])
        self.notifications = []
        for fields in saved["notifications"]:
            judge = judge_for(fields.get("owner", ""))
            notification = OutboundNotification(**fields, judge=judge or (lambda _: "unknown merchant"))
            self.notifications.append(notification)
            if notification.status not in self.UNDELIVERED:
                continue
            if judge is None:
                notification.status = "failed"
                notification.notes.append("not sent again after a restart: its merchant is no longer registered")
                continue
            notification.notes.append("queued again after the emulator restarted")
            notification.status = "pending"
            self._ready.append(notification)
        if self._wakeup is not None:
            self._wakeup.set()
        self._update_idle()

    # -- submission -----------------------------------------------------------------------------

    def submit(self, notification: OutboundNotification) -> None:
        """Queue a notification for delivery (must be called on the event loop)."""
        self._bind_loop()
        self.notifications.append(notification)
        fault = (
            self._faults.take(NOTIFY_OPERATION, match_wildcard=False, references=references_in(notification.body))
            if self._faults
            else None
        )
        kind = fault.kind if fault else None
        if kind == "drop":
            notification.status = "dropped"
            notification.notes.append("dropped by fault injection")
            return
        if kind == "reorder" and self._held is None:
            notification.status = "held"
            notification.notes.append("held back by fault injection (reorder)")
            self._held = notification
            loop = self._require_loop()
            self._held_timer = loop.call_later(self._reorder_max_hold_s, self._release_held)
            self._update_idle()
            return
        if kind == "delay":
            delay_ms = fault.params.get("ms", DEFAULT_DELAY_MS) if fault else DEFAULT_DELAY_MS
            notification.status = "delayed"
            notification.notes.append(f"delayed {delay_ms} ms by fault injection")
            self._schedule_retry(notification, float(delay_ms) / 1000)
            return
        self._enqueue(notification)
        if kind == "duplicate":
            duplicate = replace(notification, id=self.new_id(), attempts=0, notes=[f"duplicate of {notification.id}"])
            self.notifications.append(duplicate)
            self._enqueue(duplicate)
        if self._held is not None:
            self._release_held()

    def start(self) -> None:
        """Start the delivery worker on the running loop (optional; submit does it lazily)."""
        self._bind_loop()

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is queued, in flight, held or waiting for a retry.

        A held (reordered) notification is released first. Returns False on timeout.
        """
        self._bind_loop()
        if self._held is not None:
            self._release_held()
        assert self._idle is not None
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def reset(self) -> None:
        """Forget every notification and attempt; cancel pending retries."""
        self._generation += 1
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None
        self._held = None
        self._ready.clear()
        self.notifications.clear()
        self.log.clear()
        self._update_idle()

    async def aclose(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()
        worker, self._worker = self._worker, None
        # The stop flag ends the loop even if a library swallowed the cancellation.
        await cancel_and_wait([worker, *self._deliveries])
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
        self._loop = None

    # -- internals ------------------------------------------------------------------------------

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # First use, or the previous loop is gone: rebuild the loop-bound primitives. Retries
            # that were scheduled on a previous loop are re-queued for immediate delivery.
            self._loop = loop
            self._wakeup = asyncio.Event()
            self._idle = asyncio.Event()
            self._worker = None
            self._in_flight = 0
            self._busy_urls = set()
            self._deliveries = set()
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            if self._owns_client:
                self._client = None
        if self._worker is None or self._worker.done():
            self._stopping = False
            self._worker = loop.create_task(self._run(), name="notification-delivery")
        self._update_idle()

    def _enqueue(self, notification: OutboundNotification) -> None:
        notification.status = "pending"
        self._ready.append(notification)
        if self._wakeup is not None:
            self._wakeup.set()
        self._update_idle()

    def _release_held(self) -> None:
        if self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None
        held, self._held = self._held, None
        if held is not None:
            held.notes.append("released after reordering")
            self._enqueue(held)

    def _update_idle(self) -> None:
        if self._idle is None:
            return
        idle = not self._ready and self._in_flight == 0 and not self._timers and self._held is None
        if idle:
            self._idle.set()
        else:
            self._idle.clear()

    def _client_for_delivery(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient()
            self._owns_client = True
        return self._client

    async def _run(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        loop = asyncio.get_running_loop()
        while not self._stopping:
            notification = self._next_deliverable()
            if notification is None:
                wakeup.clear()
                self._update_idle()
                await wakeup.wait()
                continue
            self._in_flight += 1
            self._busy_urls.add(notification.url)
            task = loop.create_task(self._deliver(notification), name=f"notification-{notification.id}")
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    def _next_deliverable(self) -> OutboundNotification | None:
        """The oldest ready notification whose URL has none in flight, if another may start."""
        if self._in_flight >= self.max_in_flight:
            return None
        for index, notification in enumerate(self._ready):
            if notification.url not in self._busy_urls:
                del self._ready[index]
                return notification
        return None

    async def _deliver(self, notification: OutboundNotification) -> None:
        try:
            await self._attempt(notification)
        except Exception:  # pragma: no cover - defensive: delivery must survive anything
            log.exception("notification delivery crashed")
        finally:
            self._in_flight -= 1
            self._busy_urls.discard(notification.url)
            if self._wakeup is not None:
                self._wakeup.set()
            self._update_idle()

    async def _attempt(self, notification: OutboundNotification) -> None:
        generation = self._generation
        notification.attempts += 1
        attempt = notification.attempts
        http_status: int | None = None
        reply_body: str | None = None
        reason: str | None
        try:
            client = self._client_for_delivery()
            # asyncio.timeout also bounds in-process transports, which ignore httpx timeouts.
            async with asyncio.timeout(self.timeout_s):
                response = await client.post(
                    notification.url,
                    content=notification.body,
                    headers=notification.headers,
                    timeout=self.timeout_s,
                )
            http_status = response.status_code
            reply_body = response.content[:_REPLY_LOG_LIMIT].decode("utf-8", "replace")
            reason = notification.judge(response)
        except TimeoutError:
            reason = f"no reply within {self.timeout_s:g} s"
        except Exception as exc:  # any transport or receiver failure is a failed attempt
            reason = f"{type(exc).__name__}: {exc}"
        if generation != self._generation:
            return
        accepted = reason is None
        self.log.append(
            DeliveryAttempt(
                notification_id=notification.id,
                url=notification.url,
                event_type=notification.event_type,
                attempt=attempt,
                http_status=http_status,
                reply_body=reply_body,
                accepted=accepted,
                reason=reason,
                at=self._format_time(self._clock.now()),
            )
        )
        if accepted:
            notification.status = "delivered"
            return
        log.debug("notification %s attempt %d not accepted: %s", notification.id, attempt, reason)
        if attempt >= self.max_attempts:
            notification.status = "failed"
            notification.notes.append(f"permanently failed after {attempt} attempts")
            return
        notification.status = "retrying"
        self._schedule_retry(notification, self._delays[attempt - 1] * self.time_scale)

    def _schedule_retry(self, notification: OutboundNotification, delay_s: float) -> None:
        loop = self._require_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self._enqueue(notification)

        handle = loop.call_later(delay_s, fire)
        self._timers.add(handle)
        self._update_idle()
