"""The one place where errors become Temporal ``ApplicationError``s.

Adapters classify, Temporal retries: activities never loop. The error ``type`` is the engine's class
name, so workflows choose per call site (``non_retryable_error_types``) what a retry means:

* ``OutcomeUnknown``: the provider call may have taken effect. Money-moving call sites do NOT retry it;
  the workflow reconciles by inquiry with the same request id. Inquiry call sites retry it.
* everything the caller or the configuration got wrong is non-retryable.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from billing.errors import (
    BillingError,
    ConfigurationError,
    InputError,
    OutcomeUnknownError,
    ProviderRequestError,
    UnsupportedOperationError,
)

OUTCOME_UNKNOWN = "OutcomeUnknown"
#: A look-up the provider answered with "no such object" (``billing.errors.NotFoundError``).
NOT_FOUND = "NotFoundError"
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


def translate_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Map the engine's errors raised by an activity body to ApplicationError, keeping the cause."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except BillingError as exc:
            raise to_application_error(exc) from exc

    return wrapper
