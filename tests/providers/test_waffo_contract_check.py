"""The merchant's Waffo contract, read from Waffo (the emulator over loopback): the worker's start-up check
and ``billing provider config waffo``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from activities.payments import ProviderRegistry
from billing.errors import ConfigurationError
from host.serving import free_port
from providers.waffo.config_check import check_contract
from providers.waffo.settings import WaffoSettings
from starter.cli import app
from tests.support.keys import merchant_keys, waffo_keys
from tests.support.stack import API_KEY, GOODS_URL, MERCHANT_ID, emulator_hub, waffo_client


@pytest.fixture(scope="module")
async def emulator_url() -> AsyncIterator[str]:
    async with emulator_hub() as (_, server):
        yield server.url


def settings(emulator_url: str, **values: object) -> WaffoSettings:
    return WaffoSettings(
        base_url=f"{emulator_url}/waffo/api/v1",
        api_key=SecretStr(API_KEY),
        merchant_id=MERCHANT_ID,
        private_key=SecretStr(merchant_keys().private_b64),
        public_key=waffo_keys().public_b64,
        goods_url=GOODS_URL,
        **values,  # type: ignore[arg-type]
    )


async def check(emulator_url: str, **values: object) -> None:
    providers = ProviderRegistry({"waffo": waffo_client(emulator_url)})
    try:
        await check_contract(providers.get("waffo"), settings(emulator_url, **values))
    finally:
        await providers.aclose()


async def test_offered_methods_pass(emulator_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="billing")
    await check(emulator_url, pay_methods="CREDITCARD, DANA", min_order_amount="USD 1.00", startup_check="fail")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"pay_methods": "OVO"}, "pay method OVO is not in the merchant's Waffo contract"),
        ({"pay_methods": "CC_VISA", "min_order_amount": "USD 60000.00"}, "takes no order of 60000.00 USD"),
        ({"pay_methods": "GCASH", "min_order_amount": "PHP 0.50"}, "takes no order of 0.50 PHP"),
    ],
)
async def test_a_missing_or_unfit_method_stops_a_failing_start(
    emulator_url: str, values: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await check(emulator_url, startup_check="fail", **values)
    assert problem in str(caught.value)
    assert caught.value.setting == "BILLING_WAFFO_PAY_METHODS"


async def test_warn_mode_logs_and_starts(emulator_url: str, caplog: pytest.LogCaptureFixture) -> None:
    await check(emulator_url, pay_methods="OVO")
    assert [r for r in caplog.records if r.levelno == logging.WARNING and "OVO" in r.getMessage()]


async def test_an_unreachable_waffo_does_not_stop_the_start(caplog: pytest.LogCaptureFixture) -> None:
    await check(f"http://127.0.0.1:{free_port()}", pay_methods="OVO", startup_check="fail")
    assert [r for r in caplog.records if "could not check the Waffo contract" in r.getMessage()]


def test_a_bad_amount_setting_is_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        WaffoSettings(min_order_amount="1.00").check_amount()
    assert caught.value.setting == "BILLING_WAFFO_MIN_ORDER_AMOUNT"


def cli_env(emulator_url: str, **extra: str) -> dict[str, str]:
    return {
        "BILLING_WAFFO_BASE_URL": f"{emulator_url}/waffo/api/v1",
        "BILLING_WAFFO_API_KEY": API_KEY,
        "BILLING_WAFFO_MERCHANT_ID": MERCHANT_ID,
        "BILLING_WAFFO_PRIVATE_KEY": merchant_keys().private_b64,
        "BILLING_WAFFO_PUBLIC_KEY": waffo_keys().public_b64,
        "BILLING_WAFFO_GOODS_URL": GOODS_URL,
        **extra,
    }


async def test_cli_prints_the_contract_as_json(emulator_url: str) -> None:
    env = cli_env(emulator_url, BILLING_WAFFO_PAY_METHODS="CREDITCARD")
    result = await asyncio.to_thread(CliRunner().invoke, app, ["provider", "config", "waffo", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["merchantId"] == MERCHANT_ID
    visa = next(m for m in report["payMethods"] if m["payMethodName"] == "CC_VISA")
    assert (visa["payMethodType"], visa["currency"], visa["min"], visa["refundAllowed"]) == (
        "CREDITCARD",
        "USD",
        "0.01 USD",
        True,
    )
    assert (report["checked"], report["problems"]) == (["CREDITCARD"], [])


async def test_cli_table_and_a_problem_exit_non_zero(emulator_url: str) -> None:
    env = cli_env(emulator_url, BILLING_WAFFO_PAY_METHODS="OVO")
    result = await asyncio.to_thread(CliRunner().invoke, app, ["provider", "config", "waffo"], env=env)
    assert result.exit_code == 1
    assert "DANA" in result.stdout and "IDR" in result.stdout
    assert "OVO is not in the merchant's Waffo contract" in result.output


def test_cli_knows_only_waffo_and_names_missing_settings() -> None:
    assert CliRunner().invoke(app, ["provider", "config", "kess"]).exit_code == 2
    result = CliRunner().invoke(app, ["provider", "config", "waffo"], env={"BILLING_WAFFO_API_KEY": ""})
    assert result.exit_code == 78
