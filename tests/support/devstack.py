"""A real ``billing dev`` as a child process, for tests that look at the local stack from the outside."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from starter.serving import free_port
from tests.support.processes import wait_for_line


@dataclass
class RunningDevStack:
    proc: subprocess.Popen[str]
    ports: dict[str, int]
    data_dir: Path
    output: str
    #: The environment of a second terminal: no BILLING_* variable at all.
    clean_env: dict[str, str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports['TEMPORAL_PORT']}"

    def cli_env(self, **extra: str) -> dict[str, str]:
        """What a second terminal needs to reach this stack (the codec keys are found by the CLI itself)."""
        return dict(self.clean_env, COLUMNS="200", BILLING_TEMPORAL_ADDRESS=self.address,
                    BILLING_EMULATORS_URL=f"http://127.0.0.1:{self.ports['EMULATOR_PORT']}", **extra)  # fmt: skip

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


@contextlib.contextmanager
def running_dev_stack(data_dir: Path) -> Iterator[RunningDevStack]:
    """``billing dev`` on free loopback ports with its data in ``data_dir``; killed if the test did not stop it."""
    ports = {name: free_port() for name in ("TEMPORAL_PORT", "UI_PORT", "EMULATOR_PORT", "HTTP_PORT")}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    env = dict(clean, BILLING_DEV_DATA_DIR=str(data_dir), COLUMNS="200",
               **{f"BILLING_DEV_{k}": str(v) for k, v in ports.items()})  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "starter.cli", "dev"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        output = wait_for_line(proc, "Ctrl-C", timeout=120)
        yield RunningDevStack(proc, ports, data_dir, output, clean)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
