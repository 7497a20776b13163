"""`billing dev` starts the local stack on the configured ports and Ctrl-C leaves no process behind."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from billing import search_attributes
from host.serving import free_port
from host.settings import DevSettings
from starter import devstack
from tests.support.devstack import DEV_PORTS, run_billing, running_dev_stack


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


def test_a_port_in_use_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
        env.update({f"BILLING_DEV_{name}": str(free_port()) for name in DEV_PORTS})
        env.update(BILLING_DEV_EMULATOR_PORT=str(port), BILLING_DEV_DATA_DIR=str(tmp_path / "dev"))
        result = run_billing("dev", env=env, check=False, timeout=60)
    assert result.returncode == 78, result.stdout + result.stderr
    assert f"BILLING_DEV_EMULATOR_PORT: 127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "dev" / "temporal.db").exists(), "nothing should have started"


async def test_the_dev_server_is_started_again_when_it_finds_its_ui_port_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The internal UI port is free when picked, but the dev server's own port picks can take it first; the
    server then exits at once. Here the first pick is a port another socket holds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        held = taken.getsockname()[1]
        picks = iter([held])
        monkeypatch.setattr(devstack, "free_port", lambda host: next(picks, None) or free_port(host))
        settings = DevSettings(data_dir=tmp_path / "dev", temporal_port=free_port())
        stack = devstack.DevStack(settings, console=Console(file=io.StringIO(), width=200))
        (tmp_path / "dev").mkdir()
        try:
            ui_port = await stack._start_temporal(tmp_path / "dev")
            assert ui_port != held
            assert stack.temporal is not None and stack.temporal.running()
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{ui_port}/api/v1/settings")).status_code == 200
        finally:
            if stack.temporal is not None:
                stack.temporal.stop()
    log = (tmp_path / "dev" / "temporal.log").read_text()
    assert f"{held}: bind: address already in use" in log
    assert "starting it again" in stack.console.file.getvalue()  # type: ignore[attr-defined]
