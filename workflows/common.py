"""Helpers shared by the workflows: how a refused command reaches the caller, and provider calls."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from activities.errors import NOT_DONE_TYPES, NOT_FOUND, NOT_SENT_RETRYABLE, OUTCOME_UNKNOWN
from billing.errors import InputError, UnsupportedOperationError


def rejected(exc: InputError) -> ApplicationError:
    """An ApplicationError the client maps back to the same InputError class, field included."""
    return ApplicationError(exc.reason, exc.field, type=type(exc).__name__, non_retryable=True)


class OutcomeUnknown(Exception):
    """A provider call did not conclude: it may have taken effect. Reconcile, never guess."""


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


async def call_provider(activity: Any, call: Any, *, timeout: timedelta, retry: RetryPolicy, summary: str) -> Any:
    """Run a provider activity; an inconclusive failure becomes :class:`OutcomeUnknown`."""
    try:
        return await workflow.execute_activity_method(
            activity, call, start_to_close_timeout=timeout, retry_policy=retry, summary=summary
        )
    except ActivityError as exc:
        if is_outcome_unknown(exc):
            raise OutcomeUnknown(describe(exc)) from exc
        raise
