"""The workflow side of merchant events: queue on every change, send in order in the background.

A workflow owns an :class:`~billing.events.EventLog` and calls :meth:`EventSender.kick` after recording a
change. One background task sends the outbox oldest first through the ``events.deliver`` activity, which
Temporal retries with backoff for up to three days; an event still refused then is noted in the timeline
and counted as undeliverable, and the next one goes out.

Whether this deployment sends events at all is decided once per run and recorded in its history. An order
learns it from its create call (:class:`activities.payments.CreatedPayment` carries the worker's setting,
see :meth:`EventSender.learned`); otherwise (a subscription, an order whose create outcome is unknown) the
run asks the ``events.enabled`` local activity, which costs an activation and a marker.

Runs started before merchant events existed must replay without that local activity. Runs started since
carry the feature in their memo (:func:`billing.events.features_memo`, set by the client, by a
subscription for the orders it issues and on continue-as-new); a run without it (started by an older
client, or recorded with the first version of this module) falls back to the ``merchant-events`` patch.
The memo costs nothing in history, where the patch costs a marker and an upsert of
``TemporalChangeVersion`` in every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from activities.events import EventActivities
from billing.events import MERCHANT_EVENTS_FEATURE, EventLog
from workflows.common import describe, started_with

#: Histories recorded before merchant events existed replay without them.
EVENTS_PATCH = "merchant-events"

#: Like the big payment providers' own webhook schedules: soon at first, then hourly, for three days.
EVENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10), backoff_coefficient=2.0, maximum_interval=timedelta(hours=1)
)
EVENT_DELIVERY_WINDOW = timedelta(days=3)
EVENT_ATTEMPT_TIMEOUT = timedelta(seconds=30)


def _started_with_events() -> bool:
    return started_with(MERCHANT_EVENTS_FEATURE) or workflow.patched(EVENTS_PATCH)


class EventSender:
    def __init__(self, log: EventLog, note: Callable[[str, str], None]) -> None:
        self.log = log
        self._note = note
        self._enabled: bool | None = None
        self._asking = False
        self._task: asyncio.Task[None] | None = None

    def learned(self, enabled: bool | None) -> None:
        """This deployment's answer, carried by an activity the run made anyway: then nobody asks.

        Ignored if unknown (None) or if the question was already asked: the run keeps its first answer.
        """
        if enabled is not None and self._enabled is None and not self._asking:
            self._enabled = enabled

    def kick(self) -> None:
        """Start sending if anything waits and no sender runs."""
        if self.log.outbox and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._drain())

    async def flushed(self) -> None:
        """Wait until every queued event was delivered, given up on, or dropped (events off)."""
        self.kick()
        await workflow.wait_condition(lambda: not self.log.outbox and (self._task is None or self._task.done()))

    async def _is_enabled(self) -> bool:
        if self._enabled is None:
            self._asking = True
            if not _started_with_events():
                self._enabled = False
            else:
                self._enabled = await workflow.execute_local_activity_method(
                    EventActivities.enabled, start_to_close_timeout=timedelta(seconds=10)
                )
        return self._enabled

    async def _drain(self) -> None:
        if not await self._is_enabled():
            self.log.outbox.clear()
            return
        while self.log.outbox:
            event = self.log.outbox[0]
            try:
                delivery = await workflow.execute_activity_method(
                    EventActivities.deliver,
                    event,
                    start_to_close_timeout=EVENT_ATTEMPT_TIMEOUT,
                    schedule_to_close_timeout=EVENT_DELIVERY_WINDOW,
                    retry_policy=EVENT_RETRY,
                    summary=f"{event.type} #{event.sequence}",
                )
                if delivery.skipped:
                    self._note("event", f"{event.type} {event.id} not sent: {delivery.skipped}")
            except ActivityError as exc:
                self.log.undeliverable += 1
                self._note("event", f"{event.type} {event.id} undeliverable: {describe(exc)}")
            self.log.outbox.pop(0)
