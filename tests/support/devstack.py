"""A real ``billing dev`` as a child process, and the ``billing`` CLI run against it, for tests that look at
the local stack from the outside."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from host.serving import free_port
from tests.support.processes import wait_for_line

#: The ports ``billing dev`` takes (``BILLING_DEV_<name>``): each test stack gets free ones.
DEV_PORTS = ("TEMPORAL_PORT", "UI_PORT", "EMULATOR_PORT", "HTTP_PORT")
#: What ``billing dev`` prints once every part answers (and nowhere else: a traceback's source lines hold the
#: markup, not this text).
READY_LINE = "Press Ctrl-C to stop everything."


def run_billing(
    *argv: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``billing ARGV`` as a process, its output captured; with ``check``, AssertionError unless it exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "starter.cli", *argv],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"billing {' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


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

    @property
    def emulators_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['EMULATOR_PORT']}"

    def cli_env(self, **extra: str) -> dict[str, str]:
        """What a second terminal needs to reach this stack (the codec keys are found by the CLI itself)."""
        return dict(self.clean_env, COLUMNS="200", BILLING_TEMPORAL_ADDRESS=self.address,
                    BILLING_EMULATORS_URL=self.emulators_url, **extra)  # fmt: skip

    def stop(self) -> int:
        """Ctrl-C, as a developer stops it; its exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


@contextlib.contextmanager
def running_dev_stack(
    data_dir: Path | None = None,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    argv: tuple[str, ...] = (),
    ports: Mapping[str, int] | None = None,
) -> Iterator[RunningDevStack]:
    """``billing dev`` on free loopback ports, run in ``cwd`` with its data in ``data_dir`` (None: its default,
    ``var/dev`` under ``cwd``), in ``env`` (by default this environment without BILLING_* variables).
    ``ports``: the ones an earlier stack had (a restart), else free ones. Stopped with Ctrl-C at the end if
    the test did not stop it, and killed if that does not end it."""
    ports = dict(ports) if ports is not None else {name: free_port() for name in DEV_PORTS}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    settings = {f"BILLING_DEV_{k}": str(v) for k, v in ports.items()}
    if data_dir is not None:
        settings["BILLING_DEV_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "dev", *argv],
        env=dict(env or clean, COLUMNS="200", **settings),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = wait_for_line(proc, READY_LINE, timeout=120)
        assert proc.poll() is None, f"billing dev exited after it was ready:\n{output}"
        yield RunningDevStack(proc, ports, data_dir or Path(cwd or ".") / "var" / "dev", output, clean)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
