"""How the CLI shows invoices: a table of a subscription's invoices, one invoice in full, and a readable
HTML document. Ids, amounts, dates and states only: no personal data (the customer is its id)."""

from __future__ import annotations

from fractions import Fraction
from html import escape

from rich.console import Console
from rich.table import Table
from rich.text import Text

from billing.change_preview import InvoicePreview
from billing.invoices import CreditNote, Invoice, InvoiceLine, InvoiceState
from billing.money import Money
from starter.render import Field, percent_text, print_fields, print_table

_STATE_STYLE = {
    InvoiceState.PAID: "bold green",
    InvoiceState.OPEN: "yellow",
    InvoiceState.DRAFT: "dim",
    InvoiceState.VOID: "red",
    InvoiceState.UNCOLLECTIBLE: "bold red",
}


def _money(invoice: Invoice, amount_minor: int) -> str:
    return str(Money(amount_minor=amount_minor, currency=invoice.currency))


def _quantity(line: InvoiceLine) -> str:
    fraction = Fraction(line.numerator, line.denominator)
    return "1" if fraction == 1 else f"{percent_text(fraction)} of the period"


def _dates(line: InvoiceLine) -> str:
    if line.period_start and line.period_end:
        return f"{line.period_start[:10]} to {line.period_end[:10]}"
    return ""


def _payment_status(invoice: Invoice) -> str:
    if invoice.state is InvoiceState.PAID:
        paid = f"paid {_money(invoice, invoice.amount_paid)}"
        if invoice.settled_at is not None:
            paid += f" on {invoice.settled_at:%Y-%m-%d}"
        return paid + (" (charged by the provider)" if invoice.charged_by_provider else "")
    return {
        InvoiceState.DRAFT: "draft: not issued yet",
        InvoiceState.OPEN: f"open: {_money(invoice, invoice.amount_due)} due",
        InvoiceState.VOID: "void: nothing is due",
        InvoiceState.UNCOLLECTIBLE: f"uncollectible: {_money(invoice, invoice.amount_due)} was not collected",
    }[invoice.state]


def invoices_table(invoices: list[Invoice]) -> Table:
    table = Table(title="Invoices", title_justify="left")
    for column in ("Number", "Invoice", "Period", "Total", "Due", "State", "Order"):
        table.add_column(column, no_wrap=True)
    for invoice in invoices:
        table.add_row(
            invoice.number,
            invoice.invoice_id or "",
            str(invoice.period) if invoice.period is not None else "",
            _money(invoice, invoice.total),
            _money(invoice, invoice.amount_due),
            Text(invoice.state.value, style=_STATE_STYLE[invoice.state]),
            invoice.order_id or ("provider" if invoice.charged_by_provider else ""),
        )
    return table


def print_invoices(console: Console, invoices: list[Invoice]) -> None:
    if not invoices:
        console.print("No invoices yet.")
        return
    print_table(console, invoices_table(invoices))


def invoice_fields(invoice: Invoice) -> list[Field]:
    fields: list[Field] = [
        ("Invoice", invoice.number),
        ("Id", invoice.invoice_id or ""),
        ("State", Text(invoice.state.value, style=_STATE_STYLE[invoice.state])),
        ("Merchant", invoice.merchant),
        ("Customer", invoice.customer_id),
    ]
    if invoice.subscription_id:
        fields.append(("Subscription", invoice.subscription_id))
    if invoice.order_id:
        fields.append(("Order", invoice.order_id))
    if invoice.created_at is not None:
        fields.append(("Issued", f"{invoice.created_at:%Y-%m-%d %H:%M} UTC"))
    fields += [
        ("Subtotal", _money(invoice, invoice.subtotal)),
        ("Discount", _money(invoice, invoice.discount)),
        ("Total", _money(invoice, invoice.total)),
        ("Amount due", _money(invoice, invoice.amount_due)),
        ("Payment", _payment_status(invoice)),
    ]
    return fields


def print_invoice(console: Console, invoice: Invoice, credit_notes: list[CreditNote] | None = None) -> None:
    print_fields(console, invoice_fields(invoice))
    table = Table(title="Lines", title_justify="left")
    for column in ("Description", "Dates", "Quantity", "Amount"):
        table.add_column(column, no_wrap=column != "Description")
    for line in invoice.lines:
        table.add_row(line.description, _dates(line), _quantity(line), str(line.amount))
    print_table(console, table, wrap=("Description",))
    if credit_notes:
        print_table(console, credit_notes_table(credit_notes), wrap=("Reason",))


def _note_amount(note: CreditNote) -> str:
    return str(note.lines[0].amount.model_copy(update={"amount_minor": note.amount}))


def credit_notes_table(notes: list[CreditNote]) -> Table:
    """Credit notes, one row each: number, the invoice credited, amount, the refund it gives back, reason."""
    table = Table(title="Credit notes", title_justify="left")
    for column in ("Number", "Invoice", "Amount", "Refund", "Issued", "Reason"):
        table.add_column(column, no_wrap=column != "Reason")
    for note in notes:
        refund = f"{note.order_id} / {note.refund_id}" if note.order_id and note.refund_id else ""
        issued = f"{note.created_at:%Y-%m-%d}" if note.created_at is not None else ""
        table.add_row(note.number, note.invoice_number, _note_amount(note), refund, issued, note.reason)
    return table


def print_credit_notes(console: Console, notes: list[CreditNote]) -> None:
    if not notes:
        console.print("No credit notes.")
        return
    print_table(console, credit_notes_table(notes), wrap=("Reason",))


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 48rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid #ddd; }
td.amount, th.amount { text-align: right; white-space: nowrap; }
.state { font-weight: bold; text-transform: uppercase; }
.paid { color: #11743a; } .open { color: #946200; } .void, .uncollectible { color: #a21c1c; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { font-weight: bold; }
"""


def invoice_html(invoice: Invoice, credit_notes: list[CreditNote] | None = None) -> str:
    """A self-contained HTML page of the invoice: ids, lines, totals, the payment status and the credit
    notes issued against it."""

    def cell(value: str, css: str = "") -> str:
        return f'<td class="{css}">{escape(value)}</td>' if css else f"<td>{escape(value)}</td>"

    details = [
        ("Merchant", invoice.merchant),
        ("Customer", invoice.customer_id),
        ("Subscription", invoice.subscription_id or ""),
        ("Invoice id", invoice.invoice_id or ""),
        ("Issued", f"{invoice.created_at:%Y-%m-%d %H:%M} UTC" if invoice.created_at else ""),
        ("Currency", invoice.currency),
    ]
    rows = "\n".join(
        "<tr>"
        + cell(line.description)
        + cell(_dates(line))
        + cell(_quantity(line))
        + cell(str(line.amount), "amount")
        + "</tr>"
        for line in invoice.lines
    )
    totals = [
        ("Subtotal", invoice.subtotal),
        ("Discount", -invoice.discount),
        ("Total", invoice.total),
        ("Amount due", invoice.amount_due),
        ("Amount paid", invoice.amount_paid),
    ]
    total_rows = "\n".join(
        f'<tr><th colspan="3">{escape(label)}</th>{cell(_money(invoice, value), "amount")}</tr>'
        for label, value in totals
    )
    detail_rows = "\n".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in details if v)
    notes_section = ""
    if credit_notes:
        note_rows = "\n".join(
            "<tr>"
            + cell(note.number)
            + cell(note.lines[0].description)
            + cell(note.reason)
            + cell(_note_amount(note), "amount")
            + "</tr>"
            for note in credit_notes
        )
        notes_section = (
            "<h2>Credit notes</h2>\n<table>\n<thead><tr><th>Number</th><th>Description</th><th>Reason</th>"
            f'<th class="amount">Amount</th></tr></thead>\n<tbody>\n{note_rows}\n</tbody>\n</table>\n'
        )
    state = invoice.state.value
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Invoice {escape(invoice.number)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Invoice {escape(invoice.number)}</h1>
<p class="state {escape(state)}">{escape(state)}</p>
<dl>
{detail_rows}
</dl>
<table>
<thead><tr><th>Description</th><th>Dates</th><th>Quantity</th><th class="amount">Amount</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot>
{total_rows}
</tfoot>
</table>
<p>Payment status: {escape(_payment_status(invoice))}</p>
{notes_section}</body>
</html>
"""


def print_invoice_preview(console: Console, preview: InvoicePreview | None) -> None:
    """The invoice a plan change would create, line for line (``billing subscription preview-change``);
    nothing when it creates none (a downgrade's credit is carried; a provider charges its new plan itself)."""
    if preview is None:
        return
    table = Table(title=f"Invoice it would create ({preview.invoice_id})", title_justify="left")
    for column in ("Description", "Quantity", "Amount"):
        table.add_column(column, no_wrap=column != "Description")
    for line in preview.lines:
        table.add_row(line.description, _quantity(line), str(line.amount))
    for label, amount in (("Total", preview.total), ("Amount due", preview.amount_due)):
        table.add_row(label, "", str(Money(amount_minor=amount, currency=preview.currency)))
    print_table(console, table, wrap=("Description",))
