"""The chaos suite as a test: ``scripts/chaos.py`` run as a subprocess with a fixed seed, its ``--json`` read.

``make test`` runs the fast slice (15 orders, 3 subscriptions, about two minutes): every kind of fault the
suite knows, a SIGKILL of the worker and of the HTTP service, a restart of the Temporal dev server, hostile
callbacks and refund storms, every invariant, every order settled. Its seed draws no WaafiPay hosted page
that is left unpaid, which would take 5 minutes to lapse. ``make test-slow`` runs the bigger slice and the
longer run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from starter.chaos.faults import CATALOG

ROOT = Path(__file__).resolve().parents[2]


def run_chaos(tmp_path: Path, *args: str, timeout: float) -> tuple[int, dict[str, Any], str]:
    """``scripts/chaos.py`` run to its end; past ``timeout``, SIGTERM (the run stops its stack), then SIGKILL."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "chaos.py"), "--json", "--data-dir", str(tmp_path / "stack"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        raise AssertionError(f"the chaos run took over {timeout} s:\n{stderr[-4000:]}") from None
    assert proc.returncode in (0, 1), f"the run itself failed:\n{stderr[-4000:]}"
    return proc.returncode, json.loads(stdout), stderr


def assert_every_kind_of_chaos(report: dict[str, Any]) -> None:
    chaos = report["chaos"]
    assert set(chaos["faults"]) >= {spec.label for spec in CATALOG}, chaos["faults"]
    assert chaos["kills"].get("worker (SIGKILL)", 0) >= 1
    assert chaos["kills"].get("http service (SIGKILL)", 0) >= 1
    assert chaos["restarts"].get("temporal dev server", 0) >= 1
    assert any(label.startswith("redirect:") for label in chaos["hostile"]), chaos["hostile"]
    assert any(label.startswith("forged-webhook:") for label in chaos["hostile"]), chaos["hostile"]
    assert not [label for label in chaos["hostile"] if label.startswith("forged-webhook:2")], "a forgery was accepted"
    assert any(label.startswith("over-refund") for label in chaos["refund_attempts"]), chaos["refund_attempts"]
    assert chaos["events_received"] > 0
    providers = {name.split()[0] for name in report["states"]}
    assert providers >= {"waffo", "kess", "waafipay"}


def violation_summary(report: dict[str, Any]) -> str:
    return "\n".join(f"{v['invariant']} {v['subject']} ({v['provider']}): {v['detail']}" for v in report["violations"])


SLICE_SEED = 20261205
FAST_SEED = 5


@pytest.mark.timeout(480)
def test_chaos_fast_slice_injects_every_kind_of_chaos_keeps_every_invariant_and_settles(tmp_path: Path) -> None:
    code, report, _ = run_chaos(
        tmp_path, "--seed", str(FAST_SEED), "--orders", "15", "--subscriptions", "3", "--duration", "30",
        "--settle", "240", timeout=420,
    )  # fmt: skip
    assert report["run"]["seed"] == FAST_SEED
    assert_every_kind_of_chaos(report)
    assert code == 0 and not report["violations"], violation_summary(report)
    assert report["run"]["settled"], report["run"]["unsettled"]


@pytest.fixture(scope="module")
def slice_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    """One run for the tests below: 45 orders and 6 subscriptions over about two minutes, then as long as a
    WaafiPay subscription whose payer never acts takes to settle: its period's hosted page lapses 5 minutes
    after its create, and the dunning retry's page 5 minutes after that."""
    code, report, _ = run_chaos(
        tmp_path_factory.mktemp("chaos"), "--seed", str(SLICE_SEED), "--orders", "45", "--subscriptions", "6",
        "--duration", "50", "--settle", "780", timeout=1100,
    )  # fmt: skip
    return code, report


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_chaos_slice_injects_every_kind_of_chaos_and_settles(slice_run: tuple[int, dict[str, Any]]) -> None:
    _, report = slice_run
    assert report["run"]["seed"] == SLICE_SEED
    assert report["run"]["orders"] == 45 and report["run"]["subscriptions"] == 6
    assert_every_kind_of_chaos(report)
    assert report["run"]["settled"], report["run"]["unsettled"]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_chaos_slice_keeps_every_invariant(slice_run: tuple[int, dict[str, Any]]) -> None:
    code, report = slice_run
    assert code == 0 and not report["violations"], violation_summary(report)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_chaos_longer_run_keeps_every_invariant(tmp_path: Path) -> None:
    code, report, _ = run_chaos(
        tmp_path, "--seed", "4242", "--orders", "300", "--subscriptions", "60", "--duration", "240",
        "--settle", "400", timeout=1400,
    )  # fmt: skip
    assert_every_kind_of_chaos(report)
    assert code == 0 and not report["violations"], violation_summary(report)
