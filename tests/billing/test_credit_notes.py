"""Credit notes for refunds (``billing/credit_notes.py``): one document id per refund, one line at the exact
fraction of what the invoice collected, never more than collected, and bad input names its field."""

from __future__ import annotations

from fractions import Fraction

import pytest
from pydantic import ValidationError

from billing.credit_notes import RefundReport, credit_note_id, invoice_of_order, refund_credit_note
from billing.errors import InputError, InvalidAmountError, InvalidStateError, NotFoundError
from billing.invoices import Invoice, InvoiceLine, InvoiceState, LineKind, transition
from billing.money import Money


def invoice(state: InvoiceState = InvoiceState.PAID) -> Invoice:
    lines = [
        InvoiceLine(
            kind=LineKind.PERIOD,
            description="Basic, period 1",
            period_start="2027-04-01T00:00:00+00:00",
            period_end="2027-05-01T00:00:00+00:00",
            amount=Money.parse("30.00", "USD"),
        ),
        InvoiceLine(kind=LineKind.CREDIT_APPLIED, description="Credit applied", amount=Money.parse("-5.00", "USD")),
    ]
    draft = Invoice.build(
        number="INV-000007", merchant="m", customer_id="c", currency="USD", lines=lines, invoice_id="S-p1",
        order_id="S-p1",
    )  # fmt: skip
    opened = transition(draft, InvoiceState.OPEN)
    return opened if state is InvoiceState.OPEN else transition(opened, state)


def report(refund_id: str, amount: str) -> RefundReport:
    return RefundReport(order_id="S-p1", refund_id=refund_id, amount=Money.parse(amount, "USD"))


def test_a_refund_credits_its_part_of_what_was_collected() -> None:
    paid = invoice()
    note = refund_credit_note(paid, [], report("r1", "10.00"), number="CN-000001")
    (line,) = note.lines
    assert (note.number, note.invoice_number, note.amount, note.currency) == ("CN-000001", "INV-000007", 1000, "USD")
    assert (note.credit_note_id, note.invoice_id, note.order_id, note.refund_id) == ("S-p1:r1", "S-p1", "S-p1", "r1")
    # 25.00 was collected (30.00 less 5.00 of credit): 10.00 is two fifths of it.
    assert (line.kind, Fraction(line.numerator, line.denominator)) == (LineKind.PERIOD, Fraction(2, 5))
    assert line.description == "Refund of INV-000007: Basic, period 1"
    assert (line.period_start, line.period_end) == (paid.lines[0].period_start, paid.lines[0].period_end)
    assert note.reason == "refund r1 of order S-p1"


def test_notes_never_exceed_collected_counting_those_in_flight() -> None:
    paid = invoice()
    first = refund_credit_note(paid, [], report("r1", "20.00"))
    assert refund_credit_note(paid, [first], report("r2", "5.00")).amount == 500
    with pytest.raises(InputError) as refused:
        refund_credit_note(paid, [first], report("r2", "5.01"))
    assert refused.value.field == "amount"


def test_only_a_paid_invoice_is_credited_and_only_the_order_that_collected_it() -> None:
    with pytest.raises(InvalidStateError):
        refund_credit_note(invoice(InvoiceState.OPEN), [], report("r1", "1.00"))
    with pytest.raises(NotFoundError) as missing:
        invoice_of_order([invoice()], "S-p2")
    assert missing.value.field == "order_id"
    assert invoice_of_order([invoice()], "S-p1").number == "INV-000007"


def test_a_report_gives_back_a_positive_amount_and_names_the_field() -> None:
    with pytest.raises(InvalidAmountError) as zero:
        report("r1", "0.00")
    assert zero.value.field == "amount"
    with pytest.raises(ValidationError, match="refund_id"):
        RefundReport(order_id="S-p1", refund_id="", amount=Money.parse("1.00", "USD"))


def test_one_document_id_per_refund_within_the_sequence_limit() -> None:
    assert credit_note_id("S-p1", "r1") == "S-p1:r1"
    long_order, long_refund = "o" * 64, "r" * 64
    document = credit_note_id(long_order, long_refund)
    assert len(document) <= 128 and document.startswith(long_order + ":")
    assert document == credit_note_id(long_order, long_refund)
    assert document != credit_note_id(long_order, "r" * 63 + "s")
