"""The billing worker: every workflow and activity on one task queue, settings from ``BILLING_*``.

Run any number of replicas against the same task queue. SIGINT/SIGTERM shut it down cleanly: no new
tasks are polled and running activities get ``BILLING_WORKER_GRACE_SECONDS`` to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import (
    RestrictedWorkflowAccessError,
    SandboxedWorkflowRunner,
    SandboxRestrictions,
)

from activities.balance import BalanceActivities
from activities.clocks import ClockActivities
from activities.coupons import CouponActivities
from activities.events import EventActivities
from activities.invoices import InvoiceActivities
from activities.local_waits import LocalWaits, local_waits
from activities.payments import PaymentActivities, ProviderRegistry
from activities.subscriptions import SubscriptionActivities
from billing.callbacks import CallbackUrls
from billing.queues import ledger_task_queue
from billing.settings import (
    CodecSettings,
    HttpServiceSettings,
    MerchantEventSettings,
    TemporalSettings,
    load,
)
from host.logs import run_process
from host.telemetry import configure
from host.temporal import connect_or_explain
from providers.base import PaymentProvider
from providers.registry import PROVIDERS
from workflows.balance import CustomerBalanceWorkflow
from workflows.clocks import SimulatedClockWorkflow
from workflows.coupons import CouponWorkflow
from workflows.invoice_sequence import InvoiceSequenceWorkflow
from workflows.order import OrderWorkflow
from workflows.subscription import SubscriptionWorkflow

log = logging.getLogger("billing.worker")

#: The workflow task slots temporalio's Worker runs with when none is set (its fixed-size default).
SDK_WORKFLOW_TASK_SLOTS = 100

WORKFLOWS = [
    OrderWorkflow,
    SubscriptionWorkflow,
    InvoiceSequenceWorkflow,
    SimulatedClockWorkflow,
    CustomerBalanceWorkflow,
    CouponWorkflow,
]
#: The workflows of the ledger queue (:mod:`billing.queues`): the ones other workflows' tasks wait for. The
#: engine's queue runs them too, for runs started there before ledger queues existed (they move at their next
#: continue-as-new).
LEDGER_WORKFLOWS = [InvoiceSequenceWorkflow, CustomerBalanceWorkflow]
#: The ledger worker's cache: a quarter of the engine worker's, at least this many runs (the sequences are few
#: and hot; a balance is asked once per invoice of its customer).
LEDGER_CACHE_FLOOR = 64

#: Third-party packages the engine's workflow code imports, directly or through ``billing`` and ``activities``.
#: The checking sandbox (:func:`checking_workflow_runner`) hands these to each run from the host's module table
#: (the standard library and ``pydantic`` already are, by the SDK's defaults), so that a run re-imports the
#: engine's own code, and only that.
THIRD_PARTY_PASSTHROUGH_MODULES = (
    "annotated_types",
    "anyio",
    "certifi",
    "click",
    "cryptography",
    "dotenv",
    "google",
    "h11",
    "httpcore",
    "httpx",
    "idna",
    "opentelemetry",
    "pydantic_settings",
    "pygments",
    "rich",
    "sniffio",
    "starlette",
    "typing_inspection",
)

#: The engine's own packages. The checking sandbox never passes them through: every run imports them afresh
#: under the sandbox's restrictions, so a call to the clock, randomness, I/O or the environment anywhere in
#: the code a workflow runs fails that run.
ENGINE_PACKAGES = ("billing", "workflows", "activities", "providers")


def workflow_runner() -> WorkflowRunner:
    """The runner production workers use: the SDK's :class:`UnsandboxedWorkflowRunner`.

    Every run shares the worker's modules and classes and holds only its own instance, and payloads are
    converted without a trip into a sandbox. The sandbox's checks run in the tests instead: the suites that
    drive each workflow through its main paths and the replay suite run the same workflows under
    :func:`checking_workflow_runner`, the SDK's sandbox with none of the engine's code passed through, so a
    nondeterministic call anywhere on those paths fails a test. Workflow code keeps no mutable state at
    module or class level (``tests/temporal/test_runner.py`` checks it): every run on a worker shares it.
    """
    return UnsandboxedWorkflowRunner()


def checking_workflow_runner(*passthrough: str) -> SandboxedWorkflowRunner:
    """The SDK's sandbox with its default restrictions, passing through only third-party packages.

    What the tests run workflows in: each run re-imports the engine's code (:data:`ENGINE_PACKAGES`) under
    the sandbox, which refuses ``datetime.now()``, ``time.time()``, randomness, I/O and the environment
    however they are reached. ``passthrough`` adds modules (a test's or a benchmark's own workflow).
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*THIRD_PARTY_PASSTHROUGH_MODULES, *passthrough)
    return SandboxedWorkflowRunner(restrictions=restrictions)


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_WORKER_", extra="ignore")

    grace_seconds: float = Field(default=30.0, ge=0)
    max_cached_workflows: int = Field(default=2000, ge=0)
    #: Whose invoice and credit note numbers this worker hands out (one gap-free sequence per merchant), and
    #: whose coupons the subscriptions it runs redeem.
    invoice_merchant: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    #: Workflow tasks run at once by each of the process's two workers (the SDK's default when unset).
    #: Subscriptions take invoice numbers and ask their customer's balance in their own workflow tasks, from
    #: workflows on the ledger queue's worker, half of the slots and of the cache at most at once and for a
    #: bounded time (``activities.local_waits``), so the other half always serves the other workflows.
    max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)


def build_providers() -> ProviderRegistry:
    """Every registered provider whose settings are complete (``ProviderSpec.build_client``). Bad keys fail
    here, at start-up."""
    providers: dict[str, PaymentProvider] = {}
    for spec in PROVIDERS:
        client = spec.build_client()
        if client is not None:
            providers[spec.name] = client
    return ProviderRegistry(providers)


async def check_providers(providers: ProviderRegistry) -> None:
    """Each configured provider's start-up check (``ProviderSpec.startup_check``): the merchant's configuration
    at the provider fits the settings. A check logs each problem, or refuses the start (ConfigurationError)."""
    for spec in PROVIDERS:
        if spec.startup_check is not None and spec.name in providers.names():
            await spec.startup_check(providers.get(spec.name))


class EngineWorkers:
    """The engine's two workers of one process, started and stopped together (``async with``): ``main`` polls
    the engine's task queue (every workflow and activity), ``ledger`` its ledger queue (:mod:`billing.queues`:
    invoice sequences and customer balances, with workflow task slots and a cache of their own)."""

    def __init__(self, main: Worker, ledger: Worker) -> None:
        self.main = main
        self.ledger = ledger
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> EngineWorkers:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.ledger)
            await stack.enter_async_context(self.main)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()


def build_worker(
    client: Client,
    *,
    task_queue: str,
    providers: ProviderRegistry,
    callbacks: CallbackUrls,
    settings: WorkerSettings | None = None,
    events: EventActivities | None = None,
    runner: WorkflowRunner | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> EngineWorkers:
    """The workers for ``task_queue`` and its ledger queue; ``runner`` replaces the production
    :func:`workflow_runner` (tests pass :func:`checking_workflow_runner`); ``interceptors`` are the workers'
    (tests record what ran).

    In a sandbox, a call it refuses fails the workflow run at once, naming the call, rather than retrying
    its workflow task for ever; production's runner never raises it."""
    runner = runner or workflow_runner()
    sandboxed = isinstance(runner, SandboxedWorkflowRunner)
    settings = settings or WorkerSettings()
    events = events or EventActivities(MerchantEventSettings())
    payments = PaymentActivities(providers, callbacks, merchant_events=events.settings.enabled())
    subscriptions = SubscriptionActivities(providers, callbacks)
    # One count of the workflow tasks that wait for another workflow (a number, a balance) on this worker.
    waits = LocalWaits(
        local_waits(settings.max_cached_workflows, settings.max_concurrent_workflow_tasks or SDK_WORKFLOW_TASK_SLOTS)
    )
    invoices = InvoiceActivities(client, settings.invoice_merchant, waits)
    clocks = ClockActivities()
    balances = BalanceActivities(client, settings.invoice_merchant, waits)
    coupons = CouponActivities(client, settings.invoice_merchant)
    failure_types: list[type[BaseException]] = [RestrictedWorkflowAccessError] if sandboxed else []
    main = Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=runner,
        workflow_failure_exception_types=failure_types,
        activities=[
            *payments.all(),
            *subscriptions.all(),
            *events.all(),
            *invoices.all(),
            *clocks.all(),
            *balances.all(),
            *coupons.all(),
        ],
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.grace_seconds),
        interceptors=interceptors,
    )
    ledger = Worker(
        client,
        task_queue=ledger_task_queue(task_queue),
        workflows=LEDGER_WORKFLOWS,
        workflow_runner=runner,
        workflow_failure_exception_types=failure_types,
        max_cached_workflows=max(LEDGER_CACHE_FLOOR, settings.max_cached_workflows // 4),
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.grace_seconds),
        interceptors=interceptors,
    )
    return EngineWorkers(main, ledger)


async def run_worker(stop: asyncio.Event | None = None) -> None:
    configure("billing-worker")
    # Every setting is read and checked before anything connects: a bad one stops the start, named.
    temporal = load(TemporalSettings)
    settings = load(WorkerSettings)
    events = EventActivities(load(MerchantEventSettings))
    callbacks = CallbackUrls(load(HttpServiceSettings).public_url)
    load(CodecSettings)
    providers = build_providers()
    await check_providers(providers)
    if not providers.names():
        log.warning(
            "no provider is configured (%s); provider calls will fail",
            ", ".join(f"{spec.settings_prefix}*" for spec in PROVIDERS),
        )
    log.info("merchant events: %s", events.settings.url or "off (BILLING_EVENTS_URL unset)")
    client = await connect_or_explain(temporal)
    worker = build_worker(
        client,
        task_queue=temporal.task_queue,
        providers=providers,
        callbacks=callbacks,
        settings=settings,
        events=events,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker polling %s and %s on %s (providers: %s)",
        temporal.task_queue,
        ledger_task_queue(temporal.task_queue),
        temporal.address,
        ", ".join(providers.names()) or "none",
    )
    async with worker:
        await stop.wait()
        log.info("shutting down")
    await providers.aclose()
    await events.aclose()


def main() -> None:
    """``billing worker``: exit 78 on a configuration error, 1 when Temporal cannot be reached."""
    run_process("billing-worker", run_worker)


if __name__ == "__main__":
    main()
