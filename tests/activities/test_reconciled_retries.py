"""A "not sent" from a retry of a money-moving activity: definite only when every earlier attempt left its
"not sent" mark; a call in flight heartbeats with a mark that is not that one. The real payment activity, the
real KESS client and emulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import errors
from activities.errors import IN_FLIGHT_MARK, NOT_SENT_MARK, OUTCOME_UNKNOWN
from activities.payments import CreatePaymentCall, PaymentActivities, ProviderRegistry
from activities.subscriptions import SubscriptionActivities
from billing.callbacks import CallbackUrls
from billing.errors import ProviderUnavailableError
from billing.gateway import CreatePayment, Customer
from billing.money import Money
from emulators.kess import KessEmulator, KessEmulatorConfig, create_app
from host.serving import AppServer
from providers.kess import KessClient, KessSettings

USER, PASSWORD = "kess-user", "kess-password"


@dataclasses.dataclass
class Kess:
    activities: PaymentActivities
    control: httpx.AsyncClient
    emulator: KessEmulator

    async def fault(self, kind: str, operation: str = "token", **params: Any) -> None:
        response = await self.control.post(
            "/control/faults", json={"operation": operation, "kind": kind, "params": params}
        )
        response.raise_for_status()


@pytest.fixture
async def kess() -> AsyncIterator[Kess]:
    emulator = KessEmulator(KessEmulatorConfig(time_scale=0.01))
    emulator.register_merchant(USER, PASSWORD, store_id="109038")
    server = AppServer(create_app(emulator))
    await server.start()
    client = KessClient(KessSettings(base_url=server.url, user=USER, password=SecretStr(PASSWORD), store_id="109038"))
    activities = PaymentActivities(ProviderRegistry({"kess": client}), CallbackUrls("http://127.0.0.1:9"))
    try:
        async with httpx.AsyncClient(base_url=server.url) as control:
            yield Kess(activities, control, emulator)
    finally:
        await client.aclose()
        await server.stop()
        await emulator.aclose()


def call(key: str) -> CreatePaymentCall:
    return CreatePaymentCall(
        provider="kess",
        order_id=key,
        request=CreatePayment(
            idempotency_key=key,
            merchant_order_id=key,
            amount=Money.parse("20.00", "USD"),
            description="QR order",
            customer=Customer(customer_id="c"),
            requested_at=datetime(2026, 3, 1, tzinfo=UTC),
        ),
    )


def attempt(number: int, details: list[Any] | None = None) -> tuple[ActivityEnvironment, list[tuple[Any, ...]]]:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=number, heartbeat_details=details or [])
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    return env, beats


async def test_a_first_attempt_refused_a_token_sent_nothing_and_leaves_its_mark(kess: Kess) -> None:
    await kess.fault("refuse_token")
    env, beats = attempt(1)
    with pytest.raises(ApplicationError) as info:
        await env.run(kess.activities.create_payment, call("o-first"))
    assert info.value.type == "ConfigurationError" and info.value.non_retryable
    assert beats == [(NOT_SENT_MARK, 1)]


async def test_a_retry_after_an_attempt_without_a_mark_is_unknown(kess: Kess) -> None:
    # The first attempt timed out or crashed (no mark): it may have created the QR.
    await kess.fault("refuse_token")
    env, beats = attempt(2)
    with pytest.raises(ApplicationError) as info:
        await env.run(kess.activities.create_payment, call("o-retry"))
    assert info.value.type == OUTCOME_UNKNOWN
    assert "earlier attempt" in str(info.value)
    assert beats == [], "no mark: the attempts after it stay unknown too"


async def test_a_retry_after_marked_attempts_keeps_its_not_sent(kess: Kess) -> None:
    await kess.fault("system_error")
    env, beats = attempt(2, [NOT_SENT_MARK, 1])
    with pytest.raises(ApplicationError) as info:
        await env.run(kess.activities.create_payment, call("o-marked"))
    assert info.value.type == "ProviderUnavailableError" and not info.value.non_retryable
    assert beats == [(NOT_SENT_MARK, 2)]
    assert kess.emulator.store.find_order("o-marked") is None


async def test_a_stale_mark_does_not_count(kess: Kess) -> None:
    # The mark of attempt 1 seen by attempt 3: attempt 2 left none, so it may have sent.
    await kess.fault("refuse_token")
    env, _ = attempt(3, [NOT_SENT_MARK, 1])
    with pytest.raises(ApplicationError) as info:
        await env.run(kess.activities.create_payment, call("o-stale"))
    assert info.value.type == OUTCOME_UNKNOWN


@pytest.fixture
def beat_often(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors, "PROVIDER_HEARTBEAT_EVERY", timedelta(milliseconds=100))


@pytest.mark.usefixtures("beat_often")
async def test_a_call_that_waits_heartbeats_that_it_may_have_sent(kess: Kess) -> None:
    await kess.fault("latency", operation="native_pay", ms=450)
    env, beats = attempt(1)
    created = await env.run(kess.activities.create_payment, call("o-slow"))
    assert created.provider_reference
    assert len(beats) >= 2 and set(beats) == {(IN_FLIGHT_MARK, 1)}, beats
    count = len(beats)
    await asyncio.sleep(0.3)
    assert len(beats) == count, "no heartbeat after the call ended"
    # A retry after an attempt that heartbeat in flight may not count it as "not sent".
    assert not errors.earlier_attempts_not_sent(dataclasses.replace(env.info, attempt=2, heartbeat_details=beats[-1]))


@pytest.mark.usefixtures("beat_often")
async def test_a_call_answered_at_once_sends_no_heartbeat(kess: Kess) -> None:
    env, beats = attempt(1)
    await env.run(kess.activities.create_payment, call("o-fast"))
    assert beats == []


@pytest.mark.usefixtures("beat_often")
async def test_a_not_sent_mark_is_the_last_heartbeat_after_a_wait() -> None:
    """An attempt that waited (heartbeating in flight) and then sent nothing leaves the "not sent" mark last:
    the decorators' order (``reconciled_retries`` outside ``kept_alive``) is what every activity uses."""

    @errors.reconciled_retries
    @errors.kept_alive
    async def token_then_nothing(_: str) -> None:
        await asyncio.sleep(0.35)
        raise ProviderUnavailableError("no token", provider="kess", operation="native_pay")

    env, beats = attempt(1)
    with pytest.raises(ProviderUnavailableError):
        await env.run(token_then_nothing, "o-slow-refused")
    assert beats[-1] == (NOT_SENT_MARK, 1) and (IN_FLIGHT_MARK, 1) in beats, beats


def test_every_provider_activity_keeps_alive() -> None:
    """Workflows call every provider activity with a heartbeat timeout (``workflows.common.call_provider``):
    one that did not heartbeat would be given up while a slow provider still answers."""
    registry = ProviderRegistry({})
    provider_activities = [
        *PaymentActivities(registry, CallbackUrls("http://127.0.0.1:9")).all(),
        *SubscriptionActivities(registry, CallbackUrls("http://127.0.0.1:9")).all(),
    ]
    assert len(provider_activities) == 12
    assert [a.__name__ for a in provider_activities if not getattr(a, "keeps_alive", False)] == []
