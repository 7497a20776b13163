"""``billing customer balance|credit``: a customer's credit balance in each currency and its ledger.

Amounts are given in major units (``--amount 12.50 --currency USD``), parsed exactly like every other amount
of the CLI (:meth:`billing.money.Money.parse`). A credit is idempotent by ``--reference``: the same reference
again moves nothing and shows the first entry. Without one, a fresh reference is made and printed, so the
same credit can be repeated safely with it.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from billing.balance import DEFAULT_MERCHANT, CustomerBalance, LedgerEntry
from billing.money import Money
from starter.cli_common import JsonOption, billing_client, console, emit, run
from starter.render import print_fields, print_table

app = typer.Typer(help="Customers: credit balance per currency and its ledger.", no_args_is_help=True)

MerchantOption = Annotated[
    str, typer.Option("--merchant", help="Whose customer (the worker's BILLING_WORKER_INVOICE_MERCHANT)")
]


def ledger_table(entries: list[LedgerEntry]) -> Table:
    table = Table(title="Ledger (newest first)", title_justify="left")
    for column in ("#", "When", "Movement", "Amount", "Balance after", "Reason", "Reference"):
        table.add_column(column, no_wrap=True)
    for entry in entries:
        table.add_row(
            str(entry.seq),
            f"{entry.at:%Y-%m-%d %H:%M} UTC",
            entry.kind.value,
            str(entry.amount),
            str(entry.balance_after),
            entry.reason,
            entry.reference,
        )
    return table


def print_balance(out: Console, balance: CustomerBalance) -> None:
    shown = ", ".join(str(m) for m in balance.balances) or "nothing"
    print_fields(
        out,
        [("Customer", balance.customer_id), ("Merchant", balance.merchant), ("Balance", shown)],
    )
    if balance.recent:
        print_table(out, ledger_table(balance.recent))


@app.command("balance")
def customer_balance(
    customer: Annotated[str, typer.Argument(help="Customer id")],
    currency: Annotated[str | None, typer.Option("--currency", help="Only this currency, e.g. USD")] = None,
    merchant: MerchantOption = DEFAULT_MERCHANT,
    as_json: JsonOption = False,
) -> None:
    """The customer's balance in each currency and the latest ledger entries."""

    async def action() -> CustomerBalance:
        return await (await billing_client()).get_balance(customer, currency=currency, merchant=merchant)

    balance = run(action)
    emit(balance, as_json, lambda: print_balance(console, balance))


@app.command("credit")
def customer_credit(
    customer: Annotated[str, typer.Argument(help="Customer id")],
    amount: Annotated[str, typer.Option("--amount", help="Decimal amount in major units, e.g. 10.00")],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 currency, e.g. USD")],
    reason: Annotated[str, typer.Option("--reason", help="Why the customer is credited (kept in the ledger)")],
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="Idempotency reference: the same one again credits nothing more"),
    ] = None,
    merchant: MerchantOption = DEFAULT_MERCHANT,
    as_json: JsonOption = False,
) -> None:
    """Credit the customer's balance; its next invoices in that currency consume it first."""
    reference = reference if reference is not None else f"manual-{uuid.uuid4().hex[:16]}"

    async def action() -> LedgerEntry:
        money = Money.parse(amount, currency, field="amount")
        client = await billing_client()
        return await client.credit_balance(customer, money, reason=reason, reference=reference, merchant=merchant)

    entry = run(action)
    emit(
        entry,
        as_json,
        lambda: console.print(
            f"credited {entry.amount} to {customer}: balance {entry.balance_after} (reference {entry.reference})",
            highlight=False,
            soft_wrap=True,
        ),
    )
