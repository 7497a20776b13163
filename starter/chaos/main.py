"""``scripts/chaos.py`` / ``billing chaos``: an adversarial run of the whole engine, replayable by seed.

It starts its own stack (see :mod:`starter.chaos.stack`), plays N orders and M subscriptions on all three
providers while injecting provider faults, hostile callbacks, SIGKILLs of the worker and of the HTTP
service and a restart of the Temporal dev server; then waits (bounded) until every order is settled and
checks the invariants against the emulators' ledgers. Exit status: 0 when no invariant is violated, 1 on
any violation, 2 when the run itself could not be carried out.

    .venv/bin/python scripts/chaos.py --seed 7 --orders 60 --subscriptions 9 --duration 60
    .venv/bin/python scripts/chaos.py --seed 7 --orders 60 --json > chaos.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from billing.orders import Order, order_workflow_id
from billing.subscriptions import (
    ENGINE_MODES,
    FINAL_SUBSCRIPTION_STATUSES,
    LIVE_STATUSES,
    Subscription,
    SubscriptionStatus,
)
from emulators.registry import EMULATOR_NAMES, EMULATORS
from host.serving import stdout_to_stderr
from providers.registry import provider_spec
from providers.spec import PROVIDER_MANAGED
from starter.chaos.faults import ChaosCounters, FaultInjector, HostileCaller
from starter.chaos.invariants import (
    Violation,
    check_events,
    check_orders,
    check_subscriptions,
    ledger_by_order,
    reviews,
    settled,
)
from starter.chaos.replay import replay_failures
from starter.chaos.report import print_report
from starter.chaos.stack import TASK_QUEUE, ChaosStack
from starter.chaos.workload import OrderPlan, Workload, plan_orders, plan_subscriptions
from starter.client import BillingClient


class Progress:
    """One line on stderr every few seconds: the phase and what the run has seen so far."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.phase = "starting"
        self.started = time.monotonic()
        self.facts: dict[str, Any] = {}

    def say(self, text: str) -> None:
        if self.enabled:
            self.console.print(f"[{time.monotonic() - self.started:6.1f} s] {text}", highlight=False)

    def set(self, phase: str, **facts: Any) -> None:
        self.phase = phase
        self.facts.update(facts)
        self.say(self.line())

    def line(self) -> str:
        facts = " ".join(f"{k}={v}" for k, v in self.facts.items())
        return f"{self.phase} {facts}"

    async def tick(self, every: float = 5.0, facts: Callable[[], dict[str, Any]] | None = None) -> None:
        while True:
            await asyncio.sleep(every)
            if facts is not None:
                self.facts.update(facts())
            self.say(self.line())


async def _bounded(items: list[Any], limit: int, call: Callable[[Any], Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(item: Any) -> None:
        async with gate:
            await call(item)

    await asyncio.gather(*(one(item) for item in items))


async def read_orders(billing: BillingClient, order_ids: list[str]) -> dict[str, Order | None]:
    found: dict[str, Order | None] = {}

    async def read(order_id: str) -> None:
        found[order_id] = None
        for _ in range(3):  # a query times out while the worker is busy or restarting: ask again
            try:
                found[order_id] = await billing.get_order(order_id)
                return
            except Exception:
                await asyncio.sleep(1.0)
        # A finished order's state is its result, read from its history without a worker.
        with contextlib.suppress(Exception):
            handle = billing.temporal.get_workflow_handle(order_workflow_id(order_id), result_type=Order)
            if (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED:
                found[order_id] = await handle.result()

    await _bounded(order_ids, 16, read)
    return found


async def read_subscriptions(billing: BillingClient, ids: list[str]) -> dict[str, Subscription | None]:
    found: dict[str, Subscription | None] = {}

    async def read(subscription_id: str) -> None:
        try:
            found[subscription_id] = await billing.get_subscription(subscription_id)
        except Exception:
            found[subscription_id] = None

    await _bounded(ids, 16, read)
    return found


async def workflow_status(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    """The workflow's execution status; None when it cannot be described."""
    try:
        return (await client.get_workflow_handle(workflow_id).describe()).status
    except Exception:
        return None


async def scheduled_work(client: Client, workflow_id: str) -> str | None:
    """What the workflow is waiting for (a timer or an activity); None when nothing is scheduled."""
    handle = client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return None
    if description.raw_description.pending_activities:
        return "activity"
    open_timers: set[int] = set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            open_timers.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            open_timers.discard(event.timer_fired_event_attributes.started_event_id)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            open_timers.discard(event.timer_canceled_event_attributes.started_event_id)
    if open_timers:
        return "timer"
    if description.raw_description.pending_children:
        return "child workflow"
    return None


#: A workflow task failed this many times in a row (and not completed since) is failing, not retrying a refusal:
#: a stale-clock refusal (``workflows.common``) fails one attempt and the next replays afresh.
FAILING_TASK_ATTEMPTS = 3


async def failing_task(client: Client, workflow_id: str) -> str | None:
    """Why a running workflow's task keeps failing (its last failure, with the attempt it is at); None when its
    task is not failing (no task pending, or fewer than :data:`FAILING_TASK_ATTEMPTS` attempts). Such a run is
    stuck, even though its last completed task scheduled work and its history so far replays."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except Exception:
        return None
    pending = description.raw_description.pending_workflow_task
    if description.status is not WorkflowExecutionStatus.RUNNING or pending.attempt < FAILING_TASK_ATTEMPTS:
        return None
    message = "no failure recorded"
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            message = event.workflow_task_failed_event_attributes.failure.message
    return f"workflow task failing (attempt {pending.attempt}): {message}"


async def discover_period_orders(
    billing: BillingClient,
    subscriptions: dict[str, Subscription | None],
    order_ids: list[str],
    providers: dict[str, str],
) -> None:
    """Add the orders engine-billed subscriptions issued (every attempt of every period, adjustments) to
    ``order_ids`` and ``providers``: they move money like any order and are checked like one."""
    candidates: list[tuple[str, str]] = []
    for subscription in subscriptions.values():
        if subscription is None or subscription.mode not in ENGINE_MODES:
            continue
        for period in subscription.periods:
            for attempt in range(period.attempts + 2):
                candidates.append((subscription.period_order_id(period.number, attempt), subscription.provider))
        candidates += [(adjustment.order_id, subscription.provider) for adjustment in subscription.adjustments]
    unknown = [(order_id, provider) for order_id, provider in candidates if order_id not in providers]

    async def probe(item: tuple[str, str]) -> None:
        order_id, provider = item
        with contextlib.suppress(Exception):  # no such order: that attempt never happened
            await billing.get_order(order_id)
            providers[order_id] = provider
            order_ids.append(order_id)

    await _bounded(unknown, 16, probe)


#: Where a subscription rests until the merchant acts (dunning exhausted, or paused): nothing more expected.
RESTING_STATUSES = frozenset({SubscriptionStatus.UNPAID, SubscriptionStatus.PAUSED})


def _subscription_settled(subscription: Subscription | None) -> bool:
    return subscription is not None and (
        subscription.status in LIVE_STATUSES
        or subscription.status in FINAL_SUBSCRIPTION_STATUSES
        or subscription.status in RESTING_STATUSES
    )


async def chaos_schedule(
    rng: random.Random, stack: ChaosStack, client: Client, spread: float, counters: ChaosCounters,
    injector: FaultInjector, faults: int, progress: Progress,
) -> None:  # fmt: skip
    """Faults, kills and restarts at random moments of the load phase, one after another."""
    kills = max(1, round(spread / 40))
    actions: list[tuple[float, str]] = [(rng.uniform(1, spread), "fault") for _ in range(faults)]
    actions += [(rng.uniform(3, spread + 10), "kill worker") for _ in range(kills)]
    actions += [(rng.uniform(3, spread + 10), "kill http") for _ in range(kills)]
    actions += [(rng.uniform(spread * 0.3, spread * 0.8 + 5), "restart temporal")]
    actions.sort()
    started = time.monotonic()
    for at, action in actions:
        delay = at - (time.monotonic() - started)
        if delay > 0:
            await asyncio.sleep(delay)
        if action == "fault":
            await injector.inject(injector.next())
            continue
        progress.say(action)
        if action == "kill worker":
            await stack.kill_worker()
            counters.kills["worker (SIGKILL)"] += 1
        elif action == "kill http":
            await stack.kill_http()
            counters.kills["http service (SIGKILL)"] += 1
        else:
            await stack.restart_temporal()
            counters.restarts["temporal dev server"] += 1
    # Every kind of fault at least once, however short the run.
    while not injector.every_kind_injected:
        await injector.inject(injector.next())
    await stack.wait_for_worker(client)


async def run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    rng = random.Random(args.seed)
    spread = max(5.0, args.duration * 0.5)
    order_plans = plan_orders(rng, args.orders, spread, str(args.seed))
    subscription_plans = plan_subscriptions(rng, args.subscriptions, spread, str(args.seed))
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="billing-chaos-"))
    stack = ChaosStack(data_dir)
    counters = ChaosCounters()
    started = time.monotonic()
    progress.say(f"starting stack in {data_dir}")
    # SIGTERM (a CI job's timeout, a test's) stops the run and then the stack: its children run in sessions
    # of their own, and would outlive a process that died at once.
    this_run = asyncio.current_task()
    assert this_run is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this_run.cancel)
    try:
        client = await stack.start()
        billing = BillingClient(client, task_queue=TASK_QUEUE)
        async with (
            httpx.AsyncClient(base_url=stack.emulator_url, timeout=30) as emulators,
            httpx.AsyncClient(base_url=stack.http_url, timeout=10) as http,
        ):
            workload = Workload(billing, emulators, counters, rng)
            injector = FaultInjector(rng, emulators, counters)
            hostile = HostileCaller(rng, http, counters)

            async def hostile_for(plan: OrderPlan) -> None:
                if plan.redirect_flood:
                    await hostile.redirect_flood(plan.provider, plan.order_id, plan.redirect_flood)
                if plan.forged_webhook:
                    await hostile.forged_webhook(plan.order_id, plan.amount.to_decimal_string())

            async def delayed(at: float, coro: Awaitable[None]) -> None:
                await asyncio.sleep(at)
                await coro

            progress.set("load", orders=len(order_plans), subscriptions=len(subscription_plans))
            ticker = asyncio.create_task(
                progress.tick(
                    facts=lambda: {
                        "played": workload.played,
                        "faults": sum(counters.faults.values()),
                        "kills": sum(counters.kills.values()),
                        "restarts": sum(counters.restarts.values()),
                        "events": len(stack.receiver.deliveries) if stack.receiver else 0,
                    }
                )
            )
            faults = max(24, (args.orders + args.subscriptions) // 4)
            try:
                # A TaskGroup: should anything fail, everything else is cancelled before the stack stops.
                async with asyncio.TaskGroup() as group:
                    group.create_task(chaos_schedule(rng, stack, client, spread, counters, injector, faults, progress))
                    for p in order_plans:
                        play = workload.guarded(p.order_id, workload.play_order(p, hostile_for))
                        group.create_task(delayed(p.start_at, play))
                    for s in subscription_plans:
                        group.create_task(
                            delayed(s.start_at, workload.guarded(s.subscription_id, workload.play_subscription(s)))
                        )
                order_ids = [p.order_id for p in order_plans] + list(workload.child_orders)
                providers = {p.order_id: p.provider for p in order_plans} | workload.child_orders
                subscription_ids = [p.subscription_id for p in subscription_plans]
                progress.set("settling", budget_s=args.settle)
                deadline = time.monotonic() + args.settle
                open_orders = list(order_ids)
                while True:
                    subscriptions = await read_subscriptions(billing, subscription_ids)
                    known_ids = set(order_ids)
                    await discover_period_orders(billing, subscriptions, order_ids, providers)
                    # A settled order stays settled: only the others (and new period orders) are read again.
                    open_orders += [i for i in order_ids if i not in known_ids]
                    orders = await read_orders(billing, open_orders)
                    open_orders = [i for i, o in orders.items() if o is None or not settled(o)]
                    open_subs = [i for i, s in subscriptions.items() if not _subscription_settled(s)]
                    progress.facts.update(open_orders=len(open_orders), open_subscriptions=len(open_subs))
                    if (not open_orders and not open_subs) or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(3)
                for local in EMULATORS:
                    if local.sends_notifications:
                        with contextlib.suppress(httpx.HTTPError):
                            drain = f"/{local.name}/control/notifications/drain"
                            await emulators.post(drain, json={"timeoutS": 10})
                ledgers = {
                    name: (await emulators.get(f"/{name}/control/ledger")).json()["entries"] for name in EMULATOR_NAMES
                }
                # Every notification the emulators sent, dropped or gave up, with its attempts: kept with the
                # run's logs, and read by the subscription check to say what became of a period's notification.
                journals: dict[str, list[dict[str, Any]]] = {}
                for local in EMULATORS:
                    if local.sends_notifications:
                        with contextlib.suppress(httpx.HTTPError):
                            sent = await emulators.get(f"/{local.name}/control/notifications")
                            journals[local.name] = journal = sent.json()["notifications"]
                            (data_dir / f"notifications-{local.name}.json").write_text(json.dumps(journal, indent=1))
                leftover = {
                    name: len((await emulators.get(f"/{name}/control/faults")).json()["faults"])
                    for name in EMULATOR_NAMES
                }
                # Read once more, after the ledgers: a state read before a ledger entry could miss it.
                subscriptions = await read_subscriptions(billing, subscription_ids)
                await discover_period_orders(billing, subscriptions, order_ids, providers)
                orders = await read_orders(billing, order_ids)
            finally:
                ticker.cancel()
            progress.set("checking invariants")
            violations: list[Violation] = []
            known = {i: o for i, o in orders.items() if o is not None}
            unreadable: list[str] = []
            for order_id, order in orders.items():
                if order is not None:
                    continue
                outcome = workload.outcomes.get(order_id)
                if outcome is not None and not outcome.created:
                    continue  # the engine refused or never answered the create: there is no order
                status = await workflow_status(client, order_workflow_id(order_id))
                failing = await failing_task(client, order_workflow_id(order_id))
                if failing is not None:
                    # Unreadable because its task fails on every worker (a query replays to that task).
                    violations.append(Violation("stuck", order_id, providers[order_id], failing))
                elif status in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
                    # Its state could not be queried in time (a loaded worker): listed, not judged.
                    unreadable.append(order_id)
                else:
                    violations.append(Violation("stuck", order_id, providers[order_id], f"workflow {status.name}"))
            open_orders = [i for i in open_orders if i not in known or not settled(known[i])]
            for order_id in open_orders:
                if order_id not in known:
                    continue
                failing = await failing_task(client, order_workflow_id(order_id))
                if failing is not None:
                    violations.append(Violation("stuck", order_id, known[order_id].provider, failing))
                    continue
                waiting = await scheduled_work(client, order_workflow_id(order_id))
                if waiting is None:
                    order = known[order_id]
                    violations.append(
                        Violation("stuck", order_id, order.provider, f"{order.status}, nothing scheduled")
                    )
            violations += check_orders(known, ledger_by_order(providers.items(), ledgers))
            progress.say("replaying every order's history")
            failures = await replay_failures(client, [order_workflow_id(i) for i in order_ids])
            violations += [
                Violation("replay_nondeterminism", workflow_id.removeprefix("order-"),
                          providers.get(workflow_id.removeprefix("order-"), "?"), failure)
                for workflow_id, failure in sorted(failures.items())
            ]  # fmt: skip
            live_subs = {i: s for i, s in subscriptions.items() if s is not None}
            # The ledgers of the providers that bill subscriptions themselves.
            managed = [
                entry
                for name in EMULATOR_NAMES
                if PROVIDER_MANAGED in provider_spec(name).billing_modes
                for entry in ledgers[name]
            ]
            violations += check_subscriptions(live_subs, managed, [n for j in journals.values() for n in j])
            subjects = dict(providers) | {p.subscription_id: p.provider for p in subscription_plans}
            assert stack.receiver is not None
            violations += check_events(stack.receiver.deliveries, subjects)
            states: dict[str, Counter[str]] = defaultdict(Counter)
            for order in known.values():
                states[order.provider][order.status.value] += 1
            for subscription in live_subs.values():
                states[f"{subscription.provider} subscriptions"][subscription.status.value] += 1
            chaos = counters.to_json()
            chaos["faults_not_consumed"] = leftover
            chaos["events_received"] = len(stack.receiver.deliveries)
            return {
                "run": {
                    "seed": args.seed,
                    "orders": len(order_plans),
                    "subscriptions": len(subscription_plans),
                    "period_orders": len(order_ids) - len(order_plans),
                    "elapsed_s": round(time.monotonic() - started, 1),
                    "settled": not open_orders and not open_subs,
                    "unsettled": sorted(open_orders + open_subs)[:50],
                    "unsettled_count": len(open_orders) + len(open_subs),
                    "unreadable": unreadable,
                    "data_dir": str(data_dir),
                },
                "states": {provider: dict(counts) for provider, counts in sorted(states.items())},
                "chaos": chaos,
                "violations": [v.to_json() for v in violations],
                "needs_review": [vars(r) for r in reviews(known)],
                "notes": {k: o.notes for k, o in workload.outcomes.items() if o.notes},
            }
    finally:
        progress.set("stopping stack")
        await stack.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=None, help="replays a run (default: a random seed, printed)")
    parser.add_argument("--orders", type=int, default=60, help="one-time orders (all three providers)")
    parser.add_argument("--subscriptions", type=int, default=9, help="subscriptions (all three providers)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load and chaos (orders start "
                        "over the first half); settling comes after")  # fmt: skip
    parser.add_argument("--settle", type=float, default=150.0, help="at most this many seconds to settle")
    parser.add_argument("--data-dir", help="where the stack keeps its logs and database (default: a new temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    err = Console(stderr=True)
    progress = Progress(err, enabled=not args.quiet)
    progress.say(f"chaos run, seed {args.seed}")
    try:
        # The SDK's core and the child processes may print to stdout: it stays for the report alone.
        with stdout_to_stderr():
            data = asyncio.run(run(args, progress))
    except asyncio.CancelledError:
        err.print("[red]the chaos run was stopped[/] (SIGTERM); its stack is stopped too")
        return 2
    except Exception as exc:
        err.print(f"[red]the chaos run could not be carried out[/]: {type(exc).__name__}: {exc}")
        return 2
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        out = Console()
        print_report(data, out if out.is_terminal else Console(width=140))
    return 1 if data["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
