"""`billing dev` encrypts: generated keys (0600), the UI pointed at the codec server, and a second
terminal's `billing` commands finding the keys without any setup."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
from temporalio.client import Client

from billing.codec import ENCODING
from billing.orders import order_workflow_id
from tests.support.devstack import run_billing, running_dev_stack


async def test_dev_stack_encrypts_and_serves_the_codec_to_its_ui(tmp_path: Path) -> None:
    data_dir = tmp_path / "dev"
    with running_dev_stack(data_dir) as running:
        ports, output = running.ports, running.output
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
            cli_env = running.cli_env()
            run_billing("order", "create", "--order-id", "DEV-ENC-1", "--amount", "10.00", "--currency", "USD",
                        "--customer-id", "c1", "--customer-email", "dev.buyer@example.com", env=cli_env)  # fmt: skip
            shown = json.loads(run_billing("order", "show", "DEV-ENC-1", "--json", env=cli_env).stdout)
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

        assert running.stop() == 0
        # Stopped: the stack no longer lends its keys.
        from host.devstacks import dev_codec_settings

        assert dev_codec_settings(running.address) is None
