"""The one place where errors become Temporal ``ApplicationError``s.

Adapters classify, Temporal retries: activities never loop. The error ``type`` is the engine's class
name, so workflows choose per call site (``non_retryable_error_types``) what a retry means:

* ``OutcomeUnknown``: the provider call may have taken effect. Money-moving call sites do NOT retry it;
  the workflow reconciles by inquiry with the same request id. Inquiry call sites retry it.
* ``ProviderUnavailableError``: nothing was sent (a token or a pre-check did not conclude); retried.
* everything the caller or the configuration got wrong is non-retryable.

"Not sent" is a statement about one attempt. A retry of a money-moving call whose earlier attempt may have
reached the provider (it timed out, the worker died) is unknown for the call as a whole, whatever the retry
itself ran into: :func:`reconciled_retries` turns its "not sent" into ``OutcomeUnknown``.

Every provider activity is :func:`kept_alive`: it heartbeats while its call waits, so a worker that dies
mid-call is noticed within ``PROVIDER_HEARTBEAT_TIMEOUT`` instead of the call limit.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from billing.errors import (
    BillingError,
    ConfigurationError,
    InputError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailableError,
    UnsupportedOperationError,
)
from billing.orders import PROVIDER_HEARTBEAT_EVERY

OUTCOME_UNKNOWN = "OutcomeUnknown"
#: A look-up the provider answered with "no such object" (``billing.errors.NotFoundError``).
NOT_FOUND = NotFoundError.__name__


def _input_errors() -> list[type[InputError]]:
    found: list[type[InputError]] = [InputError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


#: Nothing was sent and trying again may work (``ProviderUnavailableError``): Temporal retries it; when the
#: retries run out, the workflow takes it as a definite "not sent".
NOT_SENT_RETRYABLE = ProviderUnavailableError.__name__
#: Errors raised before the money-moving request could leave the engine.
NOT_SENT_ERRORS: tuple[type[BillingError], ...] = (
    ConfigurationError,
    ProviderRequestError,
    ProviderUnavailableError,
)
#: Error types that state the call did not take effect: raised before anything was sent, or a definite
#: refusal of the caller's input (a conflicting idempotency key included). Any other failure of a
#: money-moving call is an unknown outcome.
NOT_DONE_TYPES = frozenset(
    [cls.__name__ for cls in (*NOT_SENT_ERRORS, UnsupportedOperationError)] + [cls.__name__ for cls in _input_errors()]
)
#: Heartbeat details an attempt leaves when it failed without sending: ``(NOT_SENT_MARK, attempt)``.
NOT_SENT_MARK = "not-sent"
#: Heartbeat details of an attempt whose call is in flight: ``(IN_FLIGHT_MARK, attempt)`` (it may have sent).
IN_FLIGHT_MARK = "in-flight"
P = ParamSpec("P")
R = TypeVar("R")


def to_application_error(exc: BillingError) -> ApplicationError:
    if isinstance(exc, OutcomeUnknownError):
        return ApplicationError(str(exc), type=OUTCOME_UNKNOWN, non_retryable=False)
    if isinstance(exc, InputError):
        return ApplicationError(str(exc), exc.field, type=type(exc).__name__, non_retryable=True)
    if isinstance(exc, ConfigurationError | ProviderRequestError | UnsupportedOperationError):
        return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)
    return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=False)


def earlier_attempts_not_sent(info: activity.Info) -> bool:
    """Every earlier attempt of this activity failed before sending (each left its mark in turn)."""
    if info.attempt == 1:
        return True
    details = list(info.heartbeat_details or ())
    return len(details) == 2 and details[0] == NOT_SENT_MARK and details[1] == info.attempt - 1


def reconciled_retries(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """For money-moving activities: a "not sent" is definite only if no earlier attempt may have sent.

    An attempt that fails before sending records that in its heartbeat details, which Temporal hands to
    the next attempt. A retry that finds every earlier attempt marked so keeps its own "not sent"; any
    other retry (an earlier attempt timed out, crashed, or its mark was lost) raises OutcomeUnknown for
    the call instead, so the workflow reconciles by inquiry. A lost mark errs on the safe side.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        info = activity.info()
        clean = earlier_attempts_not_sent(info)
        try:
            return await fn(*args, **kwargs)
        except NOT_SENT_ERRORS as exc:
            if not clean:
                provider = exc.provider if isinstance(exc, ProviderError) else "provider"
                operation = exc.operation if isinstance(exc, ProviderError) else info.activity_type
                raise OutcomeUnknownError(
                    f"attempt {info.attempt} sent nothing ({type(exc).__name__}: {exc}), "
                    "but an earlier attempt may have reached the provider",
                    provider=provider,
                    operation=operation,
                ) from exc
            activity.heartbeat(NOT_SENT_MARK, info.attempt)
            raise

    return wrapper


def translate_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Map the engine's errors raised by an activity body to ApplicationError, keeping the cause."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except BillingError as exc:
            raise to_application_error(exc) from exc

    return wrapper


def kept_alive(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """For provider activities: heartbeat every ``PROVIDER_HEARTBEAT_EVERY`` while the call runs.

    A call answered sooner sends no heartbeat at all. The details say the attempt is in flight, which is not
    the "not sent" mark, so a retry after a lost worker counts the attempt as one that may have sent (see
    :func:`reconciled_retries`, which must wrap this decorator: its mark is the last heartbeat).
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        beating = asyncio.create_task(_heartbeat(activity.info().attempt))
        try:
            return await fn(*args, **kwargs)
        finally:
            beating.cancel()

    wrapper.keeps_alive = True  # type: ignore[attr-defined]
    return wrapper


async def _heartbeat(attempt: int) -> None:
    while True:
        await asyncio.sleep(PROVIDER_HEARTBEAT_EVERY.total_seconds())
        activity.heartbeat(IN_FLIGHT_MARK, attempt)
