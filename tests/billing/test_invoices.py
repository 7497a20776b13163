"""Invoices and credit notes: hand-computed totals, rounding, states, credit-note limits, properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import CurrencyMismatchError, InputError, InvalidStateError
from billing.invoices import (
    Invoice,
    InvoiceLine,
    InvoiceState,
    LineKind,
    compute_totals,
    credit_note,
    fractional_amount,
    transition,
)
from billing.money import Money


def line(kind: LineKind, minor: int, currency: str = "USD") -> InvoiceLine:
    return InvoiceLine(kind=kind, description=kind.value, amount=Money(amount_minor=minor, currency=currency))


def paid_invoice(minor: int = 1000) -> Invoice:
    inv = Invoice.build(
        number="INV-1", merchant="m1", customer_id="c1", currency="USD", lines=[line(LineKind.PERIOD, minor)]
    )
    return transition(transition(inv, InvoiceState.OPEN), InvoiceState.PAID)


@pytest.mark.parametrize(
    ("lines", "subtotal", "discount", "total", "due"),
    [
        ([(LineKind.PERIOD, 1000)], 1000, 0, 1000, 1000),
        ([(LineKind.PERIOD, 1000), (LineKind.DISCOUNT, -250)], 1000, 250, 750, 750),
        ([(LineKind.PRORATION_CHARGE, 1500), (LineKind.PRORATION_CREDIT, -500)], 1000, 0, 1000, 1000),
        ([(LineKind.PERIOD, 999), (LineKind.ONE_TIME, 1), (LineKind.CREDIT_APPLIED, -400)], 1000, 0, 1000, 600),
        ([(LineKind.PERIOD, 1000), (LineKind.DISCOUNT, -1000)], 1000, 1000, 0, 0),
    ],
)
def test_totals_hand_computed(lines, subtotal, discount, total, due) -> None:
    t = compute_totals([line(k, a) for k, a in lines], "USD")
    assert (t.subtotal, t.discount, t.total, t.amount_due) == (subtotal, discount, total, due)


@pytest.mark.parametrize(
    ("unit", "num", "den", "expected"),
    [(1000, 1, 3, 333), (1000, 2, 3, 667), (1, 1, 2, 0), (3, 1, 2, 2), (3000, 15, 30, 1500), (1000, 0, 7, 0)],
)
def test_fractional_amount_rounds_half_even(unit: int, num: int, den: int, expected: int) -> None:
    assert fractional_amount(Money(amount_minor=unit, currency="USD"), num, den).amount_minor == expected


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(InputError) as e:
        line(LineKind.DISCOUNT, 5)
    assert e.value.field == "amount"
    with pytest.raises(InputError) as e:
        compute_totals([line(LineKind.PERIOD, 100), line(LineKind.PRORATION_CREDIT, -200)], "USD")
    assert e.value.field == "lines"
    with pytest.raises(CurrencyMismatchError):
        compute_totals([line(LineKind.PERIOD, 100, "EUR")], "USD")
    with pytest.raises(InputError) as e:
        Invoice(number="I", merchant="m", customer_id="c", currency="USD", lines=[line(LineKind.PERIOD, 5)], total=4)
    assert e.value.field == "total"
    with pytest.raises(InputError) as e:
        fractional_amount(Money(amount_minor=1, currency="USD"), 1, 0)
    assert e.value.field == "denominator"


def test_paid_is_never_voided_and_void_never_paid() -> None:
    paid = paid_invoice()
    assert paid.amount_paid == 1000
    with pytest.raises(InvalidStateError):
        transition(paid, InvoiceState.VOID)
    void = transition(
        transition(
            paid_invoice().model_copy(update={"state": InvoiceState.DRAFT, "amount_paid": 0}), InvoiceState.OPEN
        ),
        InvoiceState.VOID,
    )
    with pytest.raises(InvalidStateError):
        transition(void, InvoiceState.PAID)
    late = transition(
        transition(
            transition(void.model_copy(update={"state": InvoiceState.DRAFT}), InvoiceState.OPEN),
            InvoiceState.UNCOLLECTIBLE,
        ),
        InvoiceState.PAID,
    )
    assert late.state is InvoiceState.PAID


def test_credit_notes_never_exceed_collected() -> None:
    inv = paid_invoice(1000)
    first = credit_note(inv, [], number="CN-1", lines=[line(LineKind.ONE_TIME, 600)], reason="partial")
    assert first.amount == 600
    with pytest.raises(InputError) as e:
        credit_note(inv, [first], number="CN-2", lines=[line(LineKind.ONE_TIME, 401)], reason="too much")
    assert e.value.field == "amount"
    second = credit_note(inv, [first], number="CN-2", lines=[line(LineKind.ONE_TIME, 400)], reason="rest")
    assert first.amount + second.amount == inv.amount_paid
    opened = transition(
        Invoice.build(number="I2", merchant="m", customer_id="c", currency="USD", lines=[line(LineKind.PERIOD, 5)]),
        InvoiceState.OPEN,
    )
    with pytest.raises(InvalidStateError):
        credit_note(opened, [], number="CN-3", lines=[line(LineKind.ONE_TIME, 1)], reason="unpaid")


_charges = st.lists(
    st.tuples(st.sampled_from([LineKind.PERIOD, LineKind.PRORATION_CHARGE, LineKind.ONE_TIME]), st.integers(0, 10**9)),
    min_size=1,
    max_size=8,
)
_credits = st.lists(
    st.tuples(
        st.sampled_from([LineKind.PRORATION_CREDIT, LineKind.DISCOUNT, LineKind.CREDIT_APPLIED]),
        st.integers(-(10**9), 0),
    ),
    max_size=8,
)


@given(_charges, _credits)
def test_property_totals_add_up(charges, credits) -> None:
    lines = [line(k, a) for k, a in charges + credits]
    try:
        t = compute_totals(lines, "USD")
    except InputError:
        assert sum(a for _, a in charges + credits) < 0
        return
    assert t.amount_due == sum(a for _, a in charges + credits)
    assert t.total == t.subtotal - t.discount
    assert t.amount_due >= 0 and t.discount >= 0


@given(st.integers(1, 10**7), st.lists(st.integers(1, 10**7), max_size=10))
def test_property_credit_notes_never_exceed_collected(paid, asks) -> None:
    inv = paid_invoice(paid)
    notes = []
    for i, ask in enumerate(asks):
        try:
            notes.append(credit_note(inv, notes, number=f"CN-{i}", lines=[line(LineKind.ONE_TIME, ask)], reason="r"))
        except InputError:
            assert sum(n.amount for n in notes) + ask > paid
        assert sum(n.amount for n in notes) <= paid


_ORDER = {
    InvoiceState.DRAFT: 0,
    InvoiceState.OPEN: 1,
    InvoiceState.UNCOLLECTIBLE: 2,
    InvoiceState.PAID: 3,
    InvoiceState.VOID: 3,
}


@given(st.lists(st.sampled_from(list(InvoiceState)), max_size=12))
def test_property_states_never_move_backwards(moves) -> None:
    inv = Invoice.build(number="I", merchant="m", customer_id="c", currency="USD", lines=[line(LineKind.PERIOD, 7)])
    for to in moves:
        before = inv.state
        try:
            inv = transition(inv, to)
        except InvalidStateError:
            continue
        assert _ORDER[inv.state] >= _ORDER[before]
        assert before not in (InvoiceState.PAID, InvoiceState.VOID) or inv.state is before
