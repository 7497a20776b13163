"""``billing provider config waffo``: what the merchant's Waffo contract allows, from Waffo itself.

Calls ``merchantconfig/inquiry`` and ``paymethodconfig/inquiry`` with the ``BILLING_WAFFO_*`` settings and
prints the limits and every pay method (type, name, country, currency, amount range, refundable,
availability, maintenance windows) as a table, or as JSON with ``--json``. When
``BILLING_WAFFO_PAY_METHODS`` is set, the start-up check's findings (worker.py) follow the table.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from billing import errors
from billing.money import Money
from billing.settings import load
from providers.base import ProviderFailure
from providers.waffo.results import MerchantConfig, PayMethodConfig
from providers.waffo.settings import WaffoSettings
from starter.cli_common import EXIT_CONFIGURATION, EXIT_INPUT, JsonOption, console, err_console, fail

app = typer.Typer(help="What a provider's merchant contract allows.", no_args_is_help=True)


def _money(value: Money | None) -> str | None:
    return None if value is None else f"{value.to_decimal_string()} {value.currency}"


def _failure(failure: ProviderFailure | None) -> dict[str, Any] | None:
    return None if failure is None else {"code": failure.code, "message": failure.message}


def _limits(limits: dict[str, Money]) -> dict[str, str | None]:
    return {currency: _money(amount) for currency, amount in sorted(limits.items())}


def _report(
    merchant: MerchantConfig, methods: PayMethodConfig, wanted: list[str], problems: list[str]
) -> dict[str, Any]:
    return {
        "merchantId": merchant.merchant_id or methods.merchant_id,
        "merchantFailure": _failure(merchant.failure),
        "transactionLimit": _limits(merchant.transaction_limit),
        "totalDailyLimit": _limits(merchant.total_daily_limit),
        "remainingDailyLimit": _limits(merchant.remaining_daily_limit),
        "payMethodFailure": _failure(methods.failure),
        "payMethods": [
            {
                "productName": method.product_name,
                "payMethodType": method.pay_method_type,
                "payMethodName": method.pay_method_name,
                "country": method.country,
                "currency": method.currency,
                "min": _money(method.min_amount),
                "max": _money(method.max_amount),
                "refundAllowed": method.refund_allowed,
                "available": method.available,
                "maintenance": [f"{w.start_rule} -> {w.end_rule}" for w in method.maintenance_windows],
                "maintenanceTimezone": method.maintenance_timezone,
            }
            for method in methods.pay_methods
        ],
        "checked": wanted,
        "problems": problems,
    }


async def _waffo_config() -> dict[str, Any]:
    from providers.waffo import WaffoClient
    from providers.waffo.config_check import pay_method_problems

    settings = load(WaffoSettings)
    amount = settings.check_amount()
    client = WaffoClient.from_settings(settings)
    try:
        merchant = await client.inquire_merchant_config()
        methods = await client.inquire_pay_method_config()
    finally:
        await client.aclose()
    wanted = settings.wanted_pay_methods()
    problems = pay_method_problems(methods, wanted, amount=amount) if wanted else []
    return _report(merchant, methods, wanted, problems)


@app.command("config")
def config(
    provider: Annotated[str, typer.Argument(help="The provider: waffo")],
    as_json: JsonOption = False,
) -> None:
    """Print the merchant's limits and pay methods as the provider states them."""
    if provider != "waffo":
        raise fail(f"no contract look-up for {provider!r} (only waffo has one)", EXIT_INPUT)
    try:
        report = asyncio.run(_waffo_config())
    except errors.ConfigurationError as exc:
        raise fail(str(exc), EXIT_CONFIGURATION) from None
    except errors.ProviderError as exc:
        raise fail(f"Waffo did not answer: {exc}") from None
    if as_json:
        console.print_json(json.dumps(report))
    else:
        _print(report)
    if report["merchantFailure"] or report["payMethodFailure"] or report["problems"]:
        raise typer.Exit(1)


def _print(report: dict[str, Any]) -> None:
    for name in ("merchantFailure", "payMethodFailure"):
        failure = report[name]
        if failure:
            err_console.print(f"[bold red]refused:[/] {failure['code']} {failure['message'] or ''}", highlight=False)
    console.print(f"merchant {report['merchantId'] or '?'}", highlight=False)
    for name, label in (
        ("transactionLimit", "per transaction"),
        ("totalDailyLimit", "daily total"),
        ("remainingDailyLimit", "remaining today"),
    ):
        shown = ", ".join(str(value) for value in report[name].values())
        console.print(f"  {label}: {shown or 'no limit set'}", highlight=False)
    table = Table("product", "type", "name", "country", "currency", "min", "max", "refund", "open", "maintenance")
    for method in report["payMethods"]:
        refund = method["refundAllowed"]
        windows = "; ".join(method["maintenance"])
        table.add_row(
            method["productName"] or "",
            method["payMethodType"] or "",
            method["payMethodName"] or "",
            method["country"] or "",
            method["currency"] or "",
            method["min"] or "",
            method["max"] or "",
            "" if refund is None else ("yes" if refund else "no"),
            "yes" if method["available"] else "no",
            f"{windows} ({method['maintenanceTimezone']})" if windows else "",
        )
    console.print(table)
    for problem in report["problems"]:
        err_console.print(f"[bold yellow]problem:[/] {problem}", highlight=False)
    if report["checked"] and not report["problems"]:
        console.print(f"BILLING_WAFFO_PAY_METHODS ({', '.join(report['checked'])}): all offered", highlight=False)
