"""``billing invoice list|show|render``: a subscription's invoices, one invoice, and an HTML document of it.

An invoice is named by its invoice id (``SUB-7-p2``, ``SUB-7-c1``; the subscription is read from it) or by
its number (``INV-000042``) with ``--subscription``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from billing.invoices import Invoice
from starter.cli_common import JsonOption, billing_client, console, emit, run

app = typer.Typer(help="Invoices of subscriptions: list, show, render as HTML.", no_args_is_help=True)

SubscriptionOption = Annotated[
    str | None, typer.Option("--subscription", help="The subscription (needed to find an invoice by its number)")
]


def _get(invoice: str, subscription: str | None) -> Invoice:
    async def action() -> Invoice:
        return await (await billing_client()).get_invoice(invoice, subscription_id=subscription)

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
    """One invoice: its lines, totals and payment status."""
    from starter.invoice_render import print_invoice

    found = _get(invoice, subscription)
    emit(found, as_json, lambda: print_invoice(console, found))


@app.command("render")
def invoice_render(
    invoice: Annotated[str, typer.Argument(help="Invoice id (SUB-7-p2) or number (INV-000042, with --subscription)")],
    html: Annotated[Path, typer.Option("--html", help="Write the invoice as an HTML page to this file")],
    subscription: SubscriptionOption = None,
) -> None:
    """Write a readable HTML invoice (ids, lines, totals, payment status; no personal data)."""
    from starter.invoice_render import invoice_html

    found = _get(invoice, subscription)
    html.write_text(invoice_html(found), encoding="utf-8")
    console.print(f"invoice {found.number} written to {html}", highlight=False, soft_wrap=True)
