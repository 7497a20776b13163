"""The chaos run's customers and merchant: what each order and subscription goes through.

A plan is drawn up front from the run's ``random.Random(seed)`` (so a seed names the same run); each plan
is then played by one coroutine: create through the engine, act as the customer on the emulator (pay,
pay late, fail or never), capture, and storm a paid order with concurrent refunds (a duplicate id, the
same id with another amount, an over-refund).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

import httpx

from billing import errors
from billing.gateway import BillingInterval, CaptureMode, Customer, SubscriptionPlan
from billing.idempotency import payment_key, subscription_key
from billing.money import Money
from billing.orders import (
    FINAL_STATUSES,
    PAID_STATUSES,
    CreateOrder,
    Order,
    OrderPolicy,
    OrderStatus,
    RefundRequest,
)
from billing.subscriptions import BillingMode, StartSubscription, Subscription, SubscriptionPolicy
from starter.chaos.faults import ChaosCounters
from starter.client import BillingClient

PROVIDERS = ("waffo", "kess", "waafipay")
CURRENCY = "USD"
#: Waffo's emulator answers these amounts with fixed codes (C0001, E0001, C0005): the run avoids them.
MAGIC_MINOR = frozenset({900, 910, 920, 9000, 9100, 9200})
#: How long a customer has to pay in the run; short, so late and absent customers meet the deadline.
PAYMENT_WINDOW = timedelta(seconds=30)

T = TypeVar("T")
#: One engine call (create, refund, capture) of the run: longer than any provider call it waits for.
CALL_TIMEOUT_S = 60.0
#: One order's or subscription's whole play.
PLAY_BUDGET_S = 300.0


class CustomerBehaviour(StrEnum):
    """What the customer does on the provider's checkout."""

    PAYS = "pays"
    PAYS_LATE = "pays_late"
    FAILS = "fails"
    NEVER = "never"


@dataclass(frozen=True)
class OrderPlan:
    order_id: str
    provider: str
    amount_minor: int
    start_at: float
    customer: CustomerBehaviour
    act_after: float
    manual_capture: bool = False
    refund_storm: bool = False
    redirect_flood: int = 0
    forged_webhook: bool = False

    @property
    def amount(self) -> Money:
        return Money(amount_minor=self.amount_minor, currency=CURRENCY)


@dataclass(frozen=True)
class SubscriptionPlanned:
    subscription_id: str
    provider: str
    amount_minor: int
    start_at: float
    pays: bool
    act_after: float
    renewals: int = 0


@dataclass
class Outcome:
    """What happened to one plan while it was played (not an invariant: the engine's answers)."""

    created: bool = False
    notes: list[str] = field(default_factory=list)


#: A sandbox EVCPlus wallet: the number WaafiPay hosted pages of the workload are for.
CHAOS_WALLET = "252611111111"


def policy() -> OrderPolicy:
    return OrderPolicy(
        payment_window=PAYMENT_WINDOW,
        inquiry_schedule=(timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)),
        unknown_inquiry_limit=4,
        capture_window=timedelta(seconds=40),
        refund_window=timedelta(seconds=30),
        late_payment_watch=(timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=10)),
        provider_call_timeout=timedelta(seconds=8),
    )


def subscription_policy() -> SubscriptionPolicy:
    return SubscriptionPolicy(
        authorization_window=timedelta(seconds=40),
        inquiry_schedule=(timedelta(seconds=3), timedelta(seconds=6)),
        provider_call_timeout=timedelta(seconds=8),
        final_watch=timedelta(seconds=30),
        # Engine billing: a period's invoice is due within the run, and dunning retries within it too.
        invoice_due=timedelta(seconds=40),
        dunning_schedule=(timedelta(seconds=10),),
    )


def _amount(rng: random.Random) -> int:
    while True:
        minor = rng.randrange(100, 9000)
        if minor not in MAGIC_MINOR:
            return minor


def _push_answer(customer: CustomerBehaviour) -> dict[str, Any]:
    """How a WaafiPay payer answers the PIN push of a manual-capture order."""
    if customer is CustomerBehaviour.NEVER:
        return {"action": "timeout"}
    if customer is CustomerBehaviour.FAILS:
        return {"action": "reject", "afterS": 1}
    return {"action": "approve", "afterS": 2 if customer is CustomerBehaviour.PAYS else 6}


def plan_orders(rng: random.Random, count: int, spread: float, run_tag: str) -> list[OrderPlan]:
    plans: list[OrderPlan] = []
    window = PAYMENT_WINDOW.total_seconds()
    for index in range(count):
        provider = PROVIDERS[index % len(PROVIDERS)] if index < len(PROVIDERS) else rng.choice(PROVIDERS)
        roll = rng.random()
        customer = (
            CustomerBehaviour.PAYS
            if roll < 0.70
            else CustomerBehaviour.PAYS_LATE
            if roll < 0.80
            else CustomerBehaviour.FAILS
            if roll < 0.88
            else CustomerBehaviour.NEVER
        )
        act_after = (
            rng.uniform(0.5, window * 0.6)
            if customer is not CustomerBehaviour.PAYS_LATE
            else window + rng.uniform(-3, 6)
        )
        plans.append(
            OrderPlan(
                order_id=f"chaos-{run_tag}-{index:05d}",
                provider=provider,
                amount_minor=_amount(rng),
                start_at=rng.uniform(0, spread),
                customer=customer,
                act_after=act_after,
                # Money held, then captured or voided: Waffo's card authorizations and WaafiPay's wallet holds.
                manual_capture=provider in ("waffo", "waafipay") and rng.random() < 0.15,
                refund_storm=rng.random() < 0.35,
                # The first orders of each provider always get hostile callbacks, so a short run has them.
                redirect_flood=20 if index < 2 * len(PROVIDERS) else rng.choice((0, 0, 0, 20)),
                forged_webhook=provider == "waffo" and (index < 2 * len(PROVIDERS) or rng.random() < 0.1),
            )
        )
    return plans


def plan_subscriptions(rng: random.Random, count: int, spread: float, run_tag: str) -> list[SubscriptionPlanned]:
    return [
        SubscriptionPlanned(
            subscription_id=f"chaos-{run_tag}-s{index:04d}",
            provider=PROVIDERS[index % len(PROVIDERS)] if index < len(PROVIDERS) else rng.choice(PROVIDERS),
            amount_minor=_amount(rng),
            start_at=rng.uniform(0, spread),
            pays=rng.random() < 0.85,
            act_after=rng.uniform(0.5, 10),
            renewals=rng.choice((0, 1, 2)),
        )
        for index in range(count)
    ]


async def persist(call: Callable[[], Awaitable[T]], *, attempts: int = 40, wait: float = 1.0) -> T:
    """Retry a call that fails while the stack is being killed or restarted (bounded)."""
    for attempt in range(attempts):
        try:
            # An Update waits for its workflow: a workflow that cannot make progress would hold it forever.
            async with asyncio.timeout(CALL_TIMEOUT_S):
                return await call()
        except (errors.InputError, errors.ConflictError, errors.InvalidStateError, errors.NotFoundError):
            raise
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


class Workload:
    """Plays order and subscription plans against the stack."""

    def __init__(
        self, billing: BillingClient, emulators: httpx.AsyncClient, counters: ChaosCounters, rng: random.Random
    ) -> None:
        self.billing = billing
        self.emulators = emulators
        self.counters = counters
        self.rng = rng
        self.outcomes: dict[str, Outcome] = {}
        #: Plans played to their end, for the progress line.
        self.played = 0
        #: Orders issued by subscriptions (engine billing), found while playing them.
        self.child_orders: dict[str, str] = {}

    # -- orders -----------------------------------------------------------------------------------

    async def guarded(self, subject: str, play: Awaitable[None]) -> None:
        """Play one plan; whatever goes wrong is noted for the report and ends only this plan."""
        try:
            async with asyncio.timeout(PLAY_BUDGET_S):
                await play
        except TimeoutError:
            self.outcomes.setdefault(subject, Outcome()).notes.append(f"the play did not end in {PLAY_BUDGET_S} s")
        except Exception as exc:
            self.outcomes.setdefault(subject, Outcome()).notes.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.played += 1

    async def _create(self, outcome: Outcome, create: Callable[[], Awaitable[object]], failed: str) -> bool:
        """Create through the engine, again while the stack restarts; if it cannot be done, False, noted in
        ``outcome`` and counted as ``failed``."""
        try:
            await persist(create)
        except Exception as exc:
            outcome.notes.append(f"create: {type(exc).__name__}: {exc}")
            self.counters.customer[failed] += 1
            return False
        outcome.created = True
        return True

    async def play_order(self, plan: OrderPlan, hostile: Callable[[OrderPlan], Awaitable[None]]) -> None:
        outcome = self.outcomes.setdefault(plan.order_id, Outcome())
        # WaafiPay holds money only by a wallet push (API_PREAUTHORIZE), which blocks the create until the
        # payer answers: the payer's answer is set on the wallet beforehand. Its other orders use the hosted
        # payment page (its MWALLET_ACCOUNT page is for one wallet: seed 002, payerInfo.subscriptionId).
        push = plan.provider == "waafipay" and plan.manual_capture
        phone = None
        if push:
            phone = await self.wallet(plan.order_id, behaviour=_push_answer(plan.customer))
        elif plan.provider == "waafipay":
            phone = CHAOS_WALLET
        request = CreateOrder(
            order_id=plan.order_id,
            provider=plan.provider,
            amount=plan.amount,
            customer=Customer(customer_id=f"cust-{plan.order_id}", email=f"{plan.order_id}@example.com", phone=phone),
            capture_mode=CaptureMode.MANUAL if plan.manual_capture else CaptureMode.AUTOMATIC,
            payment_method="HPP" if plan.provider == "waafipay" and not push else None,
            # A push waits for the payer up to the provider's longest wait: its call limit is the provider's.
            policy=policy().model_copy(update={"provider_call_timeout": None}) if push else policy(),
        )
        if not await self._create(outcome, lambda: self.billing.create_order(request), "create failed"):
            return
        await asyncio.sleep(plan.act_after)
        if push:
            self.counters.customer[f"{plan.customer.value} (wallet push)"] += 1
        else:
            await self.customer_acts(plan.provider, plan.order_id, plan.customer)
        await hostile(plan)
        if plan.manual_capture and plan.customer in (CustomerBehaviour.PAYS, CustomerBehaviour.PAYS_LATE):
            await self.capture(plan, outcome)
        if plan.refund_storm and plan.customer in (CustomerBehaviour.PAYS, CustomerBehaviour.PAYS_LATE):
            await self.refund_storm(plan, outcome)

    async def customer_acts(self, provider: str, order_id: str, customer: CustomerBehaviour) -> None:
        if customer is CustomerBehaviour.NEVER:
            self.counters.customer["never"] += 1
            return
        key = payment_key(order_id)
        paying = customer in (CustomerBehaviour.PAYS, CustomerBehaviour.PAYS_LATE)
        body: dict[str, Any] = {}
        if provider == "waafipay":
            path = f"/waafipay/control/hpp/{key}/{'approve' if paying else 'decline'}"
            if paying:
                body = {"accountNo": await self.wallet(order_id)}
        else:
            path = f"/{provider}/control/orders/{key}/{'pay' if paying else 'fail'}"
        # The provider may not know the order yet (a create still being retried): the customer tries again.
        response = await self._control(path, body, attempts=60)
        late = customer is CustomerBehaviour.PAYS_LATE
        if response is not None and response.status_code == 409 and provider == "kess" and late:
            # KESS: the buyer completes a payment the merchant already closed (a late payment).
            response = await self._control(path, {"late": True}, attempts=60)
        if response is None:
            self.counters.customer[f"{customer.value}: provider never knew the order"] += 1
            return
        label = customer.value if response.is_success else f"{customer.value}: refused {response.status_code}"
        self.counters.customer[label] += 1

    async def _control(self, path: str, body: dict[str, Any], attempts: int) -> httpx.Response | None:
        """POST to an emulator's control API, again while the emulators cannot be reached or do not know the
        object yet (404); the first other answer, or None when ``attempts`` ran out."""
        for _ in range(attempts):
            try:
                response = await self.emulators.post(path, json=body)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if response.status_code == 404:
                await asyncio.sleep(1.0)
                continue
            return response
        return None

    async def wallet(self, order_id: str, behaviour: dict[str, Any] | None = None) -> str:
        """A WaafiPay wallet of this customer's own, holding enough for any order of the run; ``behaviour``
        is how its holder answers a PIN push."""
        number = "25261" + f"{int(hashlib.sha256(order_id.encode()).hexdigest(), 16) % 10**7:07d}"
        body: dict[str, Any] = {"number": number, "balance": "10000.00"}
        if behaviour is not None:
            body["behaviour"] = behaviour
        for _ in range(10):
            with contextlib.suppress(httpx.HTTPError):
                response = await self.emulators.post("/waafipay/control/wallets", json=body)
                if response.is_success:
                    break
            await asyncio.sleep(0.5)
        return number

    async def capture(self, plan: OrderPlan, outcome: Outcome) -> None:
        try:
            order = await self.wait_for(plan.order_id, {OrderStatus.AUTHORIZED, *FINAL_STATUSES}, 60)
            if order.status is OrderStatus.AUTHORIZED:
                await persist(lambda: self.billing.capture(plan.order_id), attempts=10)
                self.counters.refund_attempts["capture"] += 1
        except Exception as exc:
            outcome.notes.append(f"capture: {type(exc).__name__}: {exc}")

    async def wait_for(self, order_id: str, statuses: set[OrderStatus], timeout: float) -> Order:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                order = await self.billing.get_order(order_id)
                if order.status in statuses or loop.time() > deadline:
                    return order
            except Exception:
                if loop.time() > deadline:
                    raise
            await asyncio.sleep(1.0)

    async def refund_storm(self, plan: OrderPlan, outcome: Outcome) -> None:
        """Concurrent refunds of one paid order: the same id twice, the same id with another amount, and a
        second id asking for everything (together more than was captured)."""
        order = await self.wait_for(plan.order_id, set(PAID_STATUSES) | set(FINAL_STATUSES), 45)
        if order.status not in PAID_STATUSES:
            return
        captured = (order.captured_amount or order.amount).amount_minor
        part = max(1, captured // self.rng.choice((2, 3, 4)))
        first = RefundRequest(refund_id="r1", amount=Money(amount_minor=part, currency=CURRENCY))
        other_amount = RefundRequest(refund_id="r1", amount=Money(amount_minor=max(1, part - 1), currency=CURRENCY))
        everything = RefundRequest(refund_id="r2", amount=Money(amount_minor=captured, currency=CURRENCY))
        requests = [first, first, other_amount, everything]
        self.rng.shuffle(requests)

        async def one(request: RefundRequest, label: str) -> None:
            try:
                await persist(lambda: self.billing.refund(plan.order_id, request), attempts=10)
                self.counters.refund_attempts[f"{label}: accepted"] += 1
            except errors.BillingError as exc:
                self.counters.refund_attempts[f"{label}: {type(exc).__name__}"] += 1
            except Exception as exc:
                self.counters.refund_attempts[f"{label}: {type(exc).__name__}"] += 1
                outcome.notes.append(f"refund {request.refund_id}: {type(exc).__name__}: {exc}")

        labels = {id(first): "refund", id(other_amount): "same id, other amount", id(everything): "over-refund"}
        await asyncio.gather(*(one(r, labels[id(r)]) for r in requests))

    # -- subscriptions --------------------------------------------------------------------------

    async def play_subscription(self, plan: SubscriptionPlanned) -> None:
        outcome = self.outcomes.setdefault(plan.subscription_id, Outcome())
        mode = {"waffo": BillingMode.PROVIDER_MANAGED, "kess": BillingMode.ENGINE_INVOICED}.get(
            plan.provider, BillingMode.ENGINE_INVOICED
        )
        request = StartSubscription(
            subscription_id=plan.subscription_id,
            provider=plan.provider,
            plan=SubscriptionPlan(
                plan_id="chaos-monthly",
                description="Chaos monthly",
                amount=Money(amount_minor=plan.amount_minor, currency=CURRENCY),
                interval=BillingInterval.MONTH,
            ),
            customer=Customer(
                customer_id=f"cust-{plan.subscription_id}",
                email=f"{plan.subscription_id}@example.com",
                # Each period's WaafiPay hosted page is for one wallet (seed 002: payerInfo.subscriptionId).
                phone=CHAOS_WALLET if plan.provider == "waafipay" else None,
            ),
            policy=subscription_policy(),
            billing_mode=mode,
        )
        if not await self._create(
            outcome, lambda: self.billing.create_subscription(request), "subscription create failed"
        ):
            return
        await asyncio.sleep(plan.act_after)
        if not plan.pays:
            self.counters.customer["subscription never authorized"] += 1
            return
        if mode is BillingMode.PROVIDER_MANAGED:
            await self._subscription_control(plan, "pay", {})
            for _ in range(plan.renewals):
                await asyncio.sleep(self.rng.uniform(1, 4))
                succeed = self.rng.random() < 0.8
                await self._subscription_control(plan, "renew", {"succeed": succeed})
            return
        order_id = await self._first_period_order(plan)
        if order_id is None:
            outcome.notes.append("no period order appeared")
            return
        self.child_orders[order_id] = plan.provider
        await self.customer_acts(plan.provider, order_id, CustomerBehaviour.PAYS)

    async def _subscription_control(self, plan: SubscriptionPlanned, action: str, body: dict[str, Any]) -> None:
        path = f"/{plan.provider}/control/subscriptions/{subscription_key(plan.subscription_id)}/{action}"
        response = await self._control(path, body, attempts=20)
        if response is not None:
            label = f"subscription {action}" + ("" if response.is_success else f": refused {response.status_code}")
            self.counters.customer[label] += 1

    async def _first_period_order(self, plan: SubscriptionPlanned) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while loop.time() < deadline:
            with contextlib.suppress(Exception):  # the stack may be restarting: ask again
                subscription: Subscription = await self.billing.get_subscription(plan.subscription_id)
                for period in subscription.periods:
                    if period.order_id:
                        return period.order_id
            await asyncio.sleep(1.0)
        return None
