"""`billing dev` keeps its codec secrets out of sight: not in the UI's public settings, not in any process's
command line, not in files other users can read; and a CLI without the keys says which setting is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.devstack import RunningDevStack, running_dev_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevStack]:
    with running_dev_stack(tmp_path_factory.mktemp("secrets") / "dev") as running:
        yield running


def secrets_of(stack: RunningDevStack) -> list[str]:
    stored = json.loads((stack.data_dir / "keys" / "codec.json").read_text())
    keys = [entry.partition(":")[2] for entry in stored["keys"].split(",")]
    return [stored["auth_token"], *keys]


def descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            pending += [int(child) for child in children.read_text().split()]
    return found


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "starter.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_cli_without_the_codec_keys_names_the_missing_setting(stack: RunningDevStack) -> None:
    created = cli(stack.cli_env(), "order", "create", "--order-id", "NOKEYS-1", "--amount", "10.00",
                  "--currency", "USD", "--customer-id", "c1", "--customer-email", "c1@example.com")  # fmt: skip
    assert created.returncode == 0, created.stderr
    for argv in (["order", "show", "NOKEYS-1"], ["order", "cancel", "NOKEYS-1", "--json"]):
        result = cli(stack.cli_env(BILLING_CODEC_KEYS=""), *argv)
        assert result.returncode == 78, (argv, result.stdout, result.stderr)
        assert "BILLING_CODEC_KEYS" in result.stderr
        assert "Traceback" not in result.stderr and "KeyError" not in result.stderr
        assert result.stdout == ""
