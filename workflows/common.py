"""Helpers shared by the workflows: how a refused command reaches the caller, and provider calls."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.errors import OUTCOME_UNKNOWN
    from billing.errors import InputError


def rejected(exc: InputError) -> ApplicationError:
    """An ApplicationError the client maps back to the same InputError class, field included."""
    return ApplicationError(exc.reason, exc.field, type=type(exc).__name__, non_retryable=True)


class OutcomeUnknown(Exception):
    """A provider call did not conclude: it may have taken effect. Reconcile, never guess."""


def is_outcome_unknown(exc: ActivityError) -> bool:
    """The activity failed in a way that says nothing about the provider's state."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return cause.type == OUTCOME_UNKNOWN or not cause.non_retryable
    return isinstance(cause, TimeoutError) or cause is None


def describe(exc: BaseException) -> str:
    cause = exc.cause if isinstance(exc, ActivityError) and exc.cause is not None else exc
    return f"{type(cause).__name__}: {cause}"
