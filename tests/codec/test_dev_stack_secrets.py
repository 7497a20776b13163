"""`billing dev` keeps its codec secrets out of sight: not in the UI's public settings, not in any process's
command line, not in files other users can read; and a CLI without the keys says which setting is missing."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from host.devstacks import dev_stack_registry
from tests.support.devstack import RunningDevStack, run_billing, running_dev_stack

#: Left by an earlier version of the stack (world-readable), and a file of the user's own.
OLD_LOG, OWN_FILE = "temporal.log", "notes.txt"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevStack]:
    data_dir = tmp_path_factory.mktemp("secrets") / "dev"
    data_dir.mkdir(mode=0o755)
    for name in (OLD_LOG, OWN_FILE):
        (data_dir / name).write_text("earlier\n")
        (data_dir / name).chmod(0o644)
    with running_dev_stack(data_dir) as running:
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
    return run_billing(*argv, env=env, check=False)


async def test_ui_settings_do_not_hold_the_codec_secrets(stack: RunningDevStack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{stack.ports['UI_PORT']}/api/v1/settings")
    assert response.status_code == 200
    assert response.json()["Codec"]["Endpoint"], "the UI still decodes through a codec endpoint"
    for secret in secrets_of(stack):
        assert secret not in response.text


def test_no_process_of_the_stack_has_a_secret_on_its_command_line(stack: RunningDevStack) -> None:
    record = json.loads(next(dev_stack_registry().glob(f"stack-*-{stack.ports['TEMPORAL_PORT']}.json")).read_text())
    recorded = record["children"]
    assert set(recorded) == {"temporal", "http", "worker"}
    pids = set(descendants(stack.proc.pid)) | set(recorded.values())
    assert set(recorded.values()) <= pids
    for pid in pids:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        for secret in secrets_of(stack):
            assert secret not in argv, f"pid {pid}: {argv!r}"


def test_data_directory_is_private(stack: RunningDevStack) -> None:
    checked = 0
    assert stat.S_IMODE((stack.data_dir / OWN_FILE).stat().st_mode) == 0o644, "not the stack's file: untouched"
    for path in [stack.data_dir, *stack.data_dir.rglob("*")]:
        if path.name == OWN_FILE:
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, f"{path}: {oct(mode)}"
        else:
            assert mode & 0o077 == 0, f"{path}: {oct(mode)}"
        checked += 1
    names = {path.name for path in stack.data_dir.iterdir()}
    assert {"temporal.db", "temporal.log", "worker.log", "http.log", "env", "keys"} <= names
    assert checked > 8


async def test_ui_decodes_with_a_cookie_from_the_printed_link(stack: RunningDevStack) -> None:
    ui = f"http://127.0.0.1:{stack.ports['UI_PORT']}"
    [link] = re.findall(rf"{re.escape(ui)}/codec/session\?key=[A-Za-z0-9_-]+", stack.output)
    async with httpx.AsyncClient() as http:
        endpoint = (await http.get(f"{ui}/api/v1/settings")).json()["Codec"]["Endpoint"]
        assert endpoint == f"{ui}/codec"
        payload = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IkEi"}]}
        headers = {"Origin": ui, "X-Namespace": "default"}
        refused = await http.post(f"{endpoint}/encode", json=payload, headers=headers)
        assert refused.status_code == 401
        wrong = await http.get(f"{ui}/codec/session?key=not-the-key")
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers

        login = await http.get(link)
        assert login.status_code == 303 and login.headers["location"] == "/"
        assert "httponly" in login.headers["set-cookie"].lower()
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        encoded = await http.post(f"{endpoint}/encode", json=payload, headers=headers)
        assert encoded.status_code == 200, encoded.text
        decoded = await http.post(f"{endpoint}/decode", json=encoded.json(), headers=headers)
        assert decoded.json() == payload
        # Another origin cannot use the browser's cookie.
        foreign = await http.post(f"{endpoint}/decode", json=encoded.json(), headers={"Origin": "http://evil.test"})
        assert foreign.status_code == 401
        # The UI itself still works behind the stack's gateway.
        page = await http.get(f"{ui}/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        listed = await http.get(f"{ui}/api/v1/namespaces/default/workflows")
        assert listed.status_code == 200


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


async def test_replay_by_query_on_the_encrypted_stack(stack: RunningDevStack) -> None:
    created = cli(stack.cli_env(), "order", "create", "--order-id", "REPLAY-ENC-1", "--amount", "5.00",
                  "--currency", "USD", "--customer-id", "c2", "--customer-email", "c2@example.com")  # fmt: skip
    assert created.returncode == 0, created.stderr
    query = 'WorkflowId="order-REPLAY-ENC-1"'
    raw = await Client.connect(stack.address)
    for _ in range(100):  # visibility is eventually consistent
        if [execution async for execution in raw.list_workflows(query)]:
            break
        await asyncio.sleep(0.1)

    replayed = await asyncio.to_thread(cli, stack.cli_env(), "replay", "--query", query, "--json")
    assert replayed.returncode == 0, replayed.stderr
    [row] = json.loads(replayed.stdout)["results"]
    assert row["ok"] and row["workflow_id"] == "order-REPLAY-ENC-1"

    without_keys = await asyncio.to_thread(cli, stack.cli_env(BILLING_CODEC_KEYS=""), "replay", "--query", query)
    assert without_keys.returncode == 78, without_keys.stderr
    assert "BILLING_CODEC_KEYS" in without_keys.stderr and "Traceback" not in without_keys.stderr
