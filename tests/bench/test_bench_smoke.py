"""A fast slice of the benchmarks (``make bench`` runs them in full): each script runs end to end on a few
workflows, as its own process, and reports figures that hold together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_orders_benchmark() -> None:
    data = run("bench_orders.py", "--orders", "12", "--concurrency", "4", "--warmup", "2", "--rounds", "2")
    assert data["failed_orders"] == 0
    assert data["order_phase"]["completed"] == 12 and data["baseline_phase"]["completed"] == 12
    assert data["ratio"] == data["order_phase"]["per_s"] / data["baseline_phase"]["per_s"]
    assert 10 <= data["history"]["events_to_paid_max"] <= 30
    assert data["latency"]["webhook_receipt_to_paid_event"]["n"] == 12


def test_subscriptions_benchmark() -> None:
    data = run("bench_subscriptions.py", "--subscriptions", "8", "--warmup", "2", "--concurrency", "4")
    assert data["renewal"]["settled"] == 8
    assert 5 <= data["history"]["events_per_renewal_max"] <= 15
    assert data["memory"]["active_kb"]["VmRSS"] > 0


def test_cache_floor_benchmark() -> None:
    data = run("bench_cache_floor.py", "--runs", "100", "--concurrency", "20")
    assert data["runs"] == 100
    assert data["kb_per_run"] > 0, "a hundred cached runs take some memory"
