"""``billing events listen``: a real process on loopback verifying and printing what it receives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from billing.events import SIGNATURE_HEADER, MerchantEvent, event_id, sign
from host.serving import free_port

SECRET = "whsec_listen_test"


@pytest.fixture
def listener() -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    env = {**os.environ, "BILLING_EVENTS_SECRETS": f"old-one,{SECRET}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "events", "listen", "--port", str(port), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield proc, f"http://127.0.0.1:{port}/events"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_listen_prints_verified_events_and_refuses_forgeries(listener: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = listener
    event = MerchantEvent(
        id=event_id("order", "L-1", 2),
        type="order.paid",
        created=datetime(2027, 3, 1, tzinfo=UTC),
        object="order",
        object_id="L-1",
        sequence=2,
        data={"status": "PAID", "amount": {"amount_minor": 1999, "currency": "USD"}},
    )
    body = event.body()
    good = httpx.post(url, content=body, headers={SIGNATURE_HEADER: sign(body, [SECRET], int(time.time()))})
    forged = httpx.post(url, content=body, headers={SIGNATURE_HEADER: sign(body, ["guess"], int(time.time()))})
    assert (good.status_code, forged.status_code) == (200, 400)
    assert forged.json()["field"] == SIGNATURE_HEADER
    assert json.loads(proc.stdout.readline() if proc.stdout else "") == json.loads(body)
