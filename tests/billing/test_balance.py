"""The customer balance ledger (billing/balance.py): exact, never negative, idempotent by reference."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.balance import (
    REFERENCE_KEEP,
    BalanceChange,
    BalanceState,
    Ledger,
    MovementKind,
    balance_workflow_id,
)
from billing.errors import ConflictError, InputError, InvalidAmountError, InvalidStateError
from billing.money import Money

AT = datetime(2026, 1, 1, tzinfo=UTC)
CREDIT, DEBIT, APPLY = MovementKind.CREDIT, MovementKind.DEBIT, MovementKind.APPLY_UP_TO


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


def change(minor: int, reference: str, currency: str = "USD", reason: str = "goodwill") -> BalanceChange:
    return BalanceChange(amount=Money(amount_minor=minor, currency=currency), reason=reason, reference=reference)


def ledger() -> Ledger:
    return Ledger(BalanceState(merchant="m", customer_id="c-1"))


def test_credits_debits_and_apply_up_to_keep_the_balance_equal_to_the_ledger_sum() -> None:
    book = ledger()
    book.apply(CREDIT, change(1000, "r1"), AT)
    book.apply(CREDIT, change(500, "r2", currency="EUR"), AT)
    assert book.apply(DEBIT, change(300, "r3"), AT).amount == usd(-300)
    took = book.apply(APPLY, change(5000, "inv-1"), AT)
    assert took.amount == usd(-700) and took.requested == usd(5000) and took.balance_after == usd(0)
    assert book.balance("USD") == usd(0)
    assert book.balance("EUR") == Money(amount_minor=500, currency="EUR")
    snapshot = book.snapshot()
    assert [m.currency for m in snapshot.balances] == ["EUR", "USD"]
    assert [e.seq for e in snapshot.recent] == [4, 3, 2, 1]
    assert sum(e.amount.amount_minor for e in snapshot.recent if e.amount.currency == "USD") == 0
    assert book.snapshot("EUR").recent[0].reference == "r2"
    assert book.snapshot("JPY").balances == [Money.zero("JPY")]


def test_a_debit_larger_than_the_balance_is_refused_and_moves_nothing() -> None:
    book = ledger()
    book.apply(CREDIT, change(100, "r1"), AT)
    with pytest.raises(InvalidStateError) as refused:
        book.apply(DEBIT, change(101, "r2"), AT)
    assert refused.value.field == "amount"
    assert book.balance("USD") == usd(100)
    with pytest.raises(InvalidStateError):
        book.apply(DEBIT, change(1, "r3", currency="EUR"), AT)  # no balance in that currency


def test_apply_up_to_on_an_empty_balance_takes_nothing_and_records_nothing() -> None:
    book = ledger()
    entry = book.apply(APPLY, change(900, "inv-1"), AT)
    assert entry.amount == usd(0) and entry.seq == 0
    assert book.snapshot().recent == [] and book.state.references == {}


def test_the_same_reference_moves_once_and_another_amount_under_it_is_a_conflict() -> None:
    book = ledger()
    first = book.apply(CREDIT, change(250, "refund-9"), AT)
    assert book.apply(CREDIT, change(250, "refund-9", reason="other words"), AT) == first
    assert book.balance("USD") == usd(250)
    for kind, repeat in ((CREDIT, change(251, "refund-9")), (DEBIT, change(250, "refund-9"))):
        with pytest.raises(ConflictError) as conflict:
            book.apply(kind, repeat, AT)
        assert conflict.value.field == "reference"
    applied = book.apply(APPLY, change(1000, "inv-1"), AT)
    book.apply(CREDIT, change(500, "r2"), AT)
    assert book.apply(APPLY, change(1000, "inv-1"), AT) == applied, "an invoice consumes once"
    assert book.balance("USD") == usd(500)


@pytest.mark.parametrize(
    ("minor", "reason", "reference", "error", "field"),
    [
        (0, "r", "x", InvalidAmountError, "amount"),
        (-5, "r", "x", InvalidAmountError, "amount"),
        (5, "  ", "x", InputError, "reason"),
        (5, "r", "", InputError, "reference"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    minor: int, reason: str, reference: str, error: type[InputError], field: str
) -> None:
    with pytest.raises(error) as refused:
        ledger().apply(CREDIT, change(minor, reference, reason=reason), AT)
    assert refused.value.field == field


def test_bad_ids_are_refused_naming_the_field() -> None:
    assert balance_workflow_id("m", "c-1") == "balance:m:c-1"
    with pytest.raises(InputError) as refused:
        balance_workflow_id("m", "")
    assert refused.value.field == "customer_id"


def test_carry_keeps_the_balances_recent_entries_and_the_latest_references() -> None:
    book = ledger()
    for i in range(REFERENCE_KEEP + 10):
        book.apply(CREDIT, change(1, f"r{i}"), AT)
    carried = Ledger(book.carry())
    assert carried.balance("USD") == usd(REFERENCE_KEEP + 10)
    assert len(carried.state.references) == REFERENCE_KEEP
    assert "r0" not in carried.state.references
    last = f"r{REFERENCE_KEEP + 9}"
    assert carried.apply(CREDIT, change(1, last), AT) == book.state.references[last]
    assert carried.snapshot().entries == REFERENCE_KEEP + 10
    assert carried.snapshot().recent[0].reference == last
