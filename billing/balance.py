"""Customer credit balance: a per-customer ledger in each currency. Pure: no I/O, no clock, no Temporal.

One ``CustomerBalanceWorkflow`` per merchant and customer (``workflows/balance.py``, id
:func:`balance_workflow_id`) holds a :class:`Ledger`; every movement is a :class:`LedgerEntry`.

Movements (each one an Update of the workflow, each a :class:`BalanceChange`):

* ``credit``: add ``amount`` (a downgrade's unused part, a refund kept as credit, a goodwill credit);
* ``debit``: take exactly ``amount``; refused (``InvalidStateError`` naming ``amount``) when the balance is smaller;
* ``apply_up_to``: take ``min(balance, amount)`` (what an invoice consumes); may take nothing.

Rules:

* amounts are positive integer minor units; a reason and a reference are required (named in the error);
* the balance of a currency never goes negative;
* **idempotent by reference**: the same reference again returns the entry recorded the first time and moves
  nothing; the same reference with another kind, amount or currency is a ``ConflictError`` naming
  ``reference``. An ``apply_up_to`` that took nothing is answered but not recorded (a zero entry would only
  fill the ledger), so asking again with the same reference may take what was credited since;
* the ledger keeps its recent entries and the references of the last :data:`REFERENCE_KEEP` movements across
  continue-as-new (:meth:`Ledger.carry`); the balances themselves are always carried whole.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from billing.errors import ConflictError, InputError, InvalidAmountError, InvalidStateError
from billing.money import Money

__all__ = [
    "DEFAULT_MERCHANT",
    "REFERENCE_KEEP",
    "BalanceChange",
    "BalanceState",
    "CustomerBalance",
    "Ledger",
    "LedgerEntry",
    "MovementKind",
    "balance_workflow_id",
]

#: Whose customers the balances are when the caller names no merchant (the worker's default merchant too).
DEFAULT_MERCHANT = "default"
#: Entries shown by the ``balance`` query and carried across continue-as-new.
RECENT_KEEP = 50
#: References remembered across continue-as-new: a repeat of one of these moves nothing.
REFERENCE_KEEP = 2000
#: Continue the balance workflow as new once its history passes this many events.
BALANCE_HISTORY_LIMIT = 2000


def balance_workflow_id(merchant: str, customer_id: str) -> str:
    """The one ``CustomerBalanceWorkflow`` of a merchant's customer; InputError naming a bad one."""
    if not merchant or len(merchant) > 64:
        raise InputError("must be 1 to 64 characters", field="merchant")
    if not customer_id.strip() or len(customer_id) > 128:
        raise InputError("must be 1 to 128 characters", field="customer_id")
    return f"balance:{merchant}:{customer_id}"


class MovementKind(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"
    APPLY_UP_TO = "apply_up_to"


class BalanceChange(BaseModel):
    """One movement asked for: ``amount`` > 0, why (``reason``) and the business reference it is idempotent
    by (``downgrade:SUB-7:g2``, an invoice id, a refund id, a merchant's own key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Money
    reason: str = Field(max_length=200)
    reference: str = Field(max_length=128)

    def check(self) -> None:
        """The rules pydantic does not state: InputError naming the field."""
        if self.amount.amount_minor <= 0:
            raise InvalidAmountError("must be greater than zero", field="amount")
        if not self.reason.strip():
            raise InputError("must not be empty", field="reason")
        if not self.reference.strip():
            raise InputError("must not be empty", field="reference")


class LedgerEntry(BaseModel):
    """A movement recorded: ``amount`` is signed (+ credit, - debit), ``requested`` what was asked for."""

    model_config = ConfigDict(frozen=True)

    #: Position in the customer's ledger; 0 for an ``apply_up_to`` that took nothing (not recorded).
    seq: int = Field(ge=0)
    kind: MovementKind
    reference: str
    reason: str
    amount: Money
    requested: Money
    balance_after: Money
    at: datetime


class BalanceState(BaseModel):
    """What one run of the balance workflow hands the next (and what a new one starts from)."""

    merchant: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=128)
    #: Balance per currency, in minor units.
    balances: dict[str, int] = Field(default_factory=dict)
    #: The latest entries, oldest first (at most :data:`RECENT_KEEP`).
    recent: list[LedgerEntry] = Field(default_factory=list)
    #: Entries by reference, for idempotency (at most :data:`REFERENCE_KEEP` carried over).
    references: dict[str, LedgerEntry] = Field(default_factory=dict)
    #: The last entry's sequence number over the customer's whole ledger.
    last_seq: int = 0
    history_limit: int = BALANCE_HISTORY_LIMIT


class CustomerBalance(BaseModel):
    """The ``balance`` query's answer: every currency's balance and the latest entries, newest first."""

    merchant: str
    customer_id: str
    balances: list[Money]
    recent: list[LedgerEntry]
    entries: int

    def of(self, currency: str) -> Money:
        return next((m for m in self.balances if m.currency == currency), Money.zero(currency))


class Ledger:
    """The ledger of one customer; the workflow serializes calls, so a check and its apply never interleave."""

    def __init__(self, state: BalanceState) -> None:
        self.state = state.model_copy(deep=True)

    def balance(self, currency: str) -> Money:
        return Money(amount_minor=self.state.balances.get(currency, 0), currency=currency)

    def check(self, kind: MovementKind, change: BalanceChange) -> LedgerEntry | None:
        """The entry this change repeats (None for a new one); InputError if it cannot be applied."""
        change.check()
        known = self.state.references.get(change.reference)
        if known is not None:
            if known.kind is not kind or known.requested != change.amount:
                raise ConflictError(
                    f"{change.reference!r} already moved {known.requested} as {known.kind.value}", field="reference"
                )
            return known
        if kind is MovementKind.DEBIT and self.balance(change.amount.currency) < change.amount:
            raise InvalidStateError(
                f"{change.amount} is more than the balance of {self.balance(change.amount.currency)}", field="amount"
            )
        return None

    def apply(self, kind: MovementKind, change: BalanceChange, at: datetime) -> LedgerEntry:
        """Apply ``change`` (after :meth:`check`) and return its entry; a repeat returns the first entry."""
        known = self.check(kind, change)
        if known is not None:
            return known
        currency = change.amount.currency
        held = self.state.balances.get(currency, 0)
        if kind is MovementKind.CREDIT:
            delta = change.amount.amount_minor
        elif kind is MovementKind.DEBIT:
            delta = -change.amount.amount_minor
        else:
            delta = -min(held, change.amount.amount_minor)
        after = held + delta
        assert after >= 0, "a balance never goes negative"
        entry = LedgerEntry(
            seq=self.state.last_seq + 1 if delta else 0,
            kind=kind,
            reference=change.reference,
            reason=change.reason.strip(),
            amount=Money(amount_minor=delta, currency=currency),
            requested=change.amount,
            balance_after=Money(amount_minor=after, currency=currency),
            at=at,
        )
        if delta == 0:
            return entry  # nothing taken: answered, not recorded
        self.state.last_seq = entry.seq
        self.state.balances[currency] = after
        self.state.references[change.reference] = entry
        self.state.recent = [*self.state.recent[-(RECENT_KEEP - 1) :], entry]
        return entry

    def snapshot(self, currency: str | None = None) -> CustomerBalance:
        currencies = sorted(c for c in self.state.balances if currency in (None, c))
        if currency is not None and currency not in currencies:
            currencies = [currency]
        return CustomerBalance(
            merchant=self.state.merchant,
            customer_id=self.state.customer_id,
            balances=[self.balance(c) for c in currencies],
            recent=[e for e in reversed(self.state.recent) if currency in (None, e.amount.currency)],
            entries=self.state.last_seq,
        )

    def carry(self) -> BalanceState:
        """The state the next run starts from: balances whole, the latest entries and references."""
        kept = sorted(self.state.references.values(), key=lambda e: e.seq)[-REFERENCE_KEEP:]
        return self.state.model_copy(update={"references": {e.reference: e for e in kept}}, deep=True)
