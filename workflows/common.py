"""Helpers shared by the workflows: how a refused command reaches the caller, and provider calls."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from activities.errors import NOT_DONE_TYPES, NOT_FOUND, NOT_SENT_RETRYABLE, OUTCOME_UNKNOWN
from activities.local_waits import NOT_READY
from billing.errors import InconclusiveCallError, InputError, StaleClockError, UnsupportedOperationError
from billing.events import FEATURES_MEMO
from billing.orders import PROVIDER_HEARTBEAT_TIMEOUT
from billing.queues import is_ledger_task_queue, ledger_task_queue

T = TypeVar("T")

#: The text a task or query failure carries when :func:`clock_now` refused a stale clock.
STALE_CLOCK = "stale workflow clock"
#: The attribute of a run's workflow object that holds its test clock's time (None: not attached).
SIMULATED_NOW = "simulated_now"


@dataclass
class _ClockState:
    length: int = 0
    seen: datetime | None = None


def clock_now() -> datetime:
    """``workflow.now()``, refusing a live activation whose time stayed behind its history; for a run
    attached to a test clock, the clock's time (the run's ``simulated_now``).

    A worker that answers a query for a run it does not hold replays the history, and applies the events
    that came after the last completed workflow task (a timer that fired, a signal) as a live activation
    stamped with the time of that last task: ``workflow.now()`` is then stale, and a decision taken on it
    (is the deadline past?) differs from what any replay of the history decides later: the run no longer
    replays (docs/architecture.md, "Queries and cold workers: a stale clock"). A fresh activation always has a later
    time than every earlier one with a shorter history; one that repeats the time of the last activation
    this run read the clock in, with a longer history, is stale, and is refused here with
    :class:`StaleClockError`. Only live activations are checked; queries and validators read freely.
    """
    current = workflow.now()
    owner = workflow.instance()
    if owner is None:  # the run's object is being built (its __init__): nothing read before
        return current
    simulated: datetime | None = getattr(owner, SIMULATED_NOW, None)
    if simulated is not None:  # attached to a test clock (billing.clocks): its time, not the real one
        return simulated
    if workflow.unsafe.is_read_only():
        return current
    state: _ClockState | None = getattr(owner, "_billing_clock", None)
    if state is None:
        state = _ClockState()
        setattr(owner, "_billing_clock", state)  # noqa: B010 - one state per run, kept on the run's object
    length = workflow.info().get_current_history_length()
    if length > state.length:
        if current == state.seen and not workflow.unsafe.is_replaying():
            raise StaleClockError(
                f"{STALE_CLOCK}: the activation at history event {length} carries the time of event "
                f"{state.length} ({current.isoformat()}); failing the task so the run is replayed afresh"
            )
        state.length, state.seen = length, current
    return current


#: How long a workflow task waits for a workflow of the ledger queue (a number from a sequence, a movement of a
#: customer's balance) before it asks through the ordinary activity: the waiting task holds one of its
#: worker's workflow task slots, which the engine's other workflows need too (the worker also bounds how many
#: wait at once: ``activities.local_waits``).
LEDGER_WAIT = timedelta(seconds=2)
#: The local activity's own bound around :data:`LEDGER_WAIT` (the activity's wait, plus its round trips).
LEDGER_WAIT_TIMEOUT = LEDGER_WAIT + timedelta(seconds=3)


def started_with(feature: str) -> bool:
    """Whether this run was started with ``feature`` in its memo (``billing.events.FEATURES_MEMO``): how a run
    learns, without a marker in its history, that its starter knew the behaviour the feature names."""
    return feature in (workflow.memo_value(FEATURES_MEMO, None, type_hint=list[str]) or ())


#: How a local activity's failure reaches the workflow: its own error, or wrapped, or its timeout.
LOCAL_FAILURES = (ActivityError, ApplicationError, TimeoutError)


async def asked_in_task_first(
    in_task: Callable[[], Awaitable[T]],
    through_activity: Callable[[], Awaitable[T]],
    *,
    falls_back: Callable[[BaseException], bool],
) -> T:
    """``in_task()``, a local activity bounded by :data:`LEDGER_WAIT` (one marker, no workflow task of its
    own); when it fails and ``falls_back(exc)``, ``through_activity()``, which holds no workflow task slot while
    it waits: the same idempotent request (an id, a reference), so asking twice is one allocation or movement.
    A failure ``falls_back`` refuses is raised."""
    try:
        return await in_task()
    except LOCAL_FAILURES as exc:
        if not falls_back(exc):
            raise
    return await through_activity()


def not_ready(exc: BaseException) -> bool:
    """A bounded wait that ran out (its timeout) or was refused or ran out in the activity (``NotReady``),
    not the other workflow's refusal of the request."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return True
        if isinstance(cause, ApplicationError):
            return cause.type == NOT_READY
        cause = cause.__cause__
    return False


def ledger_queue_to_continue_on() -> str | None:
    """The task queue a ledger workflow (an invoice sequence, a customer balance) continues as new on: None (the
    queue it runs on) on a ledger queue; else the ledger queue of the one it runs on (:mod:`billing.queues`), so
    that a run started on the engine's queue before ledger queues existed moves there at its next continue-as-new
    (patch ``ledger-task-queue``: runs that continued as new before replay unchanged)."""
    current = workflow.info().task_queue
    if is_ledger_task_queue(current) or not workflow.patched("ledger-task-queue"):
        return None
    return ledger_task_queue(current)


async def wait_or_time_out(condition: Callable[[], bool], timeout: timedelta, summary: str) -> bool:
    """``workflow.wait_condition`` bounded by ``timeout``: True when ``condition`` held, False when the time ran
    out. A time-out applied in a live activation whose clock is behind the timer's end is stale (see
    :func:`clock_now`; the server fires a timer no sooner than its end, and the task that applies it carries a
    later time): it is refused with :class:`StaleClockError`, so the query or task fails and the run is replayed
    afresh, whether or not the run read the clock in its last task before."""
    end = workflow.now() + timeout
    try:
        await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
    except builtins.TimeoutError:
        now = workflow.now()
        if now < end and not workflow.unsafe.is_replaying() and not workflow.unsafe.is_read_only():
            raise StaleClockError(
                f"{STALE_CLOCK}: a timer of {timeout} that ends at {end.isoformat()} fired in an activation at "
                f"{now.isoformat()}; failing the task so the run is replayed afresh"
            ) from None
        return False
    return True


def rejected(exc: InputError) -> ApplicationError:
    """An ApplicationError the client maps back to the same InputError class, field included."""
    return ApplicationError(exc.reason, exc.field, type=type(exc).__name__, non_retryable=True)


def is_outcome_unknown(exc: ActivityError) -> bool:
    """The activity failed in a way that says nothing about the provider's state."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        if cause.type == NOT_SENT_RETRYABLE:
            # Retried until the retries ran out, every attempt before sending (activities.errors).
            return False
        return cause.type == OUTCOME_UNKNOWN or not cause.non_retryable
    return isinstance(cause, TimeoutError) or cause is None


def is_not_done(exc: ActivityError) -> bool:
    """The call definitely did not take effect: nothing was sent (on every attempt), or the input was refused."""
    cause = exc.cause
    return isinstance(cause, ApplicationError) and cause.type in NOT_DONE_TYPES and not is_outcome_unknown(exc)


def is_not_found(exc: ActivityError) -> bool:
    """The provider answered that it does not know the object looked up (a "no such order" or "no such refund" code)."""
    cause = exc.cause
    return isinstance(cause, ApplicationError) and cause.type == NOT_FOUND


def is_unsupported(exc: ActivityError) -> bool:
    """The provider has no call for this (``billing.errors.UnsupportedOperationError``): asking again is useless."""
    cause = exc.cause
    return isinstance(cause, ApplicationError) and cause.type == UnsupportedOperationError.__name__


def not_found_answer(exc: ActivityError) -> str:
    """The provider's "not found" answer as the activity reported it."""
    cause = exc.cause
    return cause.message if isinstance(cause, ApplicationError) else str(exc)


def describe(exc: BaseException) -> str:
    cause = exc.cause if isinstance(exc, ActivityError) and exc.cause is not None else exc
    return f"{type(cause).__name__}: {cause}"


#: Inquiries only learn something; retrying a failed one soon is harmless.
INQUIRY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=3
)
#: A money-moving call whose outcome is unknown is never retried blindly: the workflow inquires instead.
#: Crashes and timeouts of the activity itself are retried with the same request id, which the provider
#: answers idempotently.
MONEY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
    non_retryable_error_types=[OUTCOME_UNKNOWN],
)


#: For money-moving calls the provider does not deduplicate: one attempt, whatever happens. A crash or a
#: timeout is then an unknown outcome, reconciled or reviewed, never repeated.
SINGLE_SHOT = RetryPolicy(maximum_attempts=1)


#: The activity class, its one argument and its result.
S = TypeVar("S")
A = TypeVar("A")
R = TypeVar("R")
#: A provider activity: an async method of an activity class taking one argument (``PaymentActivities.refund``).
ProviderActivity = Callable[[S, A], Awaitable[R]]


async def call_provider(
    activity: ProviderActivity[S, A, R], call: A, *, timeout: timedelta, retry: RetryPolicy, summary: str
) -> R:
    """Run a provider activity; an inconclusive failure becomes :class:`~billing.errors.InconclusiveCallError`.

    Typed: mypy checks ``call`` against the activity's parameter and gives the caller the activity's result type.
    Every provider activity heartbeats while its call waits (``activities.errors.kept_alive``): an attempt whose
    worker died is given up after ``PROVIDER_HEARTBEAT_TIMEOUT``, not ``timeout``.
    """
    try:
        return await workflow.execute_activity_method(
            activity,
            call,
            start_to_close_timeout=timeout,
            heartbeat_timeout=PROVIDER_HEARTBEAT_TIMEOUT,
            retry_policy=retry,
            summary=summary,
        )
    except ActivityError as exc:
        if is_outcome_unknown(exc):
            raise InconclusiveCallError(describe(exc)) from exc
        raise
