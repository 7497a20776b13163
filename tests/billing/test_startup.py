"""The worker and the HTTP service check their settings before anything else and say what to fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from host.serving import free_port


def _run(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", command],
        env={**os.environ, "BILLING_LOG_FORMAT": "text", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("worker", "BILLING_EVENTS_URL", "ftp://shop.example/events"),
        ("worker", "BILLING_WORKER_GRACE_SECONDS", "soon"),
        ("worker", "BILLING_TEMPORAL_TLS_CLIENT_CERT_FILE", "/etc/hostname"),
        ("worker", "BILLING_LOG_LEVEL", "LOUD"),
        ("serve", "BILLING_HTTP_PORT", "eighty"),
        ("serve", "BILLING_CODEC_KEYS", "k1:not-base64"),
    ],
)
def test_a_bad_setting_stops_the_start_naming_it(command: str, variable: str, value: str) -> None:
    result = _run(command, **{variable: value})
    assert result.returncode == 78, result.stderr
    named = "BILLING_TEMPORAL_TLS_CLIENT_KEY_FILE" if variable.endswith("CERT_FILE") else variable
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_temporal_is_explained() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = _run("worker", BILLING_TEMPORAL_ADDRESS=address, BILLING_TEMPORAL_CONNECT_WAIT_SECONDS="0")
    assert result.returncode == 1, result.stderr
    assert f"cannot reach Temporal at {address}" in result.stderr and "Traceback" not in result.stderr
