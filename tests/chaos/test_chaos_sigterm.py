"""A chaos run stopped from outside (SIGTERM: a CI job's timeout, the slice test's) stops its stack first: the
dev server, the emulators, the HTTP service and the worker run in sessions of their own and would otherwise
outlive it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.stack.test_dev_stack import _alive, _children

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_stops_the_run_and_every_process_of_its_stack(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "chaos.py"), "--json", "--data-dir", str(tmp_path / "stack"),
         "--seed", "3", "--orders", "3", "--subscriptions", "1", "--duration", "120", "--settle", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        children: list[int] = []
        while time.monotonic() < deadline and len(children) < 4 and proc.poll() is None:
            time.sleep(0.5)
            children = _children(proc.pid)
        assert len(children) >= 4, f"the stack did not start: {children}"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, stderr[-3000:]
    assert "stopped (SIGTERM)" in stderr.replace("\n", " ") or "was stopped" in stderr, stderr[-3000:]
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)], "a process of the stack outlived the run"
