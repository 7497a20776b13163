"""`billing dev` keeps the emulators' state in its data directory: orders and subscriptions made before a
restart can still be refunded, renewed and inquired after it; `billing dev --fresh` starts from nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.devstack import RunningDevStack, run_billing, running_dev_stack


def _json(running: RunningDevStack, *argv: str) -> Any:
    return json.loads(run_billing(*argv, "--json", env=dict(os.environ, **running.cli_env())).stdout)


def _wait_for(running: RunningDevStack, order_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order = _json(running, "order", "show", order_id)
        if order["status"] == status or time.monotonic() > deadline:
            assert order["status"] == status, order["timeline"]
            return dict(order)
        time.sleep(0.3)


def _until(running: RunningDevStack, subscription_id: str, done: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        subscription = _json(running, "subscription", "show", subscription_id)
        if done(subscription) or time.monotonic() > deadline:
            assert done(subscription), subscription["timeline"]
            return dict(subscription)
        time.sleep(0.3)


def test_an_order_paid_before_a_restart_is_refunded_after_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "dev"
    with running_dev_stack(data_dir, env=os.environ) as running:
        env = dict(os.environ, **running.cli_env())
        run_billing("order", "create", "--order-id", "RST-1", "--amount", "10.00", "--currency", "USD",
                    "--customer-id", "c-rst", "--customer-email", "rst@example.com", env=env)  # fmt: skip
        run_billing("emulators", "pay", "waffo", "RST-1", env=env)
        _wait_for(running, "RST-1", "PAID")
        run_billing(
            "subscription", "create", "--subscription-id", "RST-SUB", "--plan-id", "basic", "--amount", "3.00",
            "--currency", "USD", "--customer-id", "c-rst", "--customer-email", "rst@example.com", env=env,
        )  # fmt: skip
        run_billing("emulators", "pay", "waffo", "RST-SUB", "--subscription", env=env)
        _until(running, "RST-SUB", lambda s: s["status"] == "ACTIVE")
        ports = running.ports  # make dev restarts on the same ports: webhooks keep their URLs
        assert running.stop() == 0
    assert (data_dir / "emulators.db").stat().st_mode & 0o077 == 0

    with running_dev_stack(data_dir, env=os.environ, ports=ports) as running:
        assert "emulators.db" in running.output, "the banner says where the emulators' state was restored from"
        ledger = httpx.get(f"{running.emulators_url}/waffo/control/ledger").json()
        assert any(entry["kind"] == "charge" for entry in ledger["entries"]), ledger
        refund = _json(running, "order", "refund", "RST-1", "--amount", "4.00", "--refund-id", "RST-1-r1")
        assert refund["amount"] == {"amount_minor": 400, "currency": "USD"}
        refunded = _wait_for(running, "RST-1", "PARTIALLY_REFUNDED")
        assert refunded["refunds"][0]["status"] == "SUCCEEDED", refunded["timeline"]
        run_billing("emulators", "renew", "waffo", "RST-SUB", env=dict(os.environ, **running.cli_env()))
        _until(running, "RST-SUB", lambda s: s["current_period"] == 2 and s["status"] == "ACTIVE")
        assert running.stop() == 0

    with running_dev_stack(data_dir, env=os.environ, argv=("--fresh",)) as running:
        assert "fresh" in running.output.lower()
        ledger = httpx.get(f"{running.emulators_url}/waffo/control/ledger").json()
        assert ledger["entries"] == []
        shown = run_billing(
            "emulators", "pay", "waffo", "RST-1", env=dict(os.environ, **running.cli_env()), check=False
        )
        assert shown.returncode != 0, "a fresh emulator knows no earlier order"


def test_queued_faults_and_undelivered_webhooks_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "dev"
    with running_dev_stack(data_dir, env=os.environ) as running:
        env = dict(os.environ, **running.cli_env())
        for provider in ("waffo", "kess", "waafipay"):
            run_billing("emulators", "fault", provider, f"RST-F-{provider}", "http-500", "--count", "1000", env=env)
        # A paid order whose webhook is held back for ten minutes: still undelivered when the stack stops.
        run_billing("emulators", "fault", "waffo", "RST-W1", "delay-webhook", "--ms", "600000", env=env)
        run_billing("order", "create", "--order-id", "RST-W1", "--amount", "7.00", "--currency", "USD",
                    "--customer-id", "c-rst", "--customer-email", "rst@example.com", env=env)  # fmt: skip
        run_billing("emulators", "pay", "waffo", "RST-W1", env=env)
        held = httpx.get(f"{running.emulators_url}/waffo/control/notifications").json()["notifications"]
        assert [n["status"] for n in held if "RST-W1" in json.dumps(n)] == ["delayed"], held
        before = json.loads(run_billing("emulators", "faults", "--json", env=env).stdout)
        ports = running.ports
        assert running.stop() == 0

    with running_dev_stack(data_dir, env=os.environ, ports=ports) as running:
        env = dict(os.environ, **running.cli_env())
        after = json.loads(run_billing("emulators", "faults", "--json", env=env).stdout)
        assert after == before, "the queued faults are the same after the restart"
        assert {fault["kind"] for queued in after.values() for fault in queued} == {"http_500"}, after
        created = run_billing("order", "create", "--order-id", "RST-F-waffo", "--amount", "5.00", "--currency",
                              "USD", "--customer-id", "c-rst", "--customer-email", "rst@example.com", "--json",
                              env=env, check=False)  # fmt: skip
        assert created.returncode == 4, created.stdout + created.stderr
        order = json.loads(created.stdout)
        assert order["status"] == "UNKNOWN"
        assert "HTTP 500" in json.dumps(order["timeline"]), order["timeline"]
        left = json.loads(run_billing("emulators", "faults", "waffo", "--json", env=env).stdout)["waffo"]
        assert left[0]["count"] < 1000, "the restored fault is the one the call used up"

        deadline = time.monotonic() + 30
        while True:
            sent = httpx.get(f"{running.emulators_url}/waffo/control/notifications").json()["notifications"]
            mine = [n for n in sent if "RST-W1" in json.dumps(n)]
            if [n["status"] for n in mine] == ["delivered"] or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert [n["status"] for n in mine] == ["delivered"], mine
        assert any("restarted" in note for note in mine[0]["notes"]), mine
        _wait_for(running, "RST-W1", "PAID")
