"""Benchmark: N provider-managed subscriptions renewing at the same instant, on the in-memory dev server.

Every subscription takes the real path::

    BillingClient.create_subscription (update-with-start; SubscriptionWorkflow creates it at the Waffo emulator)
    -> the customer pays period 1   (emulator control API: POST /waffo/control/subscriptions/{ref}/pay)
    -> signed PAYMENT_NOTIFICATION + SUBSCRIPTION_STATUS_NOTIFICATION -> our WebhookService -> signals
    -> ACTIVE, period 1 PAID

then the provider renews every subscription at once (``POST /waffo/control/subscriptions/{ref}/renew``
``{"succeed": true}``, all fired concurrently): the emulator charges period 2 and sends a
PAYMENT_NOTIFICATION and a SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION for each subscription.

Figures:

* time from the first renewal trigger until every subscription's ``status`` query shows period 2 PAID,
  and renewals settled per second;
* history events added by one renewal period: ``describe().history_length`` of a sample of workflows
  once they are active and idle, and again once period 2 is paid and they are idle, by event type;
* worker memory per cached idle subscription: the worker runs as its own process (``worker.main()``, what
  ``billing worker`` runs, with ``BILLING_*`` pointing at this stack, a workflow cache larger than N and
  the SDK's metrics buffered for this script: :data:`METRICS_BOOTSTRAP`); its VmRSS after warm-up, before
  the subscriptions are created, and once all N are active and idle in its cache, divided by N.

    .venv/bin/python scripts/bench_subscriptions.py --subscriptions 100
    .venv/bin/python scripts/bench_subscriptions.py --subscriptions 1000 --concurrency 50 --json
    .venv/bin/python scripts/bench_subscriptions.py --subscriptions 10000 --cache-size 1000

``--cache-size`` bounds the worker's workflow cache (``BILLING_WORKER_MAX_CACHED_WORKFLOWS``, as a deployment
sets it) below N, so most subscriptions are evicted while idle and every renewal of an evicted one replays
its history: the report then adds the worker's workflow tasks, replays and sticky-cache misses during the
renewal, counted from the Temporal SDK's own metrics (``temporal_workflow_task_replay_latency``,
``temporal_sticky_cache_miss``...) read from the worker process.

Helpers (keys, emulator, progress, statistics, CPU accounting) come from ``scripts/bench_orders.py``; the
process set-up, the dev server and printing the figures from ``scripts/benchlib.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from rich.console import Console
from rich.table import Table
from starlette.requests import Request
from starlette.responses import Response
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from billing.gateway import BillingInterval, Customer, SubscriptionPlan
from billing.idempotency import subscription_key
from billing.money import Money
from billing.subscriptions import (
    FINAL_SUBSCRIPTION_STATUSES,
    PeriodStatus,
    StartSubscription,
    Subscription,
    SubscriptionStatus,
    subscription_workflow_id,
)
from scripts import benchlib
from scripts.bench_orders import (
    KeyPair,
    ProgressDisplay,
    _mark,
    _ms,
    _num,
    dev_server_pid,
    emulator,
    own_cpu_s,
    process_cpu_s,
    summary_ms,
)
from webhooks.app import WebhookService

#: Targets checked by the report.
TARGET_EVENTS_PER_RENEWAL = 15
TARGET_KB_PER_SUBSCRIPTION = 50.0

PAYMENT_NOTIFICATION = "PAYMENT_NOTIFICATION"


# -- instrumented webhook service ------------------------------------------------------------------


@dataclass
class Delivery:
    event_type: str | None
    period: int | None
    received: float  # monotonic, start of WebhookService.receive
    answered: float  # monotonic, receive returned (the signal was accepted by Temporal)
    status_code: int


def peek_notification(body: bytes) -> tuple[str | None, int | None]:
    """Event type and the period a Waffo subscription notification is about (unverified, for timing only)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    event_type = payload.get("eventType")
    result = payload.get("result")
    if not isinstance(result, dict):
        result = {}
    info = result.get("subscriptionInfo") or result.get("productInfo") or {}
    raw = info.get("period", info.get("currentPeriod")) if isinstance(info, dict) else None
    try:
        period = int(raw) if raw is not None else None
    except (TypeError, ValueError):
        period = None
    return (event_type if isinstance(event_type, str) else None), period


class SubscriptionWebhookService(WebhookService):
    """WebhookService that records every subscription notification and signals waiters per paid period."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deliveries: dict[str, list[Delivery]] = defaultdict(list)
        self._paid: dict[tuple[str, int], asyncio.Event] = {}

    def period_paid(self, subscription_id: str, period: int) -> asyncio.Event:
        """Set once a PAYMENT_NOTIFICATION for ``period`` was answered 200 (its signal accepted)."""
        return self._paid.setdefault((subscription_id, period), asyncio.Event())

    def first(self, subscription_id: str, event_type: str, period: int) -> Delivery | None:
        return next(
            (
                d
                for d in self.deliveries.get(subscription_id, ())
                if d.event_type == event_type and d.period == period and d.status_code == 200
            ),
            None,
        )

    async def receive(self, request: Request) -> Response:
        received = time.monotonic()
        subscription_id = request.path_params.get("subscription_id")
        event_type = period = None
        if subscription_id is not None:
            # Starlette keeps the body on the request: the service reads the same bytes again.
            event_type, period = peek_notification(await request.body())
        response = await super().receive(request)
        if subscription_id is not None:
            self.deliveries[subscription_id].append(
                Delivery(event_type, period, received, time.monotonic(), response.status_code)
            )
            if event_type == PAYMENT_NOTIFICATION and period is not None and response.status_code == 200:
                self.period_paid(subscription_id, period).set()
        return response


# -- the worker and its memory -----------------------------------------------------------------------


def read_memory_kb(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile and VmHWM of a process, in kB (empty if /proc does not show it)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    wanted = {"VmRSS", "RssAnon", "RssFile", "VmHWM"}
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in wanted:
            values[name] = int(rest.split()[0])
    return values


#: The worker child with the Temporal SDK's metrics buffered and totalled: every half second a thread drains
#: the runtime's buffer and writes the totals (counter sums, histogram counts and sums, last gauge values) to
#: the file named by ``argv[1]``. The runtime is handed to the worker's client where the engine would build
#: one from ``OTEL_METRICS_EXPORTER`` (:func:`host.metrics.configure_metrics`).
METRICS_BOOTSTRAP = """
import json, os, sys, threading, time
from pathlib import Path

import host.metrics as metrics
from temporalio.runtime import BUFFERED_METRIC_KIND_COUNTER, BUFFERED_METRIC_KIND_GAUGE

out = Path(sys.argv[1])
runtime, buffer = metrics.buffered_runtime()
metrics.configure_metrics = lambda default_service="billing": runtime
counters, histograms, gauges = {}, {}, {}

def drain():
    sequence = 0
    while True:
        for update in buffer.retrieve_updates():
            name, kind = update.metric.name, update.metric.kind
            if kind == BUFFERED_METRIC_KIND_COUNTER:
                counters[name] = counters.get(name, 0) + update.value
            elif kind == BUFFERED_METRIC_KIND_GAUGE:
                gauges[name] = update.value
            else:
                count, total = histograms.get(name, (0, 0.0))
                histograms[name] = (count + 1, total + update.value)
        sequence += 1
        snapshot = {"sequence": sequence, "counters": counters, "gauges": gauges,
                    "histograms": {k: {"count": c, "sum": t} for k, (c, t) in histograms.items()}}
        temporary = out.with_suffix(".tmp")
        temporary.write_text(json.dumps(snapshot))
        os.replace(temporary, out)
        time.sleep(0.5)

threading.Thread(target=drain, name="bench-metrics", daemon=True).start()
sys.argv = ["worker"]
import worker
worker.main()
"""

#: SDK metrics reported for the renewal phase (Temporal Core's names with the default ``temporal_`` prefix).
WORKFLOW_TASKS = "temporal_workflow_task_execution_latency"
REPLAYS = "temporal_workflow_task_replay_latency"
CACHE_HITS = "temporal_sticky_cache_hit"
CACHE_MISSES = "temporal_sticky_cache_miss"
FORCED_EVICTIONS = "temporal_sticky_cache_total_forced_eviction"
CACHE_SIZE = "temporal_sticky_cache_size"


#: ``--trace-memory``: the worker child under tracemalloc; SIGUSR1 writes a snapshot and gc type counts.
TRACE_BOOTSTRAP = """
import collections, gc, itertools, json, signal, sys, tracemalloc
from pathlib import Path

directory, numbers = Path(sys.argv[1]), itertools.count()

def dump(signum, frame):
    number = next(numbers)
    tracemalloc.take_snapshot().dump(str(directory / f"{number}.tracemalloc"))
    gc.collect()
    types = collections.Counter(type(o).__module__ + "." + type(o).__qualname__ for o in gc.get_objects())
    (directory / f"{number}.types.json").write_text(json.dumps(types))
    (directory / f"{number}.done").write_text("")

signal.signal(signal.SIGUSR1, dump)
sys.argv = ["worker"]
import worker
worker.main()
"""


@dataclass
class WorkerProcess:
    """The billing worker under measurement: a child process, or this process (``--worker inprocess``)."""

    mode: str
    pid: int
    cache_size: int
    log_path: Path | None = None
    child: Any = None  # host.serving.ChildProcess when mode is "process"
    trace_dir: Path | None = None  # --trace-memory: where the child writes its snapshots
    metrics_path: Path | None = None  # where the child writes its SDK metric totals (METRICS_BOOTSTRAP)
    _snapshots: int = 0

    async def sdk_metrics(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The worker's SDK metric totals, from a write that started after this call; None without them."""
        if self.metrics_path is None:
            return None
        path = self.metrics_path

        def read() -> dict[str, Any] | None:
            try:
                value: dict[str, Any] = json.loads(path.read_text())
            except (OSError, ValueError):
                return None
            return value

        first = await asyncio.to_thread(read)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            await asyncio.sleep(0.2)
            current = await asyncio.to_thread(read)
            # Two writes later: the drain that produced it began after this call.
            if current is not None and (first is None or current["sequence"] >= first["sequence"] + 2):
                return current
        return None

    async def snapshot(self, timeout: float = 120.0) -> int | None:
        """Ask the traced worker for a tracemalloc snapshot and gc type counts; its number, or None."""
        if self.trace_dir is None:
            return None
        number, self._snapshots = self._snapshots, self._snapshots + 1
        os.kill(self.pid, signal.SIGUSR1)
        done = self.trace_dir / f"{number}.done"
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(done.exists):
            if time.monotonic() > deadline or not self.alive():
                return None
            await asyncio.sleep(0.2)
        return number

    def alive(self) -> bool:
        return self.child is None or self.child.running()

    def cpu_s(self) -> float | None:
        return own_cpu_s() if self.mode == "inprocess" else process_cpu_s(self.pid)

    def memory_kb(self) -> dict[str, int]:
        return read_memory_kb(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def settle(self, timeout: float = 30.0, idle_share: float = 0.05) -> float:
        """Wait until the worker is idle (see :func:`settle`)."""
        return await settle(self.cpu_s, timeout, idle_share)


async def settle(cpu_s: Callable[[], float | None], timeout: float = 30.0, idle_share: float = 0.05) -> float:
    """Wait until a process is idle: under ``idle_share`` of a core for two 0.5 s windows in a row."""
    started = time.monotonic()
    quiet = 0
    last = cpu_s()
    while time.monotonic() - started < timeout and quiet < 2:
        await asyncio.sleep(0.5)
        now = cpu_s()
        if last is None or now is None:
            break
        quiet = quiet + 1 if (now - last) / 0.5 < idle_share else 0
        last = now
    return time.monotonic() - started


async def wait_for_poller(client: Client, task_queue: str, worker: WorkerProcess, timeout: float = 60.0) -> None:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + timeout
    while not (await client.workflow_service.describe_task_queue(request)).pollers:
        if not worker.alive():
            raise RuntimeError(f"the worker exited during start-up:\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker never polled {task_queue}:\n{worker.log_tail()}")
        await asyncio.sleep(0.2)


def worker_env(
    *,
    temporal_address: str,
    task_queue: str,
    emulator_url: str,
    merchant: Any,
    webhook_url: str,
    cache_size: int,
    bytecode: str,
) -> dict[str, str]:
    """The worker process's environment (``starter.stackbuilder.service_environment``), ``merchant`` a
    ``LocalMerchant``."""
    from starter import stackbuilder

    env = stackbuilder.service_environment(
        merchant,
        temporal_address=temporal_address,
        emulator_url=emulator_url,
        http_url=webhook_url,
        base=os.environ,
        BILLING_TEMPORAL_TASK_QUEUE=task_queue,
        BILLING_WAFFO_READ_TIMEOUT="30",
        BILLING_WORKER_GRACE_SECONDS="0",
        BILLING_WORKER_MAX_CACHED_WORKFLOWS=str(cache_size),
    )
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    if bytecode == "cache" and env.get("PYTHONDONTWRITEBYTECODE") and not env.get("PYTHONPYCACHEPREFIX"):
        # As a deployed worker: modules come from compiled bytecode.
        env.pop("PYTHONDONTWRITEBYTECODE")
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-worker-pycache-")
    return env


def _short(filename: str) -> str:
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    marker = "site-packages" + os.sep
    if marker in filename:
        return filename.split(marker, 1)[1]
    return filename.removeprefix(root)


def memory_breakdown(directory: Path, before: int, after: int, count: int, top: int = 12) -> dict[str, Any]:
    """Python allocations (tracemalloc) and live objects (gc) added per subscription between two snapshots."""
    import tracemalloc

    old = tracemalloc.Snapshot.load(str(directory / f"{before}.tracemalloc"))
    new = tracemalloc.Snapshot.load(str(directory / f"{after}.tracemalloc"))
    traced = sum(t.size for t in new.traces) - sum(t.size for t in old.traces)
    by_file = new.compare_to(old, "filename")
    by_line = new.compare_to(old, "lineno")
    types: Counter[str] = Counter(json.loads((directory / f"{after}.types.json").read_text()))
    types.subtract(json.loads((directory / f"{before}.types.json").read_text()))
    per = max(count, 1)
    return {
        "snapshots": str(directory),
        "python_traced_kb_per_subscription": traced / 1024 / per,
        "by_file": [
            {
                "site": _short(stat.traceback[0].filename),
                "kb_per_subscription": stat.size_diff / 1024 / per,
                "blocks_per_subscription": stat.count_diff / per,
            }
            for stat in by_file[:top]
        ],
        "by_line": [
            {
                "site": f"{_short(stat.traceback[0].filename)}:{stat.traceback[0].lineno}",
                "kb_per_subscription": stat.size_diff / 1024 / per,
                "blocks_per_subscription": stat.count_diff / per,
            }
            for stat in by_line[:top]
        ],
        "objects_per_subscription": [
            {"type": name, "per_subscription": diff / per} for name, diff in types.most_common(top) if diff > 0
        ],
        "objects_total_per_subscription": sum(d for d in types.values() if d > 0) / per,
    }


# -- the stack ---------------------------------------------------------------------------------------


@dataclass
class Stack:
    client: Client
    billing: Any  # starter.client.BillingClient
    task_queue: str
    control: httpx.AsyncClient
    webhooks: SubscriptionWebhookService
    worker: WorkerProcess


@contextlib.asynccontextmanager
async def subscription_stack(client: Client, args: argparse.Namespace, console: Console) -> AsyncIterator[Stack]:
    from host.serving import ChildProcess
    from starter import stackbuilder
    from starter.client import BillingClient
    from worker import WorkerSettings

    keys = KeyPair.generate(), KeyPair.generate()
    task_queue = f"bench-subscriptions-{uuid.uuid4().hex[:8]}"
    # As large as the work unless --cache-size bounds it as a deployment would.
    cache_size = args.cache_size or max(WorkerSettings().max_cached_workflows, args.subscriptions + args.warmup + 100)
    async with (
        emulator(args.emulator, keys, console) as (emulator_url, local, _pay),
        stackbuilder.serve_http(client, local, SubscriptionWebhookService) as (webhooks, webhook_server),
    ):
        async with contextlib.AsyncExitStack() as stack:
            if args.worker == "process":
                log_dir = Path(tempfile.mkdtemp(prefix="bench-subscriptions-worker-"))
                env = worker_env(
                    temporal_address=client.service_client.config.target_host,
                    task_queue=task_queue,
                    emulator_url=emulator_url,
                    merchant=local,
                    webhook_url=webhook_server.url,
                    cache_size=cache_size,
                    bytecode=args.bytecode,
                )
                metrics_path: Path | None = log_dir / "sdk-metrics.json"
                argv = [sys.executable, "-c", METRICS_BOOTSTRAP, str(metrics_path)]
                trace_dir = None
                if args.trace_memory:
                    metrics_path = None
                    trace_dir = log_dir / "tracemalloc"
                    trace_dir.mkdir()
                    argv = [sys.executable, "-X", "tracemalloc=1", "-c", TRACE_BOOTSTRAP, str(trace_dir)]
                child = ChildProcess("worker", argv, log_path=log_dir / "worker.log", env=env)
                child.start()
                stack.callback(child.stop)
                worker = WorkerProcess(
                    "process",
                    child.pid,
                    cache_size,
                    log_dir / "worker.log",
                    child,
                    trace_dir=trace_dir,
                    metrics_path=metrics_path,
                )
            else:
                providers = stackbuilder.provider_clients(
                    local, emulator_url, {"waffo": {"read_timeout": 30.0, "connect_timeout": 5.0}}
                )
                stack.push_async_callback(providers.aclose)
                in_process = stackbuilder.in_process_worker(
                    client,
                    task_queue=task_queue,
                    providers=providers,
                    http_url=webhook_server.url,
                    settings=WorkerSettings(grace_seconds=0, max_cached_workflows=cache_size),
                )
                await stack.enter_async_context(in_process)
                worker = WorkerProcess("inprocess", os.getpid(), cache_size)
            await wait_for_poller(client, task_queue, worker)
            control = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=f"{emulator_url}/waffo/control",
                    timeout=60,
                    limits=httpx.Limits(max_connections=max(args.concurrency, args.renew_concurrency) + 10),
                )
            )
            yield Stack(
                client=client,
                billing=BillingClient(client, task_queue=task_queue),
                task_queue=task_queue,
                control=control,
                webhooks=cast(SubscriptionWebhookService, webhooks),
                worker=worker,
            )


# -- drivers --------------------------------------------------------------------------------------------


@dataclass
class SubSample:
    subscription_id: str
    started: float = 0.0  # before create_subscription
    created: float | None = None  # create_subscription returned (INCOMPLETE, authorization URL)
    pay_sent: float | None = None  # before the control API pay call
    active: float | None = None  # the status query first showed ACTIVE with period 1 PAID
    renew_sent: float | None = None  # before the control API renew call
    renew_answered: float | None = None  # the renew call returned (the emulator charged period 2)
    settled: float | None = None  # the status query first showed period 2 PAID
    queries: int = 0  # status queries during the renewal phase
    error: str | None = None
    # For the history sample.
    events_active: int | None = None
    events_renewed: int | None = None
    renewal_types: Counter[str] = field(default_factory=Counter)

    @property
    def events_per_renewal(self) -> int | None:
        if self.events_active is None or self.events_renewed is None:
            return None
        return self.events_renewed - self.events_active


def subscription_request(subscription_id: str) -> StartSubscription:
    return StartSubscription(
        subscription_id=subscription_id,
        provider="waffo",
        plan=SubscriptionPlan(
            plan_id="bench-monthly",
            description="Benchmark plan",
            amount=Money.parse("9.99", "USD"),
            interval=BillingInterval.MONTH,
        ),
        customer=Customer(customer_id="cust-bench", email="subscriber@example.com"),
    )


def period_paid(subscription: Subscription, period: int) -> bool:
    return subscription.current_period >= period and any(
        r.number == period and r.status is PeriodStatus.PAID for r in subscription.periods
    )


async def control_call(stack: Stack, subscription_id: str, action: str, body: dict[str, Any] | None = None) -> None:
    response = await stack.control.post(f"/subscriptions/{subscription_key(subscription_id)}/{action}", json=body or {})
    if response.status_code >= 400:
        raise RuntimeError(f"control {action}: HTTP {response.status_code} {response.text[:200]}")


async def create_and_pay(stack: Stack, sample: SubSample) -> None:
    try:
        sample.started = time.monotonic()
        created = await stack.billing.create_subscription(subscription_request(sample.subscription_id))
        sample.created = time.monotonic()
        if created.status is not SubscriptionStatus.INCOMPLETE:
            raise RuntimeError(f"created as {created.status.value}, expected INCOMPLETE")
        sample.pay_sent = time.monotonic()
        await control_call(stack, sample.subscription_id, "pay")
    except Exception as exc:  # recorded per subscription and reported
        sample.error = f"{type(exc).__name__}: {exc}"


async def wait_period_paid(
    stack: Stack,
    sample: SubSample,
    period: int,
    queries: asyncio.Semaphore,
    deadline: float,
    fallback_s: float = 30.0,
) -> float:
    """Monotonic time the status query first showed ``period`` PAID; woken by the webhook, re-checked by queries.

    Waits for the period's PAYMENT_NOTIFICATION to be answered (its signal accepted), then queries; if no
    notification shows up within ``fallback_s`` it queries anyway, so a missed webhook cannot hang the run.
    """
    notified = stack.webhooks.period_paid(sample.subscription_id, period)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"period {period} not PAID in time")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(notified.wait(), min(remaining, fallback_s))
        async with queries:
            if period > 1:
                sample.queries += 1
            subscription = await stack.billing.get_subscription(sample.subscription_id)
        if period_paid(subscription, period):
            return time.monotonic()
        if subscription.status in FINAL_SUBSCRIPTION_STATUSES:
            raise RuntimeError(f"ended {subscription.status.value} before period {period} was paid")
        if notified.is_set():
            await asyncio.sleep(0.005)


async def pool(
    items: list[Any], concurrency: int, run: Callable[[Any], Awaitable[None]], progress: ProgressDisplay
) -> None:
    """Run ``run`` over ``items`` with at most ``concurrency`` in flight (the caller bounds the time)."""
    queue = iter(items)

    async def lane() -> None:
        for item in queue:
            await run(item)
            progress.advance()

    await asyncio.gather(*(lane() for _ in range(min(concurrency, len(items)))))


async def drain_notifications(stack: Stack, timeout: float) -> bool:
    response = await stack.control.post(
        "/notifications/drain", json={"timeoutS": max(timeout, 1.0)}, timeout=max(timeout, 1.0) + 10
    )
    response.raise_for_status()
    return bool(response.json().get("drained"))


# -- histories -----------------------------------------------------------------------------------------


async def idle_history_length(client: Client, subscription_id: str, timeout: float = 30.0) -> int:
    """``history_length`` once the workflow has no workflow task pending (its last signal was processed)."""
    handle = client.get_workflow_handle(subscription_workflow_id(subscription_id))
    deadline = time.monotonic() + timeout
    while True:
        description = await handle.describe()
        if not description.raw_description.HasField("pending_workflow_task") or time.monotonic() > deadline:
            return description.history_length
        await asyncio.sleep(0.05)


async def renewal_event_types(client: Client, sample: SubSample) -> None:
    """The types of the events a renewal added (between the two idle snapshots)."""
    if sample.events_active is None or sample.events_renewed is None:
        return
    history = await client.get_workflow_handle(subscription_workflow_id(sample.subscription_id)).fetch_history()
    added = list(history.events)[sample.events_active : sample.events_renewed]
    sample.renewal_types = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in added)


# -- the run -----------------------------------------------------------------------------------------


@dataclass
class Measures:
    """Everything measured, filled in as the phases complete (a phase cut short leaves the rest unset)."""

    timed_out_in: str | None = None
    worker_settle_s: list[float] = field(default_factory=list)
    memory_before: dict[str, int] = field(default_factory=dict)
    memory_half: dict[str, int] = field(default_factory=dict)  # the first half of N active and idle
    half_active: int = 0
    memory_active: dict[str, int] = field(default_factory=dict)
    memory_renewed: dict[str, int] = field(default_factory=dict)
    activation_wall_s: float | None = None
    activation_drained: bool | None = None
    renewal_t0: float | None = None
    renewal_triggers_done: float | None = None
    renewal_cpu: dict[str, float | None] = field(default_factory=dict)
    renewal_metrics: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)
    renewal_drained: bool | None = None
    snapshot_before: int | None = None
    snapshot_active: int | None = None
    breakdown: dict[str, Any] | None = None


async def benchmark(args: argparse.Namespace, console: Console) -> dict[str, Any]:

    progress = ProgressDisplay(console, enabled=not args.quiet)
    run_started = time.monotonic()

    def budget() -> float:
        return max(float(args.timeout) - (time.monotonic() - run_started), 0.0)

    console.print("Starting the Temporal dev server (in memory) and the subscription stack…", highlight=False)
    env = await benchlib.start_dev_server()
    server_pid = dev_server_pid()
    started_ids: list[str] = []
    measures = Measures()
    prefix = uuid.uuid4().hex[:6]
    warm = [SubSample(f"bench-{prefix}-warmup-{i:05d}") for i in range(args.warmup)]
    samples = [SubSample(f"bench-{prefix}-sub-{i:05d}") for i in range(args.subscriptions)]
    step = max(len(samples) // max(args.history_sample, 1), 1)
    history_sample = samples[::step][: args.history_sample]
    phase = "setup"
    running: list[Stack] = []  # the stack, for the report if the budget runs out
    try:
        async with asyncio.timeout(budget()):
            async with subscription_stack(env.client, args, console) as stack:
                running.append(stack)
                queries = asyncio.Semaphore(args.concurrency)
                try:

                    async def create(sample: SubSample) -> None:
                        started_ids.append(subscription_workflow_id(sample.subscription_id))
                        await create_and_pay(stack, sample)

                    async def activated(sample: SubSample) -> None:
                        if sample.error is not None:
                            return
                        try:
                            deadline = time.monotonic() + budget()
                            sample.active = await wait_period_paid(stack, sample, 1, queries, deadline)
                        except Exception as exc:
                            sample.error = f"{type(exc).__name__}: {exc}"

                    async def renew(sample: SubSample, gate: asyncio.Semaphore) -> None:
                        async with gate:
                            sample.renew_sent = time.monotonic()
                            await control_call(stack, sample.subscription_id, "renew", {"succeed": True})
                            sample.renew_answered = time.monotonic()

                    async def settled(sample: SubSample) -> None:
                        try:
                            deadline = time.monotonic() + budget()
                            sample.settled = await wait_period_paid(stack, sample, 2, queries, deadline)
                        except Exception as exc:
                            sample.error = f"{type(exc).__name__}: {exc}"
                        finally:
                            progress.advance()

                    if warm:
                        # Not measured: the worker's first imports and sandbox runs, connection pools, a
                        # renewal through every code path.
                        phase = "warm-up"
                        async with progress.phase("warm-up", 2 * len(warm)):
                            await pool(warm, args.concurrency, create, progress)
                            await asyncio.gather(*(activated(s) for s in warm))
                            ready = [s for s in warm if s.active is not None]
                            renew_gate = asyncio.Semaphore(args.renew_concurrency)
                            await asyncio.gather(*(renew(s, renew_gate) for s in ready), return_exceptions=True)
                            await asyncio.gather(*(settled(s) for s in ready))
                        await drain_notifications(stack, budget())

                    phase = "memory before"
                    measures.worker_settle_s.append(await stack.worker.settle())
                    measures.memory_before = stack.worker.memory_kb()
                    measures.snapshot_before = await stack.worker.snapshot()

                    # Activated in two halves with the worker measured in between: the second half's growth
                    # is what one more cached subscription costs, without any one-time growth of the worker
                    # (pools, caches, buffers sized by the concurrency) that the first half may still cause.
                    phase = "activation"
                    half = len(samples) // 2
                    measures.activation_wall_s = 0.0
                    for part, batch in enumerate((samples[:half], samples[half:])):
                        if not batch:
                            continue
                        t_act = time.monotonic()
                        async with progress.phase(f"create + first payment ({part + 1}/2)", len(batch)):
                            await pool(batch, args.concurrency, create, progress)
                        async with progress.phase(f"active, period 1 PAID ({part + 1}/2)", len(batch)):
                            await pool(batch, len(batch), activated, progress)
                        done = [s.active for s in batch if s.active is not None]
                        measures.activation_wall_s += (max(done) - t_act) if done else 0.0
                        # Every activation notification delivered (the status one follows the payment one).
                        measures.activation_drained = await drain_notifications(stack, budget())
                        measures.worker_settle_s.append(await stack.worker.settle())
                        if part == 0:
                            measures.memory_half = stack.worker.memory_kb()
                            measures.half_active = sum(1 for s in batch if s.active is not None)

                    phase = "history after activation"
                    active = [s for s in history_sample if s.active is not None]

                    async def snapshot_active(s: SubSample) -> None:
                        s.events_active = await idle_history_length(env.client, s.subscription_id)

                    await benchlib.for_each(active, 10, snapshot_active)
                    measures.worker_settle_s.append(await stack.worker.settle())
                    measures.memory_active = stack.worker.memory_kb()
                    measures.snapshot_active = await stack.worker.snapshot()
                    if stack.worker.trace_dir and measures.snapshot_before is not None and measures.snapshot_active:
                        measures.breakdown = await asyncio.to_thread(
                            memory_breakdown,
                            stack.worker.trace_dir,
                            measures.snapshot_before,
                            measures.snapshot_active,
                            sum(1 for s in samples if s.active is not None),
                        )

                    phase = "renewal"
                    ready = [s for s in samples if s.active is not None]
                    renew_gate = asyncio.Semaphore(args.renew_concurrency)
                    metrics0 = await stack.worker.sdk_metrics()
                    cpu0 = (stack.worker.cpu_s(), process_cpu_s(server_pid), own_cpu_s())
                    async with progress.phase("renewal: period 2 PAID", len(ready)):
                        waiters = [asyncio.create_task(settled(s)) for s in ready]
                        measures.renewal_t0 = time.monotonic()
                        triggers = await asyncio.gather(*(renew(s, renew_gate) for s in ready), return_exceptions=True)
                        measures.renewal_triggers_done = time.monotonic()
                        for s, outcome in zip(ready, triggers, strict=True):
                            if isinstance(outcome, BaseException):
                                s.error = f"renew: {type(outcome).__name__}: {outcome}"
                        await asyncio.gather(*waiters)
                    cpu1 = (stack.worker.cpu_s(), process_cpu_s(server_pid), own_cpu_s())
                    measures.renewal_metrics = (metrics0, await stack.worker.sdk_metrics())
                    measures.renewal_cpu = {
                        name: (b - a) if a is not None and b is not None else None
                        for name, a, b in zip(("worker", "dev_server", "bench"), cpu0, cpu1, strict=True)
                    }

                    phase = "history after renewal"
                    measures.renewal_drained = await drain_notifications(stack, budget())
                    measures.worker_settle_s.append(await stack.worker.settle())
                    renewed = [s for s in history_sample if s.settled is not None and s.events_active is not None]

                    async def snapshot_renewed(s: SubSample) -> None:
                        s.events_renewed = await idle_history_length(env.client, s.subscription_id)
                        await renewal_event_types(env.client, s)

                    await benchlib.for_each(renewed, 10, snapshot_renewed)
                    measures.worker_settle_s.append(await stack.worker.settle())
                    measures.memory_renewed = stack.worker.memory_kb()
                except (TimeoutError, asyncio.CancelledError):
                    measures.timed_out_in = phase
                    raise
                finally:
                    if not stack.worker.alive():
                        console.print(f"[red]The worker process died.[/] Log tail:\n{stack.worker.log_tail()}")
                data = report_data(args, stack, warm, samples, measures)
    except TimeoutError:
        measures.timed_out_in = measures.timed_out_in or phase
        console.print(f"[red]The time budget ran out during: {measures.timed_out_in}[/]", highlight=False)
        data = report_data(args, running[0] if running else None, warm, samples, measures)
    finally:
        await benchlib.stop_dev_server(env, started_ids, console, timeout=180)
    return data


def worker_tasks(metrics: tuple[dict[str, Any] | None, dict[str, Any] | None], renewals: int) -> dict[str, Any]:
    """The worker's workflow tasks, replays and sticky-cache traffic between two SDK metric totals."""
    before, after = metrics
    if before is None or after is None:
        return {"measured": False}

    def counter(name: str) -> float:
        return float(after["counters"].get(name, 0) - before["counters"].get(name, 0))

    def histogram(name: str) -> tuple[int, float]:
        old = before["histograms"].get(name, {"count": 0, "sum": 0.0})
        new = after["histograms"].get(name, {"count": 0, "sum": 0.0})
        return int(new["count"] - old["count"]), float(new["sum"] - old["sum"])

    tasks, _ = histogram(WORKFLOW_TASKS)
    replays, _ = histogram(REPLAYS)
    per = max(renewals, 1)
    return {
        "measured": True,
        "workflow_tasks": tasks,
        "workflow_tasks_per_renewal": tasks / per,
        "replays": replays,
        "replays_per_renewal": replays / per,
        "sticky_cache_hits": counter(CACHE_HITS),
        "sticky_cache_misses": counter(CACHE_MISSES),
        "forced_evictions": counter(FORCED_EVICTIONS),
        "cache_size_at_end": after["gauges"].get(CACHE_SIZE),
    }


def report_data(
    args: argparse.Namespace,
    stack: Stack | None,
    warm: list[SubSample],
    samples: list[SubSample],
    m: Measures,
) -> dict[str, Any]:
    n = len(samples)
    active = [s for s in samples if s.active is not None]
    settled = [s for s in samples if s.settled is not None]
    t0 = m.renewal_t0
    hooks = stack.webhooks if stack is not None else None

    renewal_wall = (max(s.settled for s in settled if s.settled) - t0) if settled and t0 is not None else None
    after_trigger = [s.settled - t0 for s in settled if s.settled is not None and t0 is not None]
    receipt_to_settled: list[float] = []
    handler: list[float] = []
    receipts: list[float] = []
    if hooks is not None:
        for s in settled:
            delivery = hooks.first(s.subscription_id, PAYMENT_NOTIFICATION, 2)
            if delivery is None or s.settled is None:
                continue
            receipts.append(delivery.received)
            receipt_to_settled.append(s.settled - delivery.received)
            handler.append(delivery.answered - delivery.received)
    renewal_deliveries = (
        [d for s in samples for d in hooks.deliveries.get(s.subscription_id, ()) if t0 is not None and d.received >= t0]
        if hooks is not None
        else []
    )
    renew_calls = [s.renew_answered - s.renew_sent for s in samples if s.renew_answered and s.renew_sent]

    counted = [s for s in samples if s.events_per_renewal is not None]
    per_renewal = [s.events_per_renewal for s in counted if s.events_per_renewal is not None]
    type_totals: Counter[str] = Counter()
    for s in counted:
        type_totals.update(s.renewal_types)
    events_max = max(per_renewal) if per_renewal else None

    before, after_active, after_renewal = m.memory_before, m.memory_active, m.memory_renewed

    def per_sub(a: dict[str, int], b: dict[str, int], key: str, count: int) -> float | None:
        if key not in a or key not in b or not count:
            return None
        return (b[key] - a[key]) / count

    kb_per_sub = per_sub(before, after_active, "VmRSS", len(active))
    cpu = m.renewal_cpu

    def cpu_ms(name: str) -> float | None:
        value = cpu.get(name)
        return None if value is None or not settled else 1000 * value / len(settled)

    return {
        "subscriptions": n,
        "concurrency": args.concurrency,
        "renew_concurrency": args.renew_concurrency,
        "warmup": args.warmup,
        "cache_size": stack.worker.cache_size if stack is not None else args.cache_size,
        "evicting": stack is not None and stack.worker.cache_size < n + args.warmup,
        "emulator": args.emulator,
        "worker": args.worker,
        "bytecode": args.bytecode,
        **benchlib.versions(),
        "load_average_at_end": os.getloadavg(),
        "timed_out_in": m.timed_out_in,
        "activation": {
            "created": sum(1 for s in samples if s.created is not None),
            "active": len(active),
            "wall_s": m.activation_wall_s,
            "per_s": len(active) / m.activation_wall_s if m.activation_wall_s else None,
            "create_subscription": summary_ms([s.created - s.started for s in samples if s.created is not None]),
            "notifications_drained": m.activation_drained,
        },
        "renewal": {
            "subscriptions": len([s for s in samples if s.renew_sent is not None]),
            "settled": len(settled),
            "wall_s": renewal_wall,
            "per_s": len(settled) / renewal_wall if renewal_wall else None,
            "triggers_wall_s": (m.renewal_triggers_done - t0)
            if m.renewal_triggers_done is not None and t0 is not None
            else None,
            "renew_call": summary_ms(renew_calls),
            "first_payment_webhook_s": (min(receipts) - t0) if receipts and t0 is not None else None,
            "last_payment_webhook_s": (max(receipts) - t0) if receipts and t0 is not None else None,
            "notifications_delivered": len(renewal_deliveries),
            "notifications_per_s": (
                len(renewal_deliveries) / (max(d.answered for d in renewal_deliveries) - t0)
                if renewal_deliveries and t0 is not None
                else None
            ),
            "trigger_to_settled": summary_ms(after_trigger),
            "webhook_receipt_to_settled": summary_ms(receipt_to_settled),
            "webhook_handler": summary_ms(handler),
            "status_queries_mean": statistics.fmean(s.queries for s in settled) if settled else None,
            "cpu_worker_ms_per_renewal": cpu_ms("worker"),
            "worker_tasks": worker_tasks(m.renewal_metrics, len(settled)),
            "cpu_dev_server_ms_per_renewal": cpu_ms("dev_server"),
            "cpu_bench_process_ms_per_renewal": cpu_ms("bench"),
            "notifications_drained": m.renewal_drained,
        },
        "history": {
            "sample": len(counted),
            "events_at_activation_mean": statistics.fmean(s.events_active for s in counted if s.events_active)
            if counted
            else None,
            "events_per_renewal_mean": statistics.fmean(per_renewal) if per_renewal else None,
            "events_per_renewal_min": min(per_renewal) if per_renewal else None,
            "events_per_renewal_max": events_max,
            "event_types_mean": {name: total / len(counted) for name, total in type_totals.most_common()},
            "example": counted[0].subscription_id if counted else None,
        },
        "memory": {
            "measured": (
                ("worker process" + (" under tracemalloc" if args.trace_memory else ""))
                if args.worker == "process"
                else "bench process (worker, emulator, webhooks)"
            ),
            "pid": stack.worker.pid if stack is not None else None,
            "workflow_cache": stack.worker.cache_size if stack is not None else None,
            "before_kb": before,
            "active_kb": after_active,
            "after_renewal_kb": after_renewal,
            "kb_per_subscription": kb_per_sub,
            "anon_kb_per_subscription": per_sub(before, after_active, "RssAnon", len(active)),
            "half_kb": m.memory_half,
            "marginal_kb_per_subscription": per_sub(m.memory_half, after_active, "VmRSS", len(active) - m.half_active),
            "renewal_growth_kb_per_subscription": per_sub(after_active, after_renewal, "VmRSS", len(settled)),
            "worker_settle_s": m.worker_settle_s,
            "breakdown": m.breakdown,
        },
        "failed_subscriptions": n - len(settled),
        "errors": sorted({s.error for s in warm + samples if s.error})[:10],
        "targets": {
            "events_max": TARGET_EVENTS_PER_RENEWAL,
            "events_pass": events_max is not None and events_max <= TARGET_EVENTS_PER_RENEWAL,
            "kb_per_subscription_max": TARGET_KB_PER_SUBSCRIPTION,
            "memory_pass": kb_per_sub is not None and kb_per_sub <= TARGET_KB_PER_SUBSCRIPTION,
        },
    }


# -- output ------------------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f} s"


def _kb(values: dict[str, int], key: str = "VmRSS") -> str:
    return f"{values[key] / 1024:,.1f} MiB" if key in values else "–"


def print_report(data: dict[str, Any], console: Console) -> None:
    act, ren, history, memory, targets = (
        data["activation"],
        data["renewal"],
        data["history"],
        data["memory"],
        data["targets"],
    )
    table = Table(title="Subscription renewal benchmark (in-memory Temporal dev server)", show_lines=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_row(
        "setup",
        f"N={data['subscriptions']} · cache {data['cache_size']} · concurrency {data['concurrency']} · "
        f"renew {data['renew_concurrency']} · warm-up {data['warmup']}",
        f"worker {data['worker']}, emulator {data['emulator']}, bytecode {data['bytecode']}",
    )
    table.add_row(
        "versions",
        f"Python {data['python']} · temporalio {data['temporalio']}",
        f"{data['cpus']} CPUs, load {data['load_average_at_end'][0]:.2f}",
    )
    table.add_section()
    table.add_row(
        "activation: create + pay → all ACTIVE, period 1 PAID",
        _s(act["wall_s"]),
        f"{act['active']}/{data['subscriptions']} active, {_num(act['per_s'])}/s",
    )
    c = act["create_subscription"]
    table.add_row(
        "  create_subscription (update-with-start), p50 / p95", f"{_ms(c['p50_ms'])} / {_ms(c['p95_ms'])}", ""
    )
    table.add_section()
    table.add_row(
        "renewal: first trigger → every period 2 PAID",
        _s(ren["wall_s"]),
        f"{ren['settled']}/{ren['subscriptions']} settled",
    )
    table.add_row("renewals settled per second", f"{_num(ren['per_s'])}/s", "")
    table.add_row("  all renew triggers answered after", _s(ren["triggers_wall_s"]), "")
    table.add_row(
        "  period 2 payment webhooks: first / last received after",
        f"{_s(ren['first_payment_webhook_s'])} / {_s(ren['last_payment_webhook_s'])}",
        "",
    )
    table.add_row(
        "  renewal notifications delivered (emulator: one delivery lane)",
        f"{ren['notifications_delivered']} · {_num(ren['notifications_per_s'])}/s",
        "",
    )
    t = ren["trigger_to_settled"]
    table.add_row(
        "  trigger → period 2 PAID per subscription, p50 / p95", f"{_ms(t['p50_ms'])} / {_ms(t['p95_ms'])}", ""
    )
    w = ren["webhook_receipt_to_settled"]
    table.add_row("  payment webhook receipt → PAID query, p50 / p95", f"{_ms(w['p50_ms'])} / {_ms(w['p95_ms'])}", "")
    h = ren["webhook_handler"]
    table.add_row("  webhook handler (verify + signal), p50 / p95", f"{_ms(h['p50_ms'])} / {_ms(h['p95_ms'])}", "")
    table.add_row(
        "  CPU per renewal: worker / dev server / bench process",
        f"{_num(ren['cpu_worker_ms_per_renewal'])} / {_num(ren['cpu_dev_server_ms_per_renewal'])} / "
        f"{_num(ren['cpu_bench_process_ms_per_renewal'])} ms",
        "",
    )
    tasks = ren["worker_tasks"]
    if tasks["measured"]:
        table.add_row(
            "  worker workflow tasks / replays per renewal",
            f"{tasks['workflow_tasks_per_renewal']:.2f} / {tasks['replays_per_renewal']:.2f}",
            f"sticky cache: {tasks['sticky_cache_hits']:,.0f} hits, {tasks['sticky_cache_misses']:,.0f} misses, "
            f"{tasks['forced_evictions']:,.0f} forced evictions",
        )
    table.add_section()
    table.add_row(
        f"history events per renewal period, mean / max (sample {history['sample']})",
        f"{_num(history['events_per_renewal_mean'])} / {history['events_per_renewal_max'] or '–'}",
        f"max ≤ {targets['events_max']} {_mark(targets['events_pass'])}",
    )
    table.add_row("  history length once active (mean)", _num(history["events_at_activation_mean"]), "")
    table.add_section()
    table.add_row(
        f"{memory['measured']} VmRSS: warm / N active / after renewal",
        f"{_kb(memory['before_kb'])} / {_kb(memory['active_kb'])} / {_kb(memory['after_renewal_kb'])}",
        f"workflow cache {memory['workflow_cache'] or '–'}",
    )
    table.add_row(
        "memory per active subscription (ΔVmRSS ÷ N), most evicted"
        if data["evicting"]
        else "memory per cached idle subscription (ΔVmRSS ÷ N)",
        "–" if memory["kb_per_subscription"] is None else f"{memory['kb_per_subscription']:,.1f} KB",
        f"≤ {targets['kb_per_subscription_max']:g} KB {_mark(targets['memory_pass'])}",
    )
    table.add_row(
        "  of which anonymous memory (ΔRssAnon ÷ N)",
        "–" if memory["anon_kb_per_subscription"] is None else f"{memory['anon_kb_per_subscription']:,.1f} KB",
        "",
    )
    table.add_row(
        "  of the second half of N only (ΔVmRSS ÷ N/2)",
        "–" if memory["marginal_kb_per_subscription"] is None else f"{memory['marginal_kb_per_subscription']:,.1f} KB",
        "",
    )
    table.add_row(
        "  growth per subscription from the renewal",
        "–"
        if memory["renewal_growth_kb_per_subscription"] is None
        else f"{memory['renewal_growth_kb_per_subscription']:,.1f} KB",
        "",
    )
    console.print(table)

    if history["event_types_mean"]:
        types = Table(title="History events added by one renewal, by type (mean per subscription)")
        types.add_column("event type")
        types.add_column("mean", justify="right")
        for name, mean in history["event_types_mean"].items():
            types.add_row(name, f"{mean:.2f}")
        console.print(types)
    breakdown = memory.get("breakdown")
    if breakdown:
        sites = Table(
            title=(
                f"Worker memory per cached subscription by allocation site (tracemalloc): Python heap "
                f"{breakdown['python_traced_kb_per_subscription']:,.1f} KB of "
                f"{memory['kb_per_subscription'] or 0:,.1f} KB RSS"
            )
        )
        sites.add_column("allocated in (file)")
        sites.add_column("KB", justify="right")
        sites.add_column("blocks", justify="right")
        for row in breakdown["by_file"]:
            sites.add_row(row["site"], f"{row['kb_per_subscription']:,.1f}", f"{row['blocks_per_subscription']:,.0f}")
        sites.add_section()
        for row in breakdown["by_line"][:8]:
            sites.add_row(row["site"], f"{row['kb_per_subscription']:,.1f}", f"{row['blocks_per_subscription']:,.0f}")
        console.print(sites)
        objects = Table(
            title=(
                f"Live objects per cached subscription (gc): {breakdown['objects_total_per_subscription']:,.0f} in all"
            )
        )
        objects.add_column("type")
        objects.add_column("count", justify="right")
        for row in breakdown["objects_per_subscription"]:
            objects.add_row(row["type"], f"{row['per_subscription']:,.1f}")
        console.print(objects)
    console.print(
        "Intervals: [bold]first trigger[/] is time.monotonic() before the first "
        "POST /waffo/control/subscriptions/{ref}/renew; [bold]period 2 PAID[/] is when the first "
        "SubscriptionWorkflow.status query issued after the period's PAYMENT_NOTIFICATION was answered "
        "(its signal accepted by Temporal) showed current_period 2 with period 2 PAID. History events per "
        "renewal: describe().history_length with no workflow task pending, once active (both activation "
        "notifications delivered) and once period 2 was paid (both renewal notifications delivered). Memory: "
        "VmRSS of the worker after warm-up, before any measured subscription existed, and with all N "
        "active and idle in its workflow cache (N is activated in two halves; the second half's growth alone "
        "is shown as well).",
        highlight=False,
    )
    if data["failed_subscriptions"] or data["errors"]:
        console.print(f"[red]{data['failed_subscriptions']} subscriptions not renewed.[/] Errors: {data['errors']}")
    if data["timed_out_in"]:
        console.print(f"[red]The time budget ran out during {data['timed_out_in']}; figures are partial.[/]")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Create N provider-managed (Waffo) subscriptions on the in-memory Temporal dev server, activate "
            "them (first payment), then renew all of them at the same instant; report the time until every "
            "period 2 is PAID, history events per renewal period and worker memory per cached idle "
            "subscription."
        )
    )
    parser.add_argument("--subscriptions", "-n", type=int, default=1000, help="subscriptions to create and renew")
    parser.add_argument(
        "--concurrency", "-c", type=int, default=50, help="creations and status queries in flight at once"
    )
    parser.add_argument(
        "--renew-concurrency", type=int, default=None, help="renew control calls in flight at once (default: -c)"
    )
    parser.add_argument(
        "--cache-size",
        type=int,
        default=None,
        help=(
            "the worker's workflow cache (BILLING_WORKER_MAX_CACHED_WORKFLOWS); default: larger than N, so "
            "every subscription stays cached. Below N, idle subscriptions are evicted and replay on renewal"
        ),
    )
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured subscriptions run through a renewal first")
    parser.add_argument(
        "--history-sample", type=int, default=50, help="subscriptions whose history is counted (spread over N)"
    )
    parser.add_argument(
        "--worker",
        choices=["process", "inprocess"],
        default="process",
        help=(
            "process: run the worker (worker.main(), as `billing worker`) as a child process and measure its RSS; "
            "inprocess: a worker in this process (RSS then includes the emulator and webhook service)"
        ),
    )
    benchlib.add_process_options(parser)
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help=(
            "run the worker child under tracemalloc and break its memory per subscription down by allocation "
            "site and object type (slower; RSS then includes tracemalloc's own overhead)"
        ),
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds the whole run may take")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.add_argument("--check", action="store_true", help="exit with status 3 when a target is missed")
    args = parser.parse_args(argv)
    if args.renew_concurrency is None:
        args.renew_concurrency = args.concurrency
    if args.subscriptions < 1 or args.concurrency < 1 or args.renew_concurrency < 1 or args.warmup < 0:
        parser.error("--subscriptions and the concurrencies must be positive, --warmup non-negative")
    if args.cache_size is not None and args.cache_size < 1:
        parser.error("--cache-size must be positive")
    if args.history_sample < 0:
        parser.error("--history-sample must be non-negative")
    if args.trace_memory and args.worker != "process":
        parser.error("--trace-memory needs --worker process")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = benchlib.run_benchmark(args, benchmark, print_report, width=130)
    if data["failed_subscriptions"] or data["timed_out_in"]:
        return 1
    if args.check and not (data["targets"]["events_pass"] and data["targets"]["memory_pass"]):
        return 3
    return 0


if __name__ == "__main__":
    benchlib.exit_now(main())
