"""`billing dev` encrypts: generated keys (0600), the UI pointed at the codec server, and a second
terminal's `billing` commands finding the keys without any setup."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from temporalio.client import Client

from billing.codec import ENCODING
from billing.orders import order_workflow_id
from starter.serving import free_port
from tests.support.processes import wait_for_line


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "starter.cli", *argv], env=env, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


async def test_dev_stack_encrypts_and_serves_the_codec_to_its_ui(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("TEMPORAL_PORT", "UI_PORT", "EMULATOR_PORT", "HTTP_PORT")}
    data_dir = tmp_path / "dev"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    env = dict(clean, BILLING_DEV_DATA_DIR=str(data_dir), COLUMNS="200",
               **{f"BILLING_DEV_{k}": str(v) for k, v in ports.items()})  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "starter.cli", "dev"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        output = wait_for_line(proc, "Ctrl-C", timeout=120)
        assert "encrypted" in output
        codec_file, env_file = data_dir / "keys" / "codec.json", data_dir / "env"
        for secret in (codec_file, env_file):
            assert secret.stat().st_mode & 0o077 == 0, secret
        stored = json.loads(codec_file.read_text())
        assert "BILLING_CODEC_KEYS=" in env_file.read_text()

        ui = f"http://127.0.0.1:{ports['UI_PORT']}"
        codec_url = f"http://127.0.0.1:{ports['HTTP_PORT']}/codec"
        async with httpx.AsyncClient() as http:
            settings = (await http.get(f"{ui}/api/v1/settings")).json()
            endpoint = settings["Codec"]["Endpoint"]
            assert endpoint == f"{ui}/codec"  # the UI gateway, on the UI's own origin; no secret in it
            # What the UI's browser does: open the printed link once, then POST to <endpoint>/decode.
            [link] = [word for word in output.split() if word.startswith(f"{ui}/codec/session?key=")]
            assert (await http.get(link)).status_code == 303
            refused = await http.post(f"{codec_url}/decode", json={"payloads": []})
            assert refused.status_code == 401

            # A second terminal with no BILLING_CODEC_* variables: the CLI finds this stack's keys.
            cli_env = dict(clean, COLUMNS="200", BILLING_TEMPORAL_ADDRESS=f"127.0.0.1:{ports['TEMPORAL_PORT']}",
                           BILLING_EMULATORS_URL=f"http://127.0.0.1:{ports['EMULATOR_PORT']}")  # fmt: skip
            _cli(cli_env, "order", "create", "--order-id", "DEV-ENC-1", "--amount", "10.00", "--currency", "USD",
                 "--customer-id", "c1", "--customer-email", "dev.buyer@example.com")  # fmt: skip
            shown = json.loads(_cli(cli_env, "order", "show", "DEV-ENC-1", "--json").stdout)
            assert shown["status"] == "PENDING"

            raw = await Client.connect(f"127.0.0.1:{ports['TEMPORAL_PORT']}")
            history = await raw.get_workflow_handle(order_workflow_id("DEV-ENC-1")).fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            [argument] = started.input.payloads
            assert argument.metadata["encoding"] == ENCODING
            assert b"dev.buyer@example.com" not in b"".join(e.SerializeToString() for e in history.events)

            body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in argument.metadata.items()},
                                  "data": base64.b64encode(argument.data).decode()}]}  # fmt: skip
            decoded = await http.post(f"{endpoint}/decode", json=body, headers={"Origin": ui, "X-Namespace": "default"})
            assert decoded.status_code == 200
            assert b"dev.buyer@example.com" in base64.b64decode(decoded.json()["payloads"][0]["data"])
            bearer = await http.post(f"{codec_url}/decode", json=body,
                                     headers={"Authorization": f"Bearer {stored['auth_token']}"})  # fmt: skip
            assert bearer.status_code == 200

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        # Stopped: the stack no longer lends its keys.
        from billing.temporal import dev_codec_settings

        assert dev_codec_settings(f"127.0.0.1:{ports['TEMPORAL_PORT']}") is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
