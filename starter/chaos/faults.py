"""What the chaos run does to the stack: provider faults through the emulators' control APIs, hostile
callbacks to the HTTP service, and the kills and restarts of processes.

Every choice is drawn from the run's one ``random.Random(seed)``; what was done is counted in
:class:`ChaosCounters` for the report.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from billing.idempotency import payment_key

#: Milliseconds an emulator holds the answer of a committed call: past the orders' provider call timeout.
HOLD_AFTER_COMMIT_MS = 12_000


@dataclass(frozen=True)
class FaultSpec:
    """One fault an emulator's control API can queue: ``POST /<provider>/control/faults``."""

    provider: str
    operation: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.operation}:{self.kind}"


def _hold() -> dict[str, Any]:
    return {"ms": HOLD_AFTER_COMMIT_MS}


#: Every kind of provider fault the run injects. The first pass of :meth:`FaultInjector.next` walks this
#: list in order, so even a short run injects each kind once.
CATALOG: tuple[FaultSpec, ...] = (
    FaultSpec("waffo", "order/create", "e0001"),
    FaultSpec("waffo", "order/create", "timeout_after_commit", _hold()),
    FaultSpec("waffo", "order/inquiry", "http_500"),
    FaultSpec("waffo", "notify", "drop"),
    FaultSpec("waffo", "notify", "duplicate"),
    FaultSpec("waffo", "notify", "delay", {"ms": 4000}),
    FaultSpec("waffo", "notify", "reorder"),
    FaultSpec("waffo", "order/refund", "timeout_after_commit", _hold()),
    FaultSpec("waffo", "order/refund", "e0001"),
    FaultSpec("waffo", "order/capture", "e0001"),
    FaultSpec("waffo", "order/cancel", "http_500"),
    FaultSpec("waffo", "order/create", "drop_connection"),
    FaultSpec("waffo", "refund/inquiry", "http_500", {"status": 503}),
    FaultSpec("waffo", "subscription/create", "e0001"),
    FaultSpec("kess", "native_pay", "timeout_after_commit", _hold()),
    FaultSpec("kess", "payment_status", "http_500"),
    FaultSpec("kess", "refund", "timeout_after_commit", _hold()),
    FaultSpec("kess", "refund", "system_error"),
    FaultSpec("kess", "close", "http_500"),
    FaultSpec("kess", "token", "http_500"),
    # The token request refused: a create's retry after a commit whose answer was lost must stay UNKNOWN.
    FaultSpec("kess", "token", "refuse_token"),
    FaultSpec("waafipay", "HPP_PURCHASE", "timeout_after_commit", _hold()),
    FaultSpec("waafipay", "HPP_GETTRANINFO", "http_500"),
    FaultSpec("waafipay", "HPP_REFUNDPURCHASE", "timeout_after_commit", _hold()),
    FaultSpec("waafipay", "HPP_PURCHASE", "drop_connection"),
    # A wallet hold's capture committed and its answer lost; a void at the end of the capture window refused.
    FaultSpec("waafipay", "API_PREAUTHORIZE_COMMIT", "drop_connection"),
    FaultSpec("waafipay", "API_PREAUTHORIZE_CANCEL", "http_500"),
)


@dataclass
class ChaosCounters:
    """What the run did, for the report."""

    faults: Counter[str] = field(default_factory=Counter)
    fault_errors: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)
    hostile: Counter[str] = field(default_factory=Counter)
    refund_attempts: Counter[str] = field(default_factory=Counter)
    customer: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "faults": dict(sorted(self.faults.items())),
            "faults_injected": sum(self.faults.values()),
            "fault_errors": self.fault_errors,
            "kills": dict(self.kills),
            "restarts": dict(self.restarts),
            "hostile": dict(sorted(self.hostile.items())),
            "refund_attempts": dict(sorted(self.refund_attempts.items())),
            "customer": dict(sorted(self.customer.items())),
        }


class FaultInjector:
    """Queues faults at the emulators: every kind once first, then random ones."""

    def __init__(self, rng: random.Random, emulators: httpx.AsyncClient, counters: ChaosCounters) -> None:
        self.rng = rng
        self.emulators = emulators
        self.counters = counters
        self._first_pass = list(CATALOG)

    @property
    def every_kind_injected(self) -> bool:
        """Whether each kind of fault in CATALOG was handed out at least once."""
        return not self._first_pass

    def next(self) -> FaultSpec:
        if self._first_pass:
            return self._first_pass.pop(0)
        return self.rng.choice(CATALOG)

    async def inject(self, spec: FaultSpec) -> None:
        body = {"operation": spec.operation, "kind": spec.kind, "count": 1, "params": spec.params}
        try:
            response = await self.emulators.post(f"/{spec.provider}/control/faults", json=body)
            response.raise_for_status()
        except httpx.HTTPError:
            self.counters.fault_errors += 1
            return
        self.counters.faults[spec.label] += 1


class HostileCaller:
    """Callbacks nobody should trust: unauthenticated redirect floods and forged webhooks."""

    def __init__(self, rng: random.Random, http: httpx.AsyncClient, counters: ChaosCounters) -> None:
        self.rng = rng
        self.http = http
        self.counters = counters

    async def _send(self, what: str, method: str, url: str, **kwargs: Any) -> None:
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError:
            self.counters.hostile[f"{what}:no answer"] += 1
            return
        self.counters.hostile[f"{what}:{response.status_code // 100}xx"] += 1

    async def redirect_flood(self, provider: str, order_id: str, count: int) -> None:
        """Unsigned customer redirects (``/callbacks/...``), as a bot would send them, many at once."""
        for _ in range(count):
            result = self.rng.choice(("success", "failure", "cancel"))
            token = f"{self.rng.getrandbits(64):016x}"
            await self._send(
                "redirect",
                "GET",
                f"/callbacks/{provider}/orders/{order_id}/{result}",
                params={"hppResultToken": token, "referenceId": payment_key(order_id)},
            )

    async def forged_webhook(self, order_id: str, amount: str) -> None:
        """A Waffo payment notification saying the order was paid, signed with the wrong key."""
        key = payment_key(order_id)
        result = {
            "paymentRequestId": key,
            "merchantOrderId": order_id,
            "acquiringOrderId": f"A{self.rng.getrandbits(40):012d}",
            "orderStatus": "PAY_SUCCESS",
            "orderAmount": amount,
            "orderCurrency": "USD",
        }
        body = {"eventType": "PAYMENT_NOTIFICATION", "result": result}
        forged = f"{self.rng.getrandbits(256):064x}"
        for path in ("/webhooks/waffo", f"/webhooks/waffo/orders/{order_id}"):
            await self._send("forged-webhook", "POST", path, json=body, headers={"X-SIGNATURE": forged})
