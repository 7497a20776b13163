"""Start-up check of the merchant's Waffo contract: the pay methods the engine offers exist and are open.

``BILLING_WAFFO_PAY_METHODS`` lists what the engine sends as ``paymentInfo.payMethodType`` (e.g.
``CREDITCARD``) or names directly (e.g. ``DANA``). Each entry must match at least one ``payMethodDetails``
row of ``paymethodconfig/inquiry`` (by type or name) that is available, and whose amount range is usable
(``orderAmountMin`` <= ``orderAmountMax``). ``BILLING_WAFFO_MIN_ORDER_AMOUNT`` (e.g. ``USD 1.00``), when
set, must fit the range of at least one matching row in its currency (methods with no row in that currency,
such as an IDR e-wallet, are not judged by it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from billing.errors import ConfigurationError, ProviderError
from billing.money import Money
from billing.settings import load
from providers.base import PaymentProvider
from providers.waffo.results import PayMethodAvailability, PayMethodConfig
from providers.waffo.settings import WaffoSettings

log = logging.getLogger("billing.worker")


def _matches(method: PayMethodAvailability, wanted: str) -> bool:
    key = wanted.strip().upper()
    return key in {(method.pay_method_type or "").upper(), (method.pay_method_name or "").upper()}


def pay_method_problems(config: PayMethodConfig, wanted: Sequence[str], *, amount: Money | None = None) -> list[str]:
    """What is wrong with the contract for ``wanted`` (empty: nothing). A refused look-up is one problem."""
    if config.failure is not None:
        return [f"paymethodconfig/inquiry was refused ({config.failure.code}: {config.failure.message})"]
    problems: list[str] = []
    for entry in (item.strip() for item in wanted if item.strip()):
        rows = [method for method in config.pay_methods if _matches(method, entry)]
        if not rows:
            problems.append(f"pay method {entry} is not in the merchant's Waffo contract")
            continue
        open_rows = [method for method in rows if method.available]
        if not open_rows:
            problems.append(f"pay method {entry} is in the contract but not available (currentStatus 0)")
            continue
        for method in open_rows:
            low, high = method.min_amount, method.max_amount
            if low is not None and high is not None and low.amount_minor > high.amount_minor:
                problems.append(f"pay method {entry} ({method.pay_method_name}) has orderAmountMin > orderAmountMax")
        in_currency = [method for method in open_rows if method.currency in (None, amount.currency)] if amount else []
        if amount is not None and in_currency and not any(method.accepts(amount) for method in in_currency):
            problems.append(f"pay method {entry} takes no order of {amount.to_decimal_string()} {amount.currency}")
    return problems


async def check_contract(client: PaymentProvider, settings: WaffoSettings | None = None) -> None:
    """At the worker's start, that each pay method in BILLING_WAFFO_PAY_METHODS is in the merchant's Waffo
    contract, open, and takes BILLING_WAFFO_MIN_ORDER_AMOUNT. ``warn`` logs each problem; ``fail`` refuses to
    start (ConfigurationError). An unreachable or unanswering Waffo is only logged: it says nothing of the
    contract."""
    from providers.waffo.client import WaffoClient

    settings = settings or load(WaffoSettings)
    wanted = settings.wanted_pay_methods()
    if settings.startup_check == "off" or not wanted or not isinstance(client, WaffoClient):
        return
    amount = settings.check_amount()
    try:
        config = await client.inquire_pay_method_config()
    except ProviderError as exc:
        log.warning("could not check the Waffo contract at start (%s); starting anyway", exc)
        return
    problems = pay_method_problems(config, wanted, amount=amount)
    for problem in problems:
        log.warning("Waffo contract: %s", problem)
    if problems and settings.startup_check == "fail":
        raise ConfigurationError(
            f"the Waffo contract does not fit: {'; '.join(problems)}", setting="BILLING_WAFFO_PAY_METHODS"
        )
    if not problems:
        log.info("Waffo contract offers %s", ", ".join(wanted))
