"""`billing invoice list|show|render|credit-notes` on a real `billing dev`, the CLI as a subprocess: the
invoice of a WaafiPay wallet subscription's first period, found by its id and by its number, rendered as
HTML without the customer's phone; a refund of its order gives a credit note that show and render list."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import Cli
from tests.cli.test_output import unique

WALLET = "252611111111"


def test_invoice_list_show_and_render(stack: Cli, tmp_path: Path) -> None:
    subscription_id = unique("SUB-INV")
    stack.json(
        "subscription", "create", "--provider", "waafipay", "--subscription-id", subscription_id,
        "--plan-id", "plan-inv", "--amount", "2.50", "--currency", "USD", "--customer-id", "cust-inv-cli",
        "--customer-phone", WALLET,
    )  # fmt: skip
    invoices = stack.until(
        ["invoice", "list", "--subscription", subscription_id],
        lambda found: len(found) == 1 and found[0]["state"] == "paid",
    )
    invoice = invoices[0]
    assert re.fullmatch(r"INV-\d{6}", invoice["number"])
    assert invoice["invoice_id"] == f"{subscription_id}-p1"
    assert invoice["order_id"] == f"{subscription_id}-p1"
    assert [(line["kind"], line["amount"]["amount_minor"]) for line in invoice["lines"]] == [("period", 250)]
    assert (invoice["total"], invoice["amount_due"], invoice["amount_paid"]) == (250, 250, 250)

    by_id = stack.json("invoice", "show", f"{subscription_id}-p1")
    by_number = stack.json("invoice", "show", invoice["number"], "--subscription", subscription_id)
    assert by_id == by_number == invoice

    table = stack.run("invoice", "list", "--subscription", subscription_id).stdout
    assert invoice["number"] in table and "paid" in table and "2.50 USD" in table
    shown = stack.run("invoice", "show", f"{subscription_id}-p1").stdout
    assert "Amount due" in shown and "2.50 USD" in shown and "paid 2.50 USD" in shown

    page = tmp_path / "invoice.html"
    rendered = stack.run("invoice", "render", f"{subscription_id}-p1", "--html", str(page))
    assert invoice["number"] in rendered.stdout
    html = page.read_text()
    assert html.startswith("<!doctype html>")
    for text in (invoice["number"], "cust-inv-cli", subscription_id, "plan-inv", "2.50 USD", "paid"):
        assert text in html, text
    assert WALLET not in html, "no personal data on the document"

    by_number_alone = stack.run("invoice", "show", invoice["number"], check=False)
    assert by_number_alone.returncode == 2
    assert "subscription_id" in by_number_alone.stderr
    missing = stack.run("invoice", "show", f"{subscription_id}-p9", check=False)
    assert missing.returncode == 2 and "no invoice" in missing.stderr


def test_a_refund_gives_a_credit_note_that_show_render_and_credit_notes_list(stack: Cli, tmp_path: Path) -> None:
    subscription_id = unique("SUB-CN")
    stack.json(
        "subscription", "create", "--provider", "waafipay", "--subscription-id", subscription_id,
        "--plan-id", "plan-cn", "--amount", "2.50", "--currency", "USD", "--customer-id", "cust-cn-cli",
        "--customer-phone", WALLET,
    )  # fmt: skip
    (invoice,) = stack.until(
        ["invoice", "list", "--subscription", subscription_id],
        lambda found: len(found) == 1 and found[0]["state"] == "paid",
    )
    assert stack.json("invoice", "credit-notes", "--subscription", subscription_id) == []
    stack.json("order", "refund", invoice["order_id"], "--amount", "1.00", "--refund-id", "r1", "--reason", "outage")
    (note,) = stack.until(["invoice", "credit-notes", "--subscription", subscription_id], lambda found: len(found) == 1)
    assert re.fullmatch(r"CN-\d{6}", note["number"])
    assert (note["invoice_number"], note["amount"], note["currency"], note["refund_id"], note["reason"]) == (
        invoice["number"], 100, "USD", "r1", "outage",
    )  # fmt: skip
    assert stack.json(
        "invoice", "credit-notes", "--subscription", subscription_id, "--invoice", f"{subscription_id}-p1"
    ) == [note]
    assert stack.json("invoice", "show", f"{subscription_id}-p1") == invoice, "the invoice's JSON is unchanged"

    shown = stack.run("invoice", "show", f"{subscription_id}-p1").stdout
    assert "Credit notes" in shown and note["number"] in shown and "1.00 USD" in shown and "outage" in shown
    listed = stack.run("invoice", "credit-notes", "--subscription", subscription_id).stdout
    assert note["number"] in listed and invoice["number"] in listed
    page = tmp_path / "credited.html"
    stack.run("invoice", "render", f"{subscription_id}-p1", "--html", str(page))
    html = page.read_text()
    assert "Credit notes" in html and note["number"] in html and "1.00 USD" in html
    assert WALLET not in html
