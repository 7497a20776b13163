"""Benchmark: one-time orders end to end on the in-memory Temporal dev server, against a minimal baseline.

Every order takes the real path::

    BillingClient.create_order (update-with-start; OrderWorkflow calls the Waffo emulator, signed)
    -> the customer pays   (in-process emulator: a call to it; ``--emulator process``: its control API,
                            POST /waffo/control/orders/{payment_key}/pay)
    -> the emulator's signed PAYMENT_NOTIFICATION -> our WebhookService -> signal -> PAID

The baseline, run on the same dev server in the same process run with the same N and concurrency, is
the smallest workflow with the same client interaction: started by update-with-start, one activity
making one HTTP GET to the emulator, then one signal sent by this script once the activity completed.
It runs twice: on the runner production workers use (``worker.workflow_runner``, as the orders do) and on
the SDK's stock ``SandboxedWorkflowRunner``.

Figures: orders/s (wall clock from the first create to the last PAID), latency from webhook receipt to
PAID, history events per order up to PAID, and orders/s divided by baseline workflows/s, for each
baseline.

    .venv/bin/python scripts/bench_orders.py --orders 200 --concurrency 20
    .venv/bin/python scripts/bench_orders.py --orders 50 --json

The module is also imported by the workflow sandbox (the baseline workflow lives here): importing it
has no side effects, and everything it imports is passed through.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from starlette.requests import Request
    from starlette.responses import Response
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client, WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.converter import PayloadConverter
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from billing import search_attributes
    from billing.gateway import Customer
    from billing.idempotency import payment_key
    from billing.money import Money
    from billing.orders import FINAL_STATUSES, CreateOrder, OrderPolicy, OrderStatus, order_workflow_id
    from scripts import benchlib
    from webhooks.app import WebhookService

#: Targets checked by the report.
TARGET_RATIO = 0.7
TARGET_EVENTS = 20

API_KEY = "bench-api-key"
MERCHANT_ID = "MID-BENCH-1"
#: The merchant's site (Waffo orders name its ``/shop`` page).
SITE_URL = "https://merchant.example"


# -- baseline workflow (runs in the sandbox) ----------------------------------------------------------


@workflow.defn(name="BenchBaselineWorkflow")
class BaselineWorkflow:
    """One activity (one HTTP call), then wait for one signal."""

    def __init__(self) -> None:
        self.called = False
        self.signalled = False

    @workflow.run
    async def run(self, url: str) -> int:
        status = await workflow.execute_activity("bench_ping", url, start_to_close_timeout=timedelta(seconds=60))
        self.called = True
        await workflow.wait_condition(lambda: self.signalled)
        return int(status)

    @workflow.update
    async def ready(self) -> None:
        """Returns once the activity completed (the baseline's counterpart of ``submit``)."""
        await workflow.wait_condition(lambda: self.called)

    @workflow.signal
    def proceed(self) -> None:
        self.signalled = True


class PingActivity:
    """The baseline's activity: one HTTP GET to the emulator."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        #: Workflow id -> future resolved when the HTTP call returned (``--baseline-start start``).
        self.returned: dict[str, asyncio.Future[None]] = {}

    @activity.defn(name="bench_ping")
    async def ping(self, url: str) -> int:
        response = await self.http.get(url)
        future = self.returned.get(activity.info().workflow_id or "")
        if future is not None and not future.done():
            # Resolved after this coroutine returns and the SDK reports the completion.
            asyncio.get_running_loop().call_soon(future.set_result, None)
        return response.status_code


# -- instrumented webhook service ------------------------------------------------------------------


class TimingWebhookService(WebhookService):
    """WebhookService that records when each order's notification arrived and when it was answered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: order id -> (monotonic, wall clock) at the start of ``receive`` (first delivery only).
        self.received: dict[str, tuple[float, float]] = {}
        #: order id -> monotonic when ``receive`` returned (the signal was accepted by Temporal).
        self.answered: dict[str, float] = {}
        self.answer_status: dict[str, int] = {}
        self._waiters: dict[str, asyncio.Event] = {}

    def expect(self, order_id: str) -> asyncio.Event:
        return self._waiters.setdefault(order_id, asyncio.Event())

    async def receive(self, request: Request) -> Response:
        start, wall = time.monotonic(), time.time()
        order_id = request.path_params.get("order_id")
        if order_id is not None:
            self.received.setdefault(order_id, (start, wall))
        response = await super().receive(request)
        if order_id is not None:
            self.answered.setdefault(order_id, time.monotonic())
            self.answer_status.setdefault(order_id, response.status_code)
            self.expect(order_id).set()
        return response


# -- samples and statistics ------------------------------------------------------------------------


@dataclass
class OrderSample:
    order_id: str
    started: float = 0.0  # before create_order
    created: float | None = None  # create_order returned
    pay_sent: float | None = None  # before the customer pays
    paid: float | None = None  # the status query first answered PAID
    queries: int = 0
    error: str | None = None
    # From the history (after the run).
    events_to_paid: int | None = None
    history_events: int | None = None
    event_types: Counter[str] = field(default_factory=Counter)
    paid_event_wall: float | None = None  # server time of the PAID search-attribute upsert


@dataclass
class BaselineSample:
    workflow_id: str
    started: float = 0.0
    ready: float | None = None
    done: float | None = None
    error: str | None = None
    history_events: int | None = None


@dataclass
class Phase:
    name: str
    count: int
    wall_s: float | None
    completed: int
    cpu_self_s: float
    cpu_server_s: float | None
    timed_out: bool

    @property
    def rate(self) -> float | None:
        if not self.wall_s or not self.completed:
            return None
        return self.completed / self.wall_s


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values: list[float], percentiles: tuple[int, ...] = (50, 95)) -> dict[str, float | None]:
    """How many ``values`` (seconds), their ``percentiles`` and their largest, in milliseconds."""
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        **{f"p{q}_ms": percentile(ms, q) for q in percentiles},
        "max_ms": max(ms) if ms else None,
    }


# -- process CPU -----------------------------------------------------------------------------------


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def dev_server_pid() -> int | None:
    """The Temporal CLI dev server started by this process (a direct child), if /proc shows it."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == me and b"start-dev" in cmdline:
            return int(entry.name)
    return None


def process_cpu_s(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- keys --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        )

    @property
    def private_b64(self) -> str:
        import base64

        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(self.private_pem, password=None)
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return base64.b64encode(der).decode()

    @property
    def public_b64(self) -> str:
        import base64

        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_public_key(self.public_pem)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()


# -- progress ------------------------------------------------------------------------------------------


class ProgressDisplay:
    """A rich progress bar on a terminal; a line every few seconds otherwise (logs, CI)."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self._progress: Progress | None = None
        self._task: Any = None
        self._name = ""
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._ticker: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def phase(self, name: str, total: int) -> Any:
        self._name, self._total, self._done, self._started = name, total, 0, time.monotonic()
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task(name, total=total, rate="")
        elif self.enabled:
            self._ticker = asyncio.create_task(self._tick())
        try:
            yield self
        finally:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
            if self._ticker is not None:
                self._ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._ticker
                self._ticker = None
                self._line()

    def advance(self) -> None:
        self._done += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, rate=self._rate())

    def _rate(self) -> str:
        elapsed = time.monotonic() - self._started
        return f"{self._done / elapsed:5.1f}/s" if elapsed > 0 and self._done else ""

    def _line(self) -> None:
        self.console.print(f"  {self._name}: {self._done}/{self._total} {self._rate()}", highlight=False)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(5)
            self._line()


# -- the stack ---------------------------------------------------------------------------------------


@dataclass
class Stack:
    client: Client
    billing: Any  # starter.client.BillingClient
    task_queue: str
    baseline_queue: str
    stock_queue: str
    emulator_url: str
    webhooks: TimingWebhookService
    pay: Callable[[str], Awaitable[None]]  # the customer pays the order with this payment reference
    ping: PingActivity


@contextlib.asynccontextmanager
async def emulator(mode: str, keys: tuple[KeyPair, KeyPair], console: Console) -> Any:
    """The Waffo emulator on loopback: served by this process, or by ``billing emulators serve``. Yields its
    URL, the merchant registered there (``starter.stackbuilder.LocalMerchant``) and how the customer pays."""
    from host.serving import ChildProcess, free_port, wait_for_port
    from starter import stackbuilder

    merchant, waffo = keys
    if mode == "inprocess":
        from emulators.waffo.local import WaffoAccount

        account = WaffoAccount(
            API_KEY,
            MERCHANT_ID,
            merchant.private_pem,
            merchant.public_pem,
            waffo.private_pem,
            waffo.public_pem,
            f"{SITE_URL}/shop",
        )
        local = stackbuilder.LocalMerchant({"waffo": account})
        async with stackbuilder.serve_emulators(local, notify_time_scale=0.001) as served:
            hub = served.hub

            async def pay(reference: str) -> None:
                # The customer pays at the provider: here the provider is in this process, so no HTTP request
                # of the benchmark's own (which would weigh on the orders' side only) stands in for the
                # customer.
                order = hub.waffo.orders.find_any(reference)
                if order is None:
                    raise RuntimeError(f"the emulator has no order {reference}")
                hub.waffo.orders.customer_pay(order, None)

            yield served.url, local, pay
        return
    # A child process: the provider's CPU (signing responses and notifications) is not ours. It registers
    # the dev merchant of its data directory, whose keys are this run's.
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as data_dir:
        key_dir = Path(data_dir) / "keys"
        key_dir.mkdir()
        for name, pair in (("merchant", merchant), ("waffo-emulator", waffo)):
            (key_dir / f"{name}.key").write_bytes(pair.private_pem)
            (key_dir / f"{name}.pub").write_bytes(pair.public_pem)
        local = stackbuilder.LocalMerchant.dev(Path(data_dir), SITE_URL).only("waffo")
        argv = stackbuilder.emulators_argv("127.0.0.1", port, Path(data_dir), "--notify-time-scale", "0.001")
        child = ChildProcess("emulators", argv, log_path=Path(data_dir) / "emulators.log")
        child.start()
        try:
            await wait_for_port("127.0.0.1", port, timeout=60)
            async with httpx.AsyncClient(base_url=f"{url}/waffo/control", timeout=30) as control:

                async def pay_over_http(reference: str) -> None:
                    (await control.post(f"/orders/{reference}/pay")).raise_for_status()

                yield url, local, pay_over_http
        finally:
            child.stop()


def stock_runner(mode: str) -> SandboxedWorkflowRunner:
    """The SDK's stock sandbox, for the second baseline (the first runs on the production runner).

    ``passthrough`` (default): this module is passed through, so each run pays the sandbox's cost of a
    tiny workflow module rather than re-executing this whole script. ``reimport``: each run re-executes
    this module in the sandbox, as for any workflow module.
    """
    restrictions = SandboxRestrictions.default
    if mode == "passthrough":
        restrictions = restrictions.with_passthrough_modules(BaselineWorkflow.__module__)
    return SandboxedWorkflowRunner(restrictions=restrictions)


@contextlib.asynccontextmanager
async def order_stack(client: Client, args: argparse.Namespace, console: Console) -> Any:
    from starter import stackbuilder
    from starter.client import BillingClient
    from worker import WorkerSettings, workflow_runner

    merchant, waffo = KeyPair.generate(), KeyPair.generate()
    run_id = uuid.uuid4().hex[:8]
    task_queue, baseline_queue = f"bench-orders-{run_id}", f"bench-baseline-{run_id}"
    stock_queue = f"bench-stock-{run_id}"
    async with (
        emulator(args.emulator, (merchant, waffo), console) as (emulator_url, local, pay),
        stackbuilder.serve_http(client, local, TimingWebhookService) as (webhooks, webhook_server),
    ):
        providers = stackbuilder.provider_clients(
            local, emulator_url, {"waffo": {"read_timeout": 10.0, "connect_timeout": 5.0}}
        )
        order_worker = stackbuilder.in_process_worker(
            client, task_queue=task_queue, providers=providers, http_url=webhook_server.url
        )
        try:
            async with httpx.AsyncClient(timeout=30) as ping_http:
                ping = PingActivity(ping_http)
                # The same worker options as build_worker's defaults, for each baseline's own queue.
                baseline_worker, stock_worker = (
                    Worker(
                        client,
                        task_queue=queue,
                        workflows=[BaselineWorkflow],
                        workflow_runner=runner,
                        activities=[ping.ping],
                        max_cached_workflows=WorkerSettings().max_cached_workflows,
                        graceful_shutdown_timeout=timedelta(seconds=0),
                    )
                    for queue, runner in (
                        (baseline_queue, workflow_runner()),
                        (stock_queue, stock_runner(args.baseline_module)),
                    )
                )
                async with order_worker, baseline_worker, stock_worker:
                    yield Stack(
                        client=client,
                        billing=BillingClient(client, task_queue=task_queue),
                        task_queue=task_queue,
                        baseline_queue=baseline_queue,
                        stock_queue=stock_queue,
                        emulator_url=emulator_url,
                        webhooks=cast(TimingWebhookService, webhooks),
                        pay=pay,
                        ping=ping,
                    )
        finally:
            await providers.aclose()


# -- drivers --------------------------------------------------------------------------------------------


def order_request(order_id: str) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider="waffo",
        amount=Money.parse("19.90", "USD"),
        customer=Customer(customer_id="cust-bench", email="buyer@example.com"),
        description="Benchmark order",
        policy=OrderPolicy(),
    )


async def run_order(stack: Stack, sample: OrderSample, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    answered = stack.webhooks.expect(sample.order_id)
    try:
        sample.started = time.monotonic()
        order = await stack.billing.create_order(order_request(sample.order_id))
        sample.created = time.monotonic()
        if order.status is not OrderStatus.PENDING:
            raise RuntimeError(f"created as {order.status.value}, expected PENDING")
        sample.pay_sent = time.monotonic()
        await stack.pay(payment_key(sample.order_id))
        # The webhook service answers the notification once Temporal accepted the signal.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(answered.wait(), max(deadline - time.monotonic(), 0.01))
        while True:
            sample.queries += 1
            order = await stack.billing.get_order(sample.order_id)
            if order.status is OrderStatus.PAID:
                sample.paid = time.monotonic()
                return
            if order.status in FINAL_STATUSES:
                raise RuntimeError(f"ended {order.status.value}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"still {order.status.value} after {timeout:g} s")
            await asyncio.sleep(0.005 if answered.is_set() else 0.05)
    except Exception as exc:  # recorded per order and reported
        sample.error = f"{type(exc).__name__}: {exc}"


async def run_baseline(stack: Stack, queue: str, sample: BaselineSample, mode: str, timeout: float) -> None:
    url = f"{stack.emulator_url}/waffo/health"
    try:
        async with asyncio.timeout(timeout):
            sample.started = time.monotonic()
            if mode == "update-with-start":
                operation = WithStartWorkflowOperation(
                    BaselineWorkflow.run,
                    url,
                    id=sample.workflow_id,
                    task_queue=queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                )
                await stack.client.execute_update_with_start_workflow(
                    BaselineWorkflow.ready, start_workflow_operation=operation
                )
                handle = await operation.workflow_handle()
            else:
                returned = asyncio.get_running_loop().create_future()
                stack.ping.returned[sample.workflow_id] = returned
                handle = await stack.client.start_workflow(
                    BaselineWorkflow.run, url, id=sample.workflow_id, task_queue=queue
                )
                await returned
            sample.ready = time.monotonic()
            await handle.signal(BaselineWorkflow.proceed)
            await handle.result()
            sample.done = time.monotonic()
    except Exception as exc:
        sample.error = f"{type(exc).__name__}: {exc}"
    finally:
        stack.ping.returned.pop(sample.workflow_id, None)


async def pool(
    items: list[Any],
    concurrency: int,
    run: Callable[[Any], Awaitable[None]],
    progress: ProgressDisplay,
    budget_s: float,
) -> bool:
    """Run ``run`` over ``items`` with at most ``concurrency`` in flight. False if the budget ran out."""
    queue = iter(items)

    async def lane() -> None:
        for item in queue:
            await run(item)
            progress.advance()

    try:
        async with asyncio.timeout(max(budget_s, 1.0)):
            await asyncio.gather(*(lane() for _ in range(min(concurrency, len(items)))))
    except TimeoutError:
        return False
    return True


async def measured(
    name: str,
    samples: list[Any],
    concurrency: int,
    run: Callable[[Any], Awaitable[None]],
    progress: ProgressDisplay,
    budget_s: float,
    server_pid: int | None,
    finished: Callable[[Any], float | None],
) -> Phase:
    cpu0, server0 = own_cpu_s(), process_cpu_s(server_pid)
    async with progress.phase(name, len(samples)):
        complete = await pool(samples, concurrency, run, progress, budget_s)
    cpu1, server1 = own_cpu_s(), process_cpu_s(server_pid)
    ends = [t for t in (finished(s) for s in samples) if t is not None]
    starts = [s.started for s in samples if s.started]
    return Phase(
        name=name,
        count=len(samples),
        wall_s=(max(ends) - min(starts)) if ends and starts else None,
        completed=len(ends),
        cpu_self_s=cpu1 - cpu0,
        cpu_server_s=(server1 - server0) if server0 is not None and server1 is not None else None,
        timed_out=not complete,
    )


def round_sizes(total: int, rounds: int) -> list[int]:
    """``total`` workflows split into ``rounds`` slices as equal as possible (none empty)."""
    rounds = max(1, min(rounds, total))
    return [total // rounds + (1 if index < total % rounds else 0) for index in range(rounds)]


def combined(phases: list[Phase]) -> Phase:
    """Slices of one kind as one phase: their wall-clock times, completions and CPU added up."""
    first = phases[0]
    if len(phases) == 1:
        return first
    walls = [p.wall_s for p in phases]
    servers = [p.cpu_server_s for p in phases]
    return Phase(
        name=first.name,
        count=sum(p.count for p in phases),
        wall_s=sum(w for w in walls if w is not None) if any(w is not None for w in walls) else None,
        completed=sum(p.completed for p in phases),
        cpu_self_s=sum(p.cpu_self_s for p in phases),
        cpu_server_s=None if any(c is None for c in servers) else sum(c for c in servers if c is not None),
        timed_out=any(p.timed_out for p in phases),
    )


# -- histories -------------------------------------------------------------------------------------------


def billing_status(event: Any, converter: PayloadConverter) -> str | None:
    attrs = event.upsert_workflow_search_attributes_event_attributes
    payload = attrs.search_attributes.indexed_fields.get(search_attributes.BILLING_STATUS.name)
    if payload is None:
        return None
    value = converter.from_payload(payload)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


async def read_order_history(client: Client, sample: OrderSample) -> None:
    converter = PayloadConverter.default
    history = await client.get_workflow_handle(order_workflow_id(sample.order_id)).fetch_history()
    events = list(history.events)
    sample.history_events = len(events)
    for index, event in enumerate(events):
        if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        if billing_status(event, converter) == OrderStatus.PAID.value:
            sample.events_to_paid = index + 1
            sample.event_types = Counter(
                EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events[: index + 1]
            )
            sample.paid_event_wall = event.event_time.seconds + event.event_time.nanos / 1e9
            return


async def read_baseline_history(client: Client, sample: BaselineSample) -> None:
    history = await client.get_workflow_handle(sample.workflow_id).fetch_history()
    sample.history_events = len(history.events)


# -- the run -----------------------------------------------------------------------------------------


async def benchmark(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    progress = ProgressDisplay(console, enabled=not args.quiet)
    run_started = time.monotonic()

    def budget() -> float:
        return float(args.timeout) - (time.monotonic() - run_started)

    console.print("Starting the Temporal dev server (in memory) and the order stack…", highlight=False)
    env = await benchlib.start_dev_server()
    server_pid = dev_server_pid()
    order_ids: list[str] = []
    baseline_ids: list[str] = []
    try:
        async with order_stack(env.client, args, console) as stack:
            prefix = uuid.uuid4().hex[:6]

            def orders(kind: str, n: int) -> list[OrderSample]:
                samples = [OrderSample(order_id=f"bench-{prefix}-{kind}-{i:05d}") for i in range(n)]
                order_ids.extend(order_workflow_id(s.order_id) for s in samples)
                return samples

            def baselines(kind: str, n: int) -> list[BaselineSample]:
                samples = [BaselineSample(workflow_id=f"bench-{prefix}-baseline-{kind}-{i:05d}") for i in range(n)]
                baseline_ids.extend(s.workflow_id for s in samples)
                return samples

            async def order(sample: OrderSample) -> None:
                await run_order(stack, sample, args.order_timeout)

            async def baseline(sample: BaselineSample) -> None:
                await run_baseline(stack, stack.baseline_queue, sample, args.baseline_start, args.order_timeout)

            async def stock(sample: BaselineSample) -> None:
                await run_baseline(stack, stack.stock_queue, sample, args.baseline_start, args.order_timeout)

            if args.warmup:
                # Not measured: first sandbox imports, connection pools, server caches.
                async with progress.phase("warm-up", 3 * args.warmup):
                    await pool(baselines("warmup", args.warmup), args.concurrency, baseline, progress, budget())
                    await pool(baselines("swarmup", args.warmup), args.concurrency, stock, progress, budget())
                    await pool(orders("warmup", args.warmup), args.concurrency, order, progress, budget())

            # One phase of each kind; with --rounds, alternating slices of all three, so a change in the
            # machine's load during the run weighs on every side alike.
            base_samples: list[BaselineSample] = []
            stock_samples: list[BaselineSample] = []
            order_samples: list[OrderSample] = []
            base_phases: list[Phase] = []
            stock_phases: list[Phase] = []
            order_phases: list[Phase] = []
            sides: dict[str, tuple[Callable[[str, int], list[Any]], Any, list[Any], list[Phase], Any]] = {
                "baseline": (baselines, baseline, base_samples, base_phases, lambda s: s.done),
                "stock baseline": (
                    lambda kind, n: baselines(f"stock-{kind}", n),
                    stock,
                    stock_samples,
                    stock_phases,
                    lambda s: s.done,
                ),
                "orders": (orders, order, order_samples, order_phases, lambda s: s.paid),
            }
            kinds = ("baseline", "stock baseline", "orders")
            for index, size in enumerate(round_sizes(args.orders, args.rounds)):
                suffix = "" if args.rounds == 1 else f"-r{index}"
                for kind in kinds if index % 2 == 0 else tuple(reversed(kinds)):
                    make, run, samples, phases, finished = sides[kind]
                    batch = make(f"run{suffix}", size)
                    samples.extend(batch)
                    phases.append(
                        await measured(kind, batch, args.concurrency, run, progress, budget(), server_pid, finished)
                    )
            base_phase, stock_phase = combined(base_phases), combined(stock_phases)
            order_phase = combined(order_phases)

            console.print("Reading histories…", highlight=False)
            paid = [s for s in order_samples if s.paid is not None]
            await benchlib.for_each(paid, 20, lambda s: read_order_history(env.client, s))
            await benchlib.for_each(
                [s for s in base_samples if s.done is not None],
                20,
                lambda s: read_baseline_history(env.client, s),
            )
            phases = (order_phase, base_phase, stock_phase)
            return report_data(args, stack, order_samples, base_samples + stock_samples, *phases)
    finally:
        await benchlib.stop_dev_server(env, order_ids + baseline_ids, console, timeout=120)


def report_data(
    args: argparse.Namespace,
    stack: Stack,
    orders: list[OrderSample],
    baselines: list[BaselineSample],
    order_phase: Phase,
    base_phase: Phase,
    stock_phase: Phase,
) -> dict[str, Any]:
    hooks = stack.webhooks
    paid = [s for s in orders if s.paid is not None]
    receipt_to_paid = [
        s.paid - hooks.received[s.order_id][0] for s in paid if s.paid is not None and s.order_id in hooks.received
    ]
    receipt_to_event = [
        s.paid_event_wall - hooks.received[s.order_id][1]
        for s in paid
        if s.paid_event_wall is not None and s.order_id in hooks.received
    ]
    handler = [
        hooks.answered[s.order_id] - hooks.received[s.order_id][0]
        for s in paid
        if s.order_id in hooks.answered and s.order_id in hooks.received
    ]
    pay_to_receipt = [
        hooks.received[s.order_id][0] - s.pay_sent
        for s in paid
        if s.pay_sent is not None and s.order_id in hooks.received
    ]
    create = [s.created - s.started for s in orders if s.created is not None]
    create_to_paid = [s.paid - s.started for s in paid if s.paid is not None]
    counts = [s.events_to_paid for s in paid if s.events_to_paid is not None]
    type_totals: Counter[str] = Counter()
    for s in paid:
        type_totals.update(s.event_types)
    base_done = [s for s in baselines if s.done is not None]
    base_events = [s.history_events for s in base_done if s.history_events is not None]
    ratio = order_phase.rate / base_phase.rate if order_phase.rate and base_phase.rate else None
    ratio_stock = order_phase.rate / stock_phase.rate if order_phase.rate and stock_phase.rate else None
    events_max = max(counts) if counts else None
    example = next((s for s in paid if s.events_to_paid is not None), None)

    def phase_json(phase: Phase) -> dict[str, Any]:
        return {
            "workflows": phase.count,
            "completed": phase.completed,
            "wall_s": phase.wall_s,
            "per_s": phase.rate,
            "timed_out": phase.timed_out,
            "cpu_bench_process_ms_per_workflow": 1000 * phase.cpu_self_s / max(phase.completed, 1),
            "cpu_dev_server_ms_per_workflow": (
                1000 * phase.cpu_server_s / max(phase.completed, 1) if phase.cpu_server_s is not None else None
            ),
        }

    return {
        "orders": args.orders,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "emulator": args.emulator,
        "bytecode_cache": args.bytecode_cache,
        "baseline_start": args.baseline_start,
        "baseline_module": args.baseline_module,
        **benchlib.versions(),
        "load_average_at_end": os.getloadavg(),
        "order_phase": phase_json(order_phase),
        "baseline_phase": phase_json(base_phase),
        "stock_baseline_phase": phase_json(stock_phase),
        "ratio": ratio,
        "ratio_to_stock_runner": ratio_stock,
        "failed_orders": len(orders) - len(paid),
        "errors": sorted({s.error for s in orders if s.error} | {s.error for s in baselines if s.error})[:10],
        "latency": {
            "webhook_receipt_to_paid_query": summary_ms(receipt_to_paid),
            "webhook_receipt_to_paid_event": summary_ms(receipt_to_event),
            "webhook_handler": summary_ms(handler),
            "pay_to_webhook_receipt": summary_ms(pay_to_receipt),
            "create_order": summary_ms(create),
            "create_to_paid": summary_ms(create_to_paid),
        },
        "queries_until_paid_mean": statistics.fmean(s.queries for s in paid) if paid else None,
        "history": {
            "events_to_paid_mean": statistics.fmean(counts) if counts else None,
            "events_to_paid_max": events_max,
            "events_at_fetch_mean": (
                statistics.fmean(s.history_events for s in paid if s.history_events) if paid else None
            ),
            "event_types_mean": {name: total / len(counts) for name, total in type_totals.most_common()}
            if counts
            else {},
            "example_order": example.order_id if example else None,
            "baseline_events_mean": statistics.fmean(base_events) if base_events else None,
        },
        "targets": {
            "ratio_min": TARGET_RATIO,
            "ratio_pass": ratio is not None and ratio >= TARGET_RATIO,
            "events_max": TARGET_EVENTS,
            "events_pass": events_max is not None and events_max <= TARGET_EVENTS,
        },
    }


# -- output ------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} ms"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _mark(ok: bool) -> str:
    return "[green]✔ pass[/]" if ok else "[red]✘ fail[/]"


def print_report(data: dict[str, Any], console: Console) -> None:
    orders, base, stock = data["order_phase"], data["baseline_phase"], data["stock_baseline_phase"]
    latency, history, targets = data["latency"], data["history"], data["targets"]
    table = Table(title="Order benchmark (in-memory Temporal dev server)", show_lines=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_row(
        "setup",
        f"N={data['orders']} · concurrency {data['concurrency']} · warm-up {data['warmup']} · rounds {data['rounds']}",
        f"emulator {data['emulator']}, bytecode {data['bytecode_cache']}",
    )
    table.add_row(
        "versions",
        f"Python {data['python']} · temporalio {data['temporalio']}",
        f"{data['cpus']} CPUs, load {data['load_average_at_end'][0]:.2f}",
    )
    table.add_section()
    table.add_row(
        "orders/s (first create → last PAID)",
        f"{_num(orders['per_s'])}/s",
        f"{orders['completed']}/{orders['workflows']} paid in {_num(orders['wall_s'], 2)} s",
    )
    table.add_row(
        f"baseline workflows/s, production runner ({data['baseline_start']})",
        f"{_num(base['per_s'])}/s",
        f"{base['completed']}/{base['workflows']} done in {_num(base['wall_s'], 2)} s",
    )
    table.add_row(
        f"baseline workflows/s, stock sandbox (module {data['baseline_module']})",
        f"{_num(stock['per_s'])}/s",
        f"{stock['completed']}/{stock['workflows']} done in {_num(stock['wall_s'], 2)} s",
    )
    table.add_row(
        "ratio orders/s ÷ baseline/s (production runner)",
        _num(data["ratio"], 2),
        f"≥ {targets['ratio_min']} {_mark(targets['ratio_pass'])}",
    )
    table.add_row("ratio orders/s ÷ baseline/s (stock sandbox)", _num(data["ratio_to_stock_runner"], 2), "")
    table.add_section()
    q = latency["webhook_receipt_to_paid_query"]
    table.add_row("webhook receipt → PAID query answer, p50", _ms(q["p50_ms"]), "")
    table.add_row("webhook receipt → PAID query answer, p95", _ms(q["p95_ms"]), "")
    e = latency["webhook_receipt_to_paid_event"]
    table.add_row(
        "webhook receipt → PAID event recorded, p50 / p95",
        f"{_ms(e['p50_ms'])} / {_ms(e['p95_ms'])}",
        "server clock",
    )
    h = latency["webhook_handler"]
    table.add_row(
        "  of which webhook handler (verify + signal), p50 / p95",
        f"{_ms(h['p50_ms'])} / {_ms(h['p95_ms'])}",
        "",
    )
    p = latency["pay_to_webhook_receipt"]
    table.add_row("customer pays → webhook receipt, p50 / p95", f"{_ms(p['p50_ms'])} / {_ms(p['p95_ms'])}", "")
    c = latency["create_order"]
    table.add_row("create_order (update-with-start), p50 / p95", f"{_ms(c['p50_ms'])} / {_ms(c['p95_ms'])}", "")
    t = latency["create_to_paid"]
    table.add_row("create → PAID per order, p50 / p95", f"{_ms(t['p50_ms'])} / {_ms(t['p95_ms'])}", "")
    table.add_row("status queries per order until PAID (mean)", _num(data["queries_until_paid_mean"], 2), "")
    table.add_section()
    table.add_row(
        "history events per paid order up to PAID, mean / max",
        f"{_num(history['events_to_paid_mean'])} / {history['events_to_paid_max'] or '–'}",
        f"max ≤ {targets['events_max']} {_mark(targets['events_pass'])}",
    )
    table.add_row("history events per order when fetched (mean)", _num(history["events_at_fetch_mean"]), "")
    table.add_row("baseline history events per workflow (mean)", _num(history["baseline_events_mean"]), "")
    table.add_section()
    for label, phase in (("orders", orders), ("baseline", base), ("stock-sandbox baseline", stock)):
        table.add_row(
            f"CPU per {label} workflow: bench process / dev server",
            f"{_num(phase['cpu_bench_process_ms_per_workflow'])} / {_num(phase['cpu_dev_server_ms_per_workflow'])} ms",
            "",
        )
    console.print(table)

    types = Table(title="History events up to PAID, by type (mean per paid order)")
    types.add_column("event type")
    types.add_column("mean", justify="right")
    for name, mean in history["event_types_mean"].items():
        types.add_row(name, f"{mean:.2f}")
    console.print(types)
    console.print(
        "Latency intervals: [bold]webhook receipt[/] is time.monotonic() at the start of "
        "WebhookService.receive for POST /webhooks/waffo/orders/{order_id} (before signature "
        "verification); [bold]PAID query answer[/] is when the first OrderWorkflow.status query issued "
        "after the webhook reply (signal accepted by Temporal) returned PAID, re-queried every 5 ms; "
        "[bold]PAID event recorded[/] is the server's timestamp of the UpsertWorkflowSearchAttributes "
        "event that set BillingStatus=PAID, minus the wall-clock receipt time. History events are "
        "counted up to and including that event.",
        highlight=False,
    )
    if data["failed_orders"] or data["errors"]:
        console.print(f"[red]{data['failed_orders']} orders not paid.[/] Errors: {data['errors']}")
    if orders["timed_out"] or base["timed_out"] or stock["timed_out"]:
        console.print("[red]The time budget ran out; figures cover the completed workflows only.[/]")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Run N one-time orders end to end (create → customer pays → signed webhook → PAID) on the "
            "in-memory Temporal dev server, and the same N of a minimal one-activity-one-signal baseline "
            "workflow; report orders/s, webhook-receipt-to-PAID latency, history events per order and "
            "the orders/s ÷ baseline/s ratio."
        )
    )
    parser.add_argument("--orders", "-n", type=int, default=200, help="orders (and baseline workflows) to run")
    parser.add_argument("--concurrency", "-c", type=int, default=20, help="orders in flight at once")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured orders and baselines run first")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help=(
            "measure in this many alternating slices (baseline, orders, orders, baseline, ...) and add "
            "them up, so that load from other processes changing during the run affects both sides alike"
        ),
    )
    parser.add_argument(
        "--baseline-start",
        choices=["update-with-start", "start"],
        default="update-with-start",
        help=(
            "how the baseline starts: update-with-start returning once the activity completed (as "
            "create_order does), or a plain start with the signal sent once the activity returned"
        ),
    )
    parser.add_argument(
        "--baseline-module",
        choices=["passthrough", "reimport"],
        default="passthrough",
        help=(
            "for the stock-sandbox baseline: passthrough: the sandbox does not re-execute this script for "
            "each run (as for a tiny workflow module); reimport: it does"
        ),
    )
    benchlib.add_process_options(parser)
    parser.add_argument("--order-timeout", type=float, default=60.0, help="seconds one order may take")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds the whole run may take")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.add_argument("--check", action="store_true", help="exit with status 3 when a target is missed")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.concurrency < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--orders, --concurrency and --rounds must be positive, --warmup non-negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = benchlib.run_benchmark(args, benchmark, print_report, width=120)
    phases = ("order_phase", "baseline_phase", "stock_baseline_phase")
    if data["failed_orders"] or any(data[phase]["timed_out"] for phase in phases):
        return 1
    if args.check and not (data["targets"]["ratio_pass"] and data["targets"]["events_pass"]):
        return 3
    return 0


if __name__ == "__main__":
    # Run from the module imported under its package name, so the workflow sandbox (and its bytecode
    # cache) sees ``scripts.bench_orders`` rather than a re-executed ``__main__`` file.
    from scripts import bench_orders, benchlib

    benchlib.exit_now(bench_orders.main())
