"""``billing invoice list|show|render|credit-notes``: a subscription's invoices, one invoice (with its credit
notes), an HTML document of it, and the credit notes issued against a subscription's invoices.

An invoice is named by its invoice id (``SUB-7-p2``, ``SUB-7-c1``; the subscription is read from it) or by
its number (``INV-000042``) with ``--subscription``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from billing.invoices import CreditNote, Invoice
from starter.cli_common import JsonOption, billing_client, console, emit, run

app = typer.Typer(help="Invoices of subscriptions: list, show, render as HTML.", no_args_is_help=True)

SubscriptionOption = Annotated[
    str | None, typer.Option("--subscription", help="The subscription (needed to find an invoice by its number)")
]


def _get(invoice: str, subscription: str | None) -> Invoice:
    async def action() -> Invoice:
        return await (await billing_client()).get_invoice(invoice, subscription_id=subscription)

    return run(action)


def _with_notes(invoice: str, subscription: str | None) -> tuple[Invoice, list[CreditNote]]:
    """The invoice and the credit notes issued against it."""

    async def action() -> tuple[Invoice, list[CreditNote]]:
        billing = await billing_client()
        found = await billing.get_invoice(invoice, subscription_id=subscription)
        if found.subscription_id is None:
            return found, []
        return found, await billing.list_credit_notes(found.subscription_id, invoice=found.number)

    return run(action)


@app.command("list")
def invoice_list(
    subscription: Annotated[str, typer.Option("--subscription", help="Subscription id")],
    as_json: JsonOption = False,
) -> None:
    """Every invoice of a subscription, oldest first."""
    from starter.invoice_render import print_invoices

    async def action() -> list[Invoice]:
        return await (await billing_client()).list_invoices(subscription)

    invoices = run(action)
    if as_json:
        sys.stdout.write(json.dumps([i.model_dump(mode="json") for i in invoices], indent=2, sort_keys=True) + "\n")
    else:
        print_invoices(console, invoices)


@app.command("show")
def invoice_show(
    invoice: Annotated[str, typer.Argument(help="Invoice id (SUB-7-p2) or number (INV-000042, with --subscription)")],
    subscription: SubscriptionOption = None,
    as_json: JsonOption = False,
) -> None:
    """One invoice: its lines, totals, payment status and credit notes (--json: the invoice alone; its
    credit notes with ``billing invoice credit-notes``)."""
    from starter.invoice_render import print_invoice

    if as_json:
        found = _get(invoice, subscription)
        emit(found, as_json, lambda: None)
        return
    found, notes = _with_notes(invoice, subscription)
    print_invoice(console, found, notes)


@app.command("render")
def invoice_render(
    invoice: Annotated[str, typer.Argument(help="Invoice id (SUB-7-p2) or number (INV-000042, with --subscription)")],
    html: Annotated[Path, typer.Option("--html", help="Write the invoice as an HTML page to this file")],
    subscription: SubscriptionOption = None,
) -> None:
    """Write a readable HTML invoice (ids, lines, totals, payment status, credit notes; no personal data)."""
    from starter.invoice_render import invoice_html

    found, notes = _with_notes(invoice, subscription)
    html.write_text(invoice_html(found, notes), encoding="utf-8")
    console.print(f"invoice {found.number} written to {html}", highlight=False, soft_wrap=True)


@app.command("credit-notes")
def invoice_credit_notes(
    subscription: Annotated[str, typer.Option("--subscription", help="Subscription id")],
    invoice: Annotated[
        str | None, typer.Option("--invoice", help="Only this invoice's (its number or invoice id)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The credit notes issued against a subscription's invoices (one per refund), oldest first."""
    from starter.invoice_render import print_credit_notes

    async def action() -> list[CreditNote]:
        return await (await billing_client()).list_credit_notes(subscription, invoice=invoice)

    notes = run(action)
    if as_json:
        sys.stdout.write(json.dumps([n.model_dump(mode="json") for n in notes], indent=2, sort_keys=True) + "\n")
    else:
        print_credit_notes(console, notes)
