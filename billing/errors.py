"""The single error tree of the billing engine.

Every exception the engine raises on purpose is one of these. Outside exceptions (httpx, cryptography,
pydantic, Temporal) are mapped once, where they enter, to the most specific class here, with
``raise ... from exc`` so the cause is kept.

Declines are *values*, not exceptions: a provider that definitely refused a payment returns an outcome
carrying a :class:`~providers.base.ProviderFailure`. An exception means "this attempt did not conclude"
or "the caller asked for something invalid".

::

    BillingError
    ├── InputError                      bad input from a caller; nothing was changed
    │   ├── MoneyError                  amounts and currencies
    │   │   ├── UnknownCurrencyError
    │   │   ├── InvalidAmountError      not a decimal, float, NaN, too many decimals, <= 0 where positive
    │   │   └── CurrencyMismatchError   arithmetic or comparison across currencies
    │   ├── ConflictError               same idempotency key (order id, refund id) with other parameters
    │   ├── NotFoundError               no such order / subscription / refund
    │   ├── InvalidStateError           operation not allowed in the current state
    │   └── SignatureError              a merchant event's signature header is missing, malformed, stale
    │                                   or does not match the body (starter.events, billing.events)
    ├── ConfigurationError              settings or keys unusable; raised at startup, names the setting
    ├── TemporalUnreachableError        the Temporal frontend did not answer (address, TLS, API key)
    ├── WorkflowBusyError               a read found the workflow's task pending too long (no worker took
    │                                   it); it was not queried: try again
    ├── PayloadCodecError               an encrypted payload cannot be decrypted (billing.codec)
    │   └── UnknownEncryptionKeyError   its key is not in the keyring (BILLING_CODEC_KEYS)
    ├── InconclusiveCallError           inside a workflow: a provider activity failed without concluding
    │                                   (the activity's ``OutcomeUnknown`` failure, a timeout): reconcile
    ├── StaleClockError                 inside a workflow: an activation's time stayed behind its history
    │                                   (workflows.common.clock_now); fails that task or query, never a run
    ├── ProviderError                   talking to a payment provider went wrong
    │   ├── OutcomeUnknownError         the call MAY have taken effect: reconcile by inquiry, never guess
    │   │   ├── ProviderTimeoutError    no complete answer in time
    │   │   ├── ProviderConnectionError the connection failed or broke
    │   │   ├── ProviderServerError     5xx, or a provider "unknown status" code (an E-class code)
    │   │   └── ResponseVerificationError  response signature missing or invalid, or body unreadable
    │   │       └── AnswerMismatchError     a readable answer about another object than the one asked for
    │   ├── ProviderRequestError        the request could not be built or signed; nothing was sent
    │   ├── ProviderUnavailableError    a step before the request failed (token, pre-check); nothing was
    │   │                               sent: try again
    │   └── UnsupportedOperationError   the provider has no such operation
    └── NotificationError               an inbound provider notification is unusable; nothing is signalled
        ├── SignatureVerificationError  missing or invalid signature over the raw body
        ├── MalformedNotificationError  verified, but not the shape the provider documents
        └── NotificationTooLargeError   the body is over the size limit; not read further (413)

``ERRORS`` maps every class of the tree by name (the client maps workflow refusals back with it).
"""

from __future__ import annotations


class BillingError(Exception):
    """Root of every error the engine raises on purpose."""


class InputError(BillingError):
    """Bad input from a caller. ``field`` names the offending input when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class MoneyError(InputError):
    """A problem with an amount or a currency."""


class UnknownCurrencyError(MoneyError):
    """The currency is not an ISO 4217 code the engine knows the exponent of."""


class InvalidAmountError(MoneyError):
    """The amount is not an exact decimal the currency can carry (float, NaN, too many decimals...)."""


class CurrencyMismatchError(MoneyError):
    """Arithmetic or comparison between different currencies."""


class ConflictError(InputError):
    """An idempotency key was reused with different parameters."""


class NotFoundError(InputError):
    """The referenced order, subscription or refund does not exist."""


class InvalidStateError(InputError):
    """The operation is not allowed in the current state (e.g. capture of an unauthorized order)."""


class SignatureError(InputError):
    """A merchant event whose signature header is missing, malformed, stale or does not match."""


class ConfigurationError(BillingError):
    """Settings or keys are unusable. Raised at startup, naming the setting."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(f"{setting}: {message}" if setting else message)
        self.setting = setting


class WorkflowBusyError(BillingError):
    """The workflow had a workflow task pending for longer than a read waits (no worker took it yet), so it
    was not queried: a query then could make a later replay of its history fail (host.temporal.await_quiet).
    Nothing changed; try again once a worker runs."""


class TemporalUnreachableError(BillingError):
    """The Temporal frontend did not answer (wrong address, not started yet, TLS or API key refused)."""


class PayloadCodecError(BillingError):
    """An encrypted payload cannot be decrypted."""


class UnknownEncryptionKeyError(PayloadCodecError):
    """A payload was encrypted with a key that is not in the keyring (BILLING_CODEC_KEYS)."""


class StaleClockError(BillingError):
    """An activation's time did not move although its history did (``workflows.common.clock_now``).

    Never reaches a merchant: raised in workflow code, it fails the workflow task (or the query) it is
    raised in; the worker drops the run from its cache, and the retry replays the history from the start,
    where every activation carries the time of its own events.
    """


class InconclusiveCallError(BillingError):
    """Inside a workflow: a provider activity failed in a way that says nothing about the provider's state
    (its ``OutcomeUnknown`` failure, a timeout, a crash). It may have taken effect: reconcile, never guess.

    The activity side of the same fact is :class:`OutcomeUnknownError`, which crosses into the workflow as an
    ``ApplicationError`` of type ``OutcomeUnknown`` (``activities.errors.OUTCOME_UNKNOWN``).
    """


class ProviderError(BillingError):
    """Talking to a payment provider went wrong. ``provider`` and ``operation`` say where."""

    def __init__(self, message: str, *, provider: str, operation: str) -> None:
        super().__init__(f"{provider} {operation}: {message}")
        self.provider = provider
        self.operation = operation


class OutcomeUnknownError(ProviderError):
    """The call may have taken effect at the provider. Reconcile by inquiry with the same request id."""


class ProviderTimeoutError(OutcomeUnknownError):
    """No complete answer within the timeout."""


class ProviderConnectionError(OutcomeUnknownError):
    """The connection could not be made or broke mid-way."""


class ProviderServerError(OutcomeUnknownError):
    """The provider answered 5xx, or with a code that means "status unknown" (e.g. E0001)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        operation: str,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, operation=operation)
        self.status_code = status_code
        self.code = code


class ResponseVerificationError(OutcomeUnknownError):
    """The response's signature is missing or invalid, or its body cannot be read. Never trusted."""


class AnswerMismatchError(ResponseVerificationError):
    """The answer is about another object (order, request, refund, amount) than the one asked about.

    Never applied: it is no answer about ours, so the caller keeps reconciling. ``field``, ``asked`` and
    ``answered`` say which identifier differed.
    """

    def __init__(self, message: str, *, provider: str, operation: str, field: str, asked: str, answered: str) -> None:
        super().__init__(message, provider=provider, operation=operation)
        self.field = field
        self.asked = asked
        self.answered = answered


class ProviderRequestError(ProviderError):
    """The request could not be built or signed, so nothing was sent."""


class ProviderUnavailableError(ProviderError):
    """A step the request needs first did not conclude (an access token, a pre-check): nothing was sent.

    Transient: trying again later may work. Raised only where the money-moving request itself cannot have
    left the engine; a retry of a call whose earlier attempt may have reached the provider is unknown all
    the same (see ``activities.errors.reconciled_retries``).
    """


class UnsupportedOperationError(ProviderError):
    """The provider does not offer this operation."""


class NotificationError(BillingError):
    """An inbound provider notification is unusable; nothing may be signalled from it."""


class SignatureVerificationError(NotificationError):
    """The notification's signature is missing or does not verify over the raw body."""


class MalformedNotificationError(NotificationError):
    """The notification verified but does not have the documented shape."""


class NotificationTooLargeError(NotificationError):
    """The notification's body is over the size limit; it was not read further."""


def _tree() -> dict[str, type[BillingError]]:
    found: list[type[BillingError]] = [BillingError]
    for cls in found:
        found.extend(sub for sub in cls.__subclasses__() if sub.__module__ == __name__)
    return {cls.__name__: cls for cls in found}


#: Every class of the tree, by name.
ERRORS: dict[str, type[BillingError]] = _tree()
