"""The billing worker: every workflow and activity on one task queue, settings from ``BILLING_*``.

Run any number of replicas against the same task queue. SIGINT/SIGTERM shut it down cleanly: no new
tasks are polled and running activities get ``BILLING_WORKER_GRACE_SECONDS`` to finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.events import EventActivities
from activities.payments import CallbackUrls, PaymentActivities, ProviderRegistry
from activities.subscriptions import SubscriptionActivities
from billing.errors import ConfigurationError
from billing.logs import run_process
from billing.settings import (
    CodecSettings,
    HttpServiceSettings,
    MerchantEventSettings,
    TemporalSettings,
    WaffoSettings,
    load,
)
from billing.telemetry import configure
from billing.temporal import connect_or_explain
from providers.base import PaymentProvider
from workflows.invoice_sequence import InvoiceSequenceWorkflow
from workflows.order import OrderWorkflow
from workflows.runner import BillingSandboxRunner
from workflows.subscription import SubscriptionWorkflow

log = logging.getLogger("billing.worker")

WORKFLOWS = [OrderWorkflow, SubscriptionWorkflow, InvoiceSequenceWorkflow]

#: Modules the workflow sandbox hands to each workflow run straight from the worker's own module table.
#: All are free of side effects at import time and what workflows use of them is
#: deterministic: ``billing`` (the order and money rules; its settings and connection helpers are never
#: called from workflow code), ``activities`` (workflows only refer to the activity definitions), and all
#: of the engine's workflow code: the workflow modules (``workflows.order``, ``workflows.subscription``:
#: handler declarations) and what they delegate to (``workflows.order_flow``,
#: ``workflows.subscription_logic``, ``workflows.common``, ``workflows.events``).
#:
#: So the sandbox re-executes none of it per run: every run shares the worker's modules and classes, and
#: holds only its own instance. The sandbox still refuses imports of restricted modules during a run; the
#: rules it would have enforced on module members by proxy (no clock, randomness, I/O or environment) are
#: checked on the source by ``tests/temporal/test_runner.py``, with the rule that these modules keep no
#: mutable state at module or class level.
SANDBOX_PASSTHROUGH_MODULES = (
    "billing",
    "activities",
    "workflows.common",
    "workflows.events",
    "workflows.invoice_sequence",
    "workflows.order_flow",
    "workflows.order",
    "workflows.subscription",
    "workflows.subscription_logic",
)


def workflow_runner(converter: DataConverter, *passthrough: str) -> SandboxedWorkflowRunner:
    """The sandbox every workflow runs in: the SDK's default restrictions plus the passthrough list.

    Workflow modules are passed through like the rest of the engine's workflow code, so a run re-executes
    none of it; payloads are converted without a trip into the sandbox per payload when ``converter``
    allows it (:mod:`workflows.runner`). ``passthrough`` adds modules (a benchmark's or a test's workflow).
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH_MODULES, *passthrough)
    return BillingSandboxRunner.for_converter(converter, restrictions)


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_WORKER_", extra="ignore")

    grace_seconds: float = Field(default=30.0, ge=0)
    max_cached_workflows: int = Field(default=2000, ge=0)


def build_providers(waffo: WaffoSettings | None = None) -> ProviderRegistry:
    """Every provider whose settings are complete. Bad keys fail here, at start-up."""
    from providers.kess import KessClient, KessSettings
    from providers.waafipay import WaafiPayClient, WaafiPaySettings
    from providers.waffo import WaffoClient

    providers: dict[str, PaymentProvider] = {}
    waffo = waffo or load(WaffoSettings)
    if waffo.configured():
        providers["waffo"] = WaffoClient.from_settings(waffo)
    kess = load(KessSettings)
    if kess.configured():
        providers["kess"] = KessClient.from_settings(kess)
    waafipay = load(WaafiPaySettings)
    if waafipay.configured():
        providers["waafipay"] = WaafiPayClient.from_settings(waafipay)
    return ProviderRegistry(providers)


async def check_waffo_contract(providers: ProviderRegistry, settings: WaffoSettings) -> None:
    """At start, that each pay method in BILLING_WAFFO_PAY_METHODS is in the merchant's Waffo contract, open,
    and takes BILLING_WAFFO_MIN_ORDER_AMOUNT. ``warn`` logs each problem; ``fail`` refuses to start
    (ConfigurationError). An unreachable or unanswering Waffo is only logged: it says nothing of the contract."""
    from billing.errors import ProviderError
    from providers.waffo import WaffoClient
    from providers.waffo.config_check import pay_method_problems

    wanted = settings.wanted_pay_methods()
    if settings.startup_check == "off" or not wanted or "waffo" not in providers.names():
        return
    amount = settings.check_amount()
    client = providers.get("waffo")
    if not isinstance(client, WaffoClient):
        return
    try:
        config = await client.inquire_pay_method_config()
    except ProviderError as exc:
        log.warning("could not check the Waffo contract at start (%s); starting anyway", exc)
        return
    problems = pay_method_problems(config, wanted, amount=amount)
    for problem in problems:
        log.warning("Waffo contract: %s", problem)
    if problems and settings.startup_check == "fail":
        raise ConfigurationError(
            f"the Waffo contract does not fit: {'; '.join(problems)}", setting="BILLING_WAFFO_PAY_METHODS"
        )
    if not problems:
        log.info("Waffo contract offers %s", ", ".join(wanted))


def build_worker(
    client: Client,
    *,
    task_queue: str,
    providers: ProviderRegistry,
    callbacks: CallbackUrls,
    settings: WorkerSettings | None = None,
    events: EventActivities | None = None,
) -> Worker:
    settings = settings or WorkerSettings()
    events = events or EventActivities(MerchantEventSettings())
    payments = PaymentActivities(providers, callbacks, merchant_events=events.settings.enabled())
    subscriptions = SubscriptionActivities(providers, callbacks)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(client.data_converter),
        activities=[*payments.all(), *subscriptions.all(), *events.all()],
        max_cached_workflows=settings.max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=settings.grace_seconds),
    )


async def run_worker(stop: asyncio.Event | None = None) -> None:
    configure("billing-worker")
    # Every setting is read and checked before anything connects: a bad one stops the start, named.
    temporal = load(TemporalSettings)
    settings = load(WorkerSettings)
    events = EventActivities(load(MerchantEventSettings))
    callbacks = CallbackUrls(load(HttpServiceSettings).public_url)
    load(CodecSettings)
    waffo_settings = load(WaffoSettings)
    providers = build_providers(waffo_settings)
    await check_waffo_contract(providers, waffo_settings)
    if not providers.names():
        log.warning(
            "no provider is configured (BILLING_WAFFO_*, BILLING_KESS_*, BILLING_WAAFIPAY_*); provider calls will fail"
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
        "worker polling %s on %s (providers: %s)",
        temporal.task_queue,
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
