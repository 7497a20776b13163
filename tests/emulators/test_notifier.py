"""The emulators' webhook sender: in order per URL, concurrent across URLs, bounded, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.common.clock import Clock
from emulators.common.faults import FaultQueue
from emulators.common.notifier import NOTIFY_OPERATION, OutboundNotification, RetryingNotifier
from host.serving import AppServer


@dataclass
class Merchant:
    """Endpoints /{name}; a name in ``blocked`` answers only once its event is set."""

    blocked: dict[str, asyncio.Event] = field(default_factory=dict)
    arrived: list[str] = field(default_factory=list)  # notification ids, in order of arrival
    in_flight: int = 0
    most_in_flight: int = 0
    arrival: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def endpoint(self, request: Request) -> Response:
        self.arrived.append((await request.body()).decode())
        async with self.arrival:
            self.arrival.notify_all()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            gate = self.blocked.get(request.path_params["name"])
            if gate is not None:
                await gate.wait()
        finally:
            self.in_flight -= 1
        return Response("ok")

    async def until_arrived(self, *ids: str) -> None:
        async with asyncio.timeout(5), self.arrival:
            await self.arrival.wait_for(lambda: set(ids) <= set(self.arrived))


@pytest.fixture
async def merchant() -> AsyncIterator[tuple[Merchant, str]]:
    merchant = Merchant()
    server = AppServer(Starlette(routes=[Route("/{name}", merchant.endpoint, methods=["POST"])]))
    await server.start()
    try:
        yield merchant, server.url
    finally:
        for gate in merchant.blocked.values():
            gate.set()
        await server.stop()


def notifier(max_in_flight: int = 16) -> RetryingNotifier:
    return RetryingNotifier(
        retry_delays_s=[],
        time_scale=1.0,
        timeout_s=5.0,
        clock=Clock(),
        format_time=lambda when: when.isoformat(),
        max_in_flight=max_in_flight,
    )


def note(sender: RetryingNotifier, url: str, body: str) -> OutboundNotification:
    def judge(response: httpx.Response) -> str | None:
        return None if response.status_code == 200 else f"HTTP {response.status_code}"

    return OutboundNotification(
        id=sender.new_id(), url=url, event_type="T", body=body.encode(), headers={}, judge=judge, created_at="t"
    )


async def test_one_slow_url_does_not_hold_up_the_others_and_each_url_keeps_its_order(
    merchant: tuple[Merchant, str],
) -> None:
    endpoint, base = merchant
    endpoint.blocked["slow"] = asyncio.Event()
    sender = notifier()
    try:
        for body, name in (("a1", "slow"), ("a2", "slow"), ("b1", "fast"), ("b2", "fast")):
            sender.submit(note(sender, f"{base}/{name}", body))
        await endpoint.until_arrived("a1", "b1", "b2")
        assert "a2" not in endpoint.arrived, "a URL gets its next notification only after the previous reply"
        endpoint.blocked["slow"].set()
        assert await sender.drain(timeout_s=5)
    finally:
        await sender.aclose()
    slow = [body for body in endpoint.arrived if body.startswith("a")]
    assert slow == ["a1", "a2"]
    assert all(n.status == "delivered" for n in sender.notifications)


async def test_no_more_than_max_in_flight_at_once(merchant: tuple[Merchant, str]) -> None:
    endpoint, base = merchant
    gate = asyncio.Event()
    for name in ("u1", "u2", "u3", "u4"):
        endpoint.blocked[name] = gate
    sender = notifier(max_in_flight=2)
    try:
        for name in ("u1", "u2", "u3", "u4"):
            sender.submit(note(sender, f"{base}/{name}", name))
        await endpoint.until_arrived("u1", "u2")
        await asyncio.sleep(0.1)
        assert sorted(endpoint.arrived) == ["u1", "u2"], "two in flight at most"
        gate.set()
        assert await sender.drain(timeout_s=5)
    finally:
        await sender.aclose()
    assert sorted(endpoint.arrived) == ["u1", "u2", "u3", "u4"]
    assert endpoint.most_in_flight == 2


async def test_delay_fault_holds_one_notification_and_lets_the_next_pass(merchant: tuple[Merchant, str]) -> None:
    endpoint, base = merchant
    faults = FaultQueue()
    faults.add(NOTIFY_OPERATION, "delay", params={"ms": 400})
    sender = RetryingNotifier(
        retry_delays_s=[],
        time_scale=1.0,
        timeout_s=5.0,
        clock=Clock(),
        format_time=lambda when: when.isoformat(),
        faults=faults,
    )
    try:
        late = note(sender, f"{base}/late", "late")
        sender.submit(late)
        sender.submit(note(sender, f"{base}/next", "next"))
        await endpoint.until_arrived("next")
        assert "late" not in endpoint.arrived, "a delayed notification waits for its delay"
        assert late.status == "delayed"
        assert await sender.drain(timeout_s=5), "drain waits for the delayed notification"
    finally:
        await sender.aclose()
    assert endpoint.arrived == ["next", "late"]
    assert late.status == "delivered"
    assert any("delayed" in text for text in late.notes)
