"""One real `billing dev` stack for the CLI tests, on ports that are not the defaults.

The CLI runs as a subprocess from the stack's working directory with no ``BILLING_*`` variable at all:
every command has to find the stack through its data directory (``var/dev/env``), as a second terminal does.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.devstack import run_billing, running_dev_stack

REPO = Path(__file__).resolve().parents[2]


def clean_environment(**extra: str) -> dict[str, str]:
    """The test runner's environment without any billing setting, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BILLING_", "OTEL_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


class Cli:
    """`billing` as a merchant or an operator runs it, in the stack's working directory."""

    def __init__(self, cwd: Path, emulators_url: str, temporal_address: str) -> None:
        self.cwd = cwd
        self.emulators_url = emulators_url
        self.temporal_address = temporal_address

    def run(
        self, *argv: str, columns: int | None = 200, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        extra = {"COLUMNS": str(columns)} if columns is not None else {}
        return run_billing(*argv, env=env or clean_environment(**extra), cwd=self.cwd, timeout=90, check=check)

    def json(self, *argv: str, check: bool = True) -> Any:
        return json.loads(self.run(*argv, "--json", check=check).stdout)

    def until(self, argv: list[str], done: Callable[[Any], bool], timeout: float = 30) -> Any:
        """Run ``billing ARGV --json`` until ``done(answer)``; visibility and webhooks are eventually consistent."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.json(*argv)
            if done(answer):
                return answer
            assert time.monotonic() < deadline, f"billing {' '.join(argv)}: {answer}"
            time.sleep(0.3)

    def control(self, provider: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.post(f"{self.emulators_url}/{provider}/control/{path}", json=body or {}, timeout=10)
        response.raise_for_status()
        return response.json()

    def fault(self, provider: str, operation: str, kind: str, count: int = 1) -> None:
        self.control(provider, "faults", {"operation": operation, "kind": kind, "count": count})


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    root = tmp_path_factory.mktemp("cli")
    with running_dev_stack(cwd=root, env=clean_environment()) as running:
        yield Cli(root, emulators_url=running.emulators_url, temporal_address=running.address)
