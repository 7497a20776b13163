"""The workflow→activity boundary is typed: strict mypy refuses a provider call whose argument is not the
activity's, and gives the caller the activity's own result type (``workflows.common.call_provider`` and the
workflows' ``_call`` wrappers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SNIPPET = """
from datetime import timedelta

from activities.payments import PaymentActivities, PaymentCall
from activities.subscriptions import SubscriptionActivities, SubscriptionCall
from billing.gateway import PaymentOutcome, RefundOutcome, SubscriptionOutcome
from workflows.common import INQUIRY_RETRY, call_provider
from workflows.order_flow import OrderFlow
from workflows.subscription_logic import SubscriptionLogic

LIMIT = timedelta(seconds=1)
RETRY = INQUIRY_RETRY


async def right(call: PaymentCall, flow: OrderFlow, logic: SubscriptionLogic, sub: SubscriptionCall) -> None:
    outcome: PaymentOutcome = await call_provider(
        PaymentActivities.inquire_payment, call, timeout=LIMIT, retry=INQUIRY_RETRY, summary="inquiry"
    )
    again: PaymentOutcome = await flow._call(
        PaymentActivities.inquire_payment, call, retry=INQUIRY_RETRY, summary="inquiry"
    )
    status: SubscriptionOutcome = await logic._call(
        SubscriptionActivities.inquire, sub, retry=INQUIRY_RETRY, summary="inquiry"
    )


async def wrong_argument(call: PaymentCall) -> None:
    await call_provider(PaymentActivities.refund, call, timeout=LIMIT, retry=INQUIRY_RETRY, summary="refund")  # L1


async def wrong_result(call: PaymentCall) -> RefundOutcome:
    return await call_provider(PaymentActivities.inquire_payment, call, timeout=LIMIT, retry=RETRY, summary="")  # L2


async def wrong_argument_through_the_order(flow: OrderFlow, call: PaymentCall) -> None:
    await flow._call(PaymentActivities.refund, call, retry=INQUIRY_RETRY, summary="refund")  # L3


async def wrong_result_through_the_subscription(logic: SubscriptionLogic, sub: SubscriptionCall) -> PaymentOutcome:
    return await logic._call(SubscriptionActivities.inquire, sub, retry=INQUIRY_RETRY, summary="inquiry")  # L4
"""


@pytest.mark.timeout(300)
def test_mypy_checks_provider_calls(tmp_path: Path) -> None:
    module = tmp_path / "typed_calls_snippet.py"
    module.write_text(SNIPPET)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),  # the one `make test` and `make lint` fill
            str(module),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    report = done.stdout
    lines = SNIPPET.splitlines()
    flagged = {int(line.split(":")[1]) for line in report.splitlines() if ": error:" in line}
    expected = {number for number, text in enumerate(lines, start=1) if "# L" in text}
    assert len(expected) == 4
    assert flagged == expected, report
