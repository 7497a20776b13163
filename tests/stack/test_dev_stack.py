"""`billing dev` starts the local stack on the configured ports and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from billing import search_attributes
from tests.support.devstack import running_dev_stack


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent has not reaped it yet).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


async def test_dev_stack_starts_and_stops_cleanly(tmp_path: Path) -> None:
    with running_dev_stack(tmp_path / "dev", env=os.environ) as running:
        ports, output, proc = running.ports, running.output, running.proc
        assert f"127.0.0.1:{ports['UI_PORT']}" in output
        children = _children(proc.pid)
        assert children, "the Temporal dev server should run as a child process"

        client = await Client.connect(f"127.0.0.1:{ports['TEMPORAL_PORT']}")
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
        for key in search_attributes.ALL:
            assert key.name in listed.custom_attributes, key.name

        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{ports['EMULATOR_PORT']}/healthz")
            assert health.status_code == 200
            ui = await http.get(f"http://127.0.0.1:{ports['UI_PORT']}/")
            assert ui.status_code == 200
        assert (tmp_path / "dev" / "temporal.db").exists()
        assert (tmp_path / "dev" / "keys" / "merchant.key").stat().st_mode & 0o077 == 0

        assert running.stop() == 0
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in children), "a child outlived billing dev"


def test_cli_help_lists_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "starter.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, COLUMNS="120"),
    )
    assert result.returncode == 0
    assert "dev" in result.stdout and "emulators" in result.stdout


@pytest.mark.parametrize("argv", [["order"], ["dev", "--temporal-port", "notaport"]])
def test_cli_bad_usage_exits_non_zero(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "starter.cli", *argv], capture_output=True, text=True, check=False)
    assert result.returncode != 0
