"""The ``billing`` command line: the local stack, the emulators, and (as they land) orders and subscriptions.

Human-readable output by default, ``--json`` for scripts, non-zero exit codes on errors. Settings come
from ``BILLING_*`` environment variables (see docs/configuration.md).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import httpx
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from billing import errors
from billing.settings import DevSettings, EmulatorSettings

if TYPE_CHECKING:
    from starter.client import BillingClient

T = TypeVar("T")

app = typer.Typer(
    name="billing",
    help="Workflow-as-code payment and subscription billing engine on Temporal.",
    no_args_is_help=True,
    add_completion=False,
)
emulators_app = typer.Typer(help="Offline provider emulators.", no_args_is_help=True)
app.add_typer(emulators_app, name="emulators")
order_app = typer.Typer(help="Create, inspect and command one-time orders.", no_args_is_help=True)
app.add_typer(order_app, name="order")
subscription_app = typer.Typer(help="Create, inspect and command subscriptions.", no_args_is_help=True)
app.add_typer(subscription_app, name="subscription")
events_app = typer.Typer(help="Merchant events: what the engine POSTs to your endpoint.", no_args_is_help=True)
app.add_typer(events_app, name="events")

console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def serve_until_interrupted(server: Callable[[], Awaitable[None]]) -> None:
    """Run a foreground server until Ctrl-C, which is the normal way to stop it."""
    try:
        asyncio.run(server())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass


def run(action: Callable[[], Awaitable[T]]) -> T:
    """Run an async CLI action; the engine's errors become a message and a non-zero exit."""
    try:
        return asyncio.run(action())  # type: ignore[arg-type]
    except errors.InputError as exc:
        raise fail(str(exc), 2) from None
    except errors.ConfigurationError as exc:
        raise fail(str(exc), 78) from None
    except errors.BillingError as exc:
        raise fail(str(exc), 1) from None
    except ValidationError as exc:
        from starter.client import input_error_from_validation

        raise fail(str(input_error_from_validation(exc)), 2) from None
    except TimeoutError as exc:
        raise fail(f"timed out: {exc}", 4) from None
    except httpx.HTTPError as exc:
        raise fail(f"HTTP error: {exc}", 1) from None


def emit(value: BaseModel | dict[str, Any], as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        human()


def _subscription_command(call: Callable[[Any], Awaitable[Any]], as_json: bool) -> None:
    """Run ``call(billing_client)`` and show the subscription it returns."""
    from starter.render import print_subscription

    async def action() -> Any:
        return await call(await _billing())

    subscription = run(action)
    emit(subscription, as_json, lambda: print_subscription(console, subscription))


def _order_command(call: Callable[[Any], Awaitable[Any]], as_json: bool) -> None:
    """Run ``call(billing_client)`` and show the order it returns."""
    from starter.render import print_order

    async def action() -> Any:
        return await call(await _billing())

    order = run(action)
    emit(order, as_json, lambda: print_order(console, order))


async def _billing() -> BillingClient:
    from billing.telemetry import configure
    from starter.client import BillingClient

    configure("billing-cli")
    return await BillingClient.connect()


@app.command()
def dev(
    data_dir: Annotated[Path | None, typer.Option(help="Data directory [env BILLING_DEV_DATA_DIR]")] = None,
    temporal_port: Annotated[int | None, typer.Option(help="Temporal gRPC port [BILLING_DEV_TEMPORAL_PORT]")] = None,
    ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port [BILLING_DEV_UI_PORT]")] = None,
    emulator_port: Annotated[int | None, typer.Option(help="Emulators port [BILLING_DEV_EMULATOR_PORT]")] = None,
) -> None:
    """Run the whole local stack in the foreground; Ctrl-C stops everything."""
    from starter.devstack import run_dev_stack

    overrides = {
        key: value
        for key, value in {
            "data_dir": data_dir,
            "temporal_port": temporal_port,
            "ui_port": ui_port,
            "emulator_port": emulator_port,
        }.items()
        if value is not None
    }
    settings = DevSettings(**overrides)  # type: ignore[arg-type]
    serve_until_interrupted(lambda: run_dev_stack(settings, console))


@emulators_app.command("serve")
def emulators_serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless in a container)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8070,
    data_dir: Annotated[Path, typer.Option(help="Where the dev keys live")] = Path("var/dev"),
    notify_time_scale: Annotated[float, typer.Option(help="Multiplier of webhook retry delays")] = 1.0,
    public_url: Annotated[str | None, typer.Option(help="URL browsers reach the emulators at (checkout links)")] = None,
) -> None:
    """Serve every provider emulator on one port (Waffo under /waffo)."""
    from starter.devstack import build_dev_hub
    from starter.serving import AppServer

    base = public_url or f"http://{host}:{port}"
    hub = build_dev_hub(data_dir, base, notify_time_scale)

    async def serve() -> None:
        server = AppServer(hub.app, host=host, port=port)
        await server.start()
        console.print(f"Emulators on {base}: /waffo, /kess, /waafipay. Ctrl-C stops.")
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    serve_until_interrupted(serve)


@app.command()
def worker() -> None:
    """Run a worker: every workflow and activity, settings from BILLING_* variables."""
    import worker as worker_module

    worker_module.main()


@app.command()
def serve() -> None:
    """Run the HTTP service: provider webhooks and health, settings from BILLING_HTTP_*."""
    from webhooks.main import main as serve_http

    serve_http()


@app.command(
    "chaos",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def chaos_command(ctx: typer.Context) -> None:
    """The chaos suite on its own stack (options: billing chaos --help; same as scripts/chaos.py)."""
    from starter.chaos.main import main as chaos_main

    raise typer.Exit(chaos_main(list(ctx.args)))


@app.command("trace")
def trace_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Output of processes run with OTEL_TRACES_EXPORTER=console (other lines are skipped); "
            "none or - reads stdin"
        ),
    ] = None,
    workflow_id: Annotated[
        str | None, typer.Option("--workflow-id", help="Only trees that reach this workflow, e.g. order-ORD-1")
    ] = None,
    trace_id: Annotated[str | None, typer.Option("--trace-id", help="Only this trace (a prefix is enough)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Join the console spans of the CLI, HTTP service and worker into one tree per trace.

    With `billing dev`, the HTTP service and worker print theirs into http.log and worker.log in its data
    directory: billing trace var/dev/worker.log var/dev/http.log create.out --workflow-id order-ORD-1
    """  # fmt: skip
    from starter import traces

    texts: list[str] = []
    for path in files or [Path("-")]:
        if str(path) == "-":
            texts.append(sys.stdin.read())
            continue
        try:
            texts.append(path.read_text(errors="replace"))
        except OSError as exc:
            raise fail(f"{path}: {exc.strerror or exc}", 2) from None
    spans = [span for text in texts for span in traces.read_spans(text)]
    if not spans:
        raise fail("no spans found (run the processes with OTEL_TRACES_EXPORTER=console)")
    roots = traces.build_forest(spans)
    if trace_id:
        wanted = trace_id.lower().removeprefix("0x")
        roots = [root for root in roots if root.trace_id.lower().removeprefix("0x").startswith(wanted)]
    if workflow_id:
        roots = [
            root
            for root in roots
            if traces.contains(root, lambda span: span.attributes.get("temporalWorkflowID") == workflow_id)
        ]
    if not roots:
        raise fail("no trace matches")
    if as_json:
        sys.stdout.write(json.dumps([traces.to_json(root) for root in roots], indent=2) + "\n")
    else:
        sys.stdout.write(traces.render(roots) + "\n")


# -- orders -----------------------------------------------------------------------------------------


@order_app.command("create")
def order_create(
    order_id: Annotated[str, typer.Option("--order-id", help="Your order id (idempotency key)")],
    amount: Annotated[str, typer.Option(help="Decimal amount in major units, e.g. 10.00")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. USD")],
    customer_id: Annotated[str, typer.Option("--customer-id", help="Your customer id (no personal data)")],
    provider: Annotated[str, typer.Option(help="Payment provider")] = "waffo",
    customer_email: Annotated[str | None, typer.Option("--customer-email")] = None,
    customer_phone: Annotated[
        str | None, typer.Option("--customer-phone", help="Wallet number (WaafiPay pushes the payment to it)")
    ] = None,
    payment_method: Annotated[
        str | None,
        typer.Option("--payment-method", help="Provider method, e.g. HPP (WaafiPay), QUICKPAY:<code> (KESS)"),
    ] = None,
    description: Annotated[str | None, typer.Option(help="Shown to the customer")] = None,
    capture: Annotated[str, typer.Option(help="automatic or manual")] = "automatic",
    payment_window: Annotated[int, typer.Option(help="Minutes the customer has to pay")] = 30,
    as_json: JsonOption = False,
) -> None:
    """Create an order and its payment; prints where the customer pays."""
    from datetime import timedelta

    from billing.gateway import CaptureMode, Customer
    from billing.money import Money
    from billing.orders import CreateOrder, OrderPolicy
    from starter.render import print_order

    async def action():  # type: ignore[no-untyped-def]
        capture_mode = {"automatic": CaptureMode.AUTOMATIC, "manual": CaptureMode.MANUAL}.get(capture.lower())
        if capture_mode is None:
            raise errors.InputError("must be automatic or manual", field="capture")
        try:
            request = CreateOrder(
                order_id=order_id,
                provider=provider,
                amount=Money.parse(amount, currency, field="amount"),
                customer=Customer(customer_id=customer_id, email=customer_email, phone=customer_phone),
                description=description,
                capture_mode=capture_mode,
                payment_method=payment_method,
                policy=OrderPolicy.for_provider(provider, payment_window=timedelta(minutes=payment_window)),
            )
        except ValidationError as exc:
            from starter.client import input_error_from_validation

            raise input_error_from_validation(exc) from None
        billing = await _billing()
        return await billing.create_order(request)

    order = run(action)
    emit(order, as_json, lambda: print_order(console, order))


@order_app.command("show")
def order_show(order_id: Annotated[str, typer.Argument(help="Order id")], as_json: JsonOption = False) -> None:
    """State, amounts, refunds, provider references and timeline of an order."""
    _order_command(lambda billing: billing.get_order(order_id), as_json)


@order_app.command("capture")
def order_capture(
    order_id: Annotated[str, typer.Argument(help="Order id")],
    amount: Annotated[str | None, typer.Option(help="Amount to capture (default: all authorized)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Capture an AUTHORIZED order, fully or partly."""
    from billing.money import Money
    from starter.render import print_order

    async def action():  # type: ignore[no-untyped-def]
        billing = await _billing()
        money = None
        if amount is not None:
            current = await billing.get_order(order_id)
            money = Money.parse(amount, current.amount.currency, field="amount")
        return await billing.capture(order_id, money)

    order = run(action)
    emit(order, as_json, lambda: print_order(console, order))


@order_app.command("cancel")
def order_cancel(
    order_id: Annotated[str, typer.Argument(help="Order id")],
    reason: Annotated[str | None, typer.Option(help="Recorded in the timeline")] = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel an unpaid order (voids an authorization)."""
    _order_command(lambda billing: billing.cancel(order_id, reason), as_json)


@order_app.command("refund")
def order_refund(
    order_id: Annotated[str, typer.Argument(help="Order id")],
    amount: Annotated[str, typer.Option(help="Amount to refund, e.g. 2.50")],
    refund_id: Annotated[str, typer.Option("--refund-id", help="Your refund id (idempotency key)")],
    reason: Annotated[str | None, typer.Option(help="Why")] = None,
    as_json: JsonOption = False,
) -> None:
    """Refund part or all of a paid order. Repeating the same refund id is safe."""
    from billing.money import Money
    from billing.orders import RefundRequest
    from starter.render import refunds_table

    async def action():  # type: ignore[no-untyped-def]
        billing = await _billing()
        current = await billing.get_order(order_id)
        request = RefundRequest(
            refund_id=refund_id,
            amount=Money.parse(amount, current.amount.currency, field="amount"),
            reason=reason,
        )
        return await billing.refund(order_id, request)

    refund = run(action)
    emit(refund, as_json, lambda: console.print(refunds_table([refund])))


@order_app.command("resolve")
def order_resolve(
    order_id: Annotated[str, typer.Argument(help="Order id")],
    status: Annotated[str, typer.Option(help="PAID, FAILED or CANCELLED")],
    operator: Annotated[str, typer.Option(help="Who decides (recorded)")],
    reason: Annotated[str, typer.Option(help="Why (recorded)")],
    as_json: JsonOption = False,
) -> None:
    """Settle an order in NEEDS_REVIEW (operators only; audited in the timeline)."""
    from billing.orders import OrderStatus, ResolveRequest
    from starter.render import print_order

    async def action():  # type: ignore[no-untyped-def]
        try:
            target = OrderStatus(status.upper())
        except ValueError:
            raise errors.InputError("must be PAID, FAILED or CANCELLED", field="status") from None
        request = ResolveRequest(operator=operator, reason=reason, status=target)
        return await (await _billing()).resolve(order_id, request)

    order = run(action)
    emit(order, as_json, lambda: print_order(console, order))


# -- emulator customer actions ----------------------------------------------------------------------


def _emulator_control(provider: str, path: str, body: dict[str, Any] | None, what: str, as_json: bool) -> None:
    """POST to an emulator's control API, as the customer (or the provider's scheduler) would act."""
    if provider not in ("waffo", "kess", "waafipay"):
        raise fail(f"provider: no emulator for {provider!r}; expected waffo, kess or waafipay", 2)
    base = EmulatorSettings().url.rstrip("/")

    async def call() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(f"{base}/{provider}/control/{path}", json=body or {})
        if response.status_code == 404:
            raise errors.NotFoundError(f"the emulator does not know {what}")
        if response.status_code >= 400:
            raise errors.InvalidStateError(f"emulator refused: {response.text}")
        answer: dict[str, Any] = response.json()
        return answer

    result = run(call)
    emit(result, as_json, lambda: console.print(f"{provider} emulator: {what}"))


def _customer_action(action: str, provider: str, reference: str, subscription: bool, as_json: bool) -> None:
    from billing.idempotency import payment_key, subscription_key

    if subscription:
        path, what = f"subscriptions/{subscription_key(reference)}/{action}", f"subscription {reference}"
    elif provider == "waafipay":
        # WaafiPay's customer acts on the hosted payment page (a wallet push is approved on the phone).
        verb = {"pay": "approve", "fail": "decline", "abandon": "cancel"}[action]
        path, what = f"hpp/{payment_key(reference)}/{verb}", f"order {reference}"
    else:
        path, what = f"orders/{payment_key(reference)}/{action}", f"order {reference}"
    _emulator_control(provider, path, None, f"customer did {action} {what}", as_json)


SubscriptionFlag = Annotated[
    bool, typer.Option("--subscription", help="ID is a subscription: act on its first payment / authorization")
]


@emulators_app.command("pay")
def emulators_pay(
    provider: str, reference: str, subscription: SubscriptionFlag = False, as_json: JsonOption = False
) -> None:
    """Act as the customer: pay the order (or authorize the subscription) on the emulator's checkout."""
    _customer_action("pay", provider, reference, subscription, as_json)


@emulators_app.command("fail")
def emulators_fail(
    provider: str, reference: str, subscription: SubscriptionFlag = False, as_json: JsonOption = False
) -> None:
    """Act as the customer: the payment fails on the emulator's checkout."""
    _customer_action("fail", provider, reference, subscription, as_json)


@emulators_app.command("abandon")
def emulators_abandon(provider: str, order_id: str, as_json: JsonOption = False) -> None:
    """Act as the customer: leave the emulator's checkout without paying."""
    _customer_action("abandon", provider, order_id, False, as_json)


@emulators_app.command("renew")
def emulators_renew(
    provider: str,
    subscription_id: str,
    fail_renewal: Annotated[bool, typer.Option("--fail", help="The renewal charge fails")] = False,
    as_json: JsonOption = False,
) -> None:
    """Act as the provider's scheduler: charge the subscription's next period (or fail to)."""
    from billing.idempotency import subscription_key

    outcome = "failed" if fail_renewal else "succeeded"
    _emulator_control(
        provider,
        f"subscriptions/{subscription_key(subscription_id)}/renew",
        {"succeed": not fail_renewal},
        f"next period of subscription {subscription_id} {outcome}",
        as_json,
    )


# -- subscriptions ----------------------------------------------------------------------------------

_INTERVALS = ("day", "week", "month", "year")


def _plan(
    plan_id: str,
    amount: str,
    currency: str,
    interval: str,
    interval_count: int,
    periods: int | None,
    description: str | None,
) -> Any:
    from billing.gateway import BillingInterval, SubscriptionPlan
    from billing.money import Money

    if interval not in _INTERVALS:
        raise errors.InputError(f"must be one of {', '.join(_INTERVALS)}", field="interval")
    try:
        return SubscriptionPlan(
            plan_id=plan_id,
            description=description or f"Plan {plan_id}",
            amount=Money.parse(amount, currency, field="amount"),
            interval=BillingInterval(interval),
            interval_count=interval_count,
            periods=periods,
        )
    except ValidationError as exc:
        from starter.client import input_error_from_validation

        raise input_error_from_validation(exc) from None


@subscription_app.command("create")
def subscription_create(
    subscription_id: Annotated[str, typer.Option("--subscription-id", help="Your subscription id (idempotency key)")],
    plan_id: Annotated[str, typer.Option("--plan-id", help="Your plan id")],
    amount: Annotated[str, typer.Option(help="Price per period, e.g. 9.99")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code")],
    customer_id: Annotated[str, typer.Option("--customer-id", help="Your customer id (no personal data)")],
    customer_email: Annotated[str | None, typer.Option("--customer-email")] = None,
    provider: Annotated[str, typer.Option(help="Payment provider")] = "waffo",
    interval: Annotated[str, typer.Option(help="day, week, month or year")] = "month",
    interval_count: Annotated[int, typer.Option("--interval-count", help="Periods of N intervals")] = 1,
    periods: Annotated[int | None, typer.Option(help="Fixed number of paid periods (default: open-ended)")] = None,
    trial_days: Annotated[
        int | None, typer.Option("--trial-days", help="Free trial before the first period (engine billing)")
    ] = None,
    billing: Annotated[
        str | None, typer.Option("--billing", help="provider (the provider renews) or invoice (one order per period)")
    ] = None,
    description: Annotated[str | None, typer.Option(help="Shown to the customer")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a subscription; prints where the customer authorizes the first payment."""
    from billing.gateway import Customer
    from billing.subscriptions import BillingMode, StartSubscription
    from starter.render import print_subscription

    async def action():  # type: ignore[no-untyped-def]
        modes = {"provider": BillingMode.PROVIDER_MANAGED, "invoice": BillingMode.ENGINE_INVOICED}
        if billing is not None and billing not in modes:
            raise errors.InputError("must be provider or invoice", field="billing")
        plan = _plan(plan_id, amount, currency, interval, interval_count, periods, description)
        try:
            request = StartSubscription(
                subscription_id=subscription_id,
                provider=provider,
                plan=plan,
                customer=Customer(customer_id=customer_id, email=customer_email),
                billing_mode=modes[billing] if billing else None,
                trial_days=trial_days,
            )
        except ValidationError as exc:
            from starter.client import input_error_from_validation

            raise input_error_from_validation(exc) from None
        return await (await _billing()).create_subscription(request)

    subscription = run(action)
    emit(subscription, as_json, lambda: print_subscription(console, subscription))


@subscription_app.command("show")
def subscription_show(subscription_id: str, as_json: JsonOption = False) -> None:
    """State, plan, periods, next billing date and timeline of a subscription."""
    _subscription_command(lambda billing: billing.get_subscription(subscription_id), as_json)


@subscription_app.command("cancel")
def subscription_cancel(
    subscription_id: str,
    at_period_end: Annotated[bool, typer.Option("--at-period-end", help="Cancel when the current period ends")] = False,
    reason: Annotated[str | None, typer.Option(help="Recorded in the timeline")] = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel now, or at the end of the current period (resumable until then)."""
    _subscription_command(
        lambda billing: billing.cancel_subscription(subscription_id, at_period_end=at_period_end, reason=reason),
        as_json,
    )


@subscription_app.command("resume")
def subscription_resume(subscription_id: str, as_json: JsonOption = False) -> None:
    """Resume a paused subscription, or withdraw a cancel-at-period-end."""
    _subscription_command(lambda billing: billing.resume_subscription(subscription_id), as_json)


@subscription_app.command("pause")
def subscription_pause(
    subscription_id: str,
    reason: Annotated[str | None, typer.Option(help="Recorded in the timeline")] = None,
    as_json: JsonOption = False,
) -> None:
    """Stop billing until resume (subscriptions billed by invoice; Waffo's own renewals cannot pause)."""
    _subscription_command(lambda billing: billing.pause_subscription(subscription_id, reason), as_json)


@subscription_app.command("preview-change")
def subscription_preview_change(
    subscription_id: str,
    plan_id: Annotated[str, typer.Option("--plan-id")],
    amount: Annotated[str, typer.Option(help="New price per period")],
    interval: Annotated[str, typer.Option(help="day, week, month or year")] = "month",
    interval_count: Annotated[int, typer.Option("--interval-count")] = 1,
    as_json: JsonOption = False,
) -> None:
    """What a plan change now would credit and charge (changes nothing)."""

    async def action():  # type: ignore[no-untyped-def]
        billing = await _billing()
        current = await billing.get_subscription(subscription_id)
        plan = _plan(plan_id, amount, current.plan.amount.currency, interval, interval_count, None, None)
        return await billing.preview_change(subscription_id, plan)

    proration = run(action)
    emit(
        proration,
        as_json,
        lambda: console.print(
            f"credit {proration.credit} · charge {proration.charge} · net {proration.net} "
            f"({proration.settlement.value.lower()}; "
            f"{float(proration.fraction_remaining) * 100:.2f}% of the period remains)"
        ),
    )


@subscription_app.command("change-plan")
def subscription_change_plan(
    subscription_id: str,
    plan_id: Annotated[str, typer.Option("--plan-id")],
    amount: Annotated[str, typer.Option(help="New price per period")],
    interval: Annotated[str, typer.Option(help="day, week, month or year")] = "month",
    interval_count: Annotated[int, typer.Option("--interval-count")] = 1,
    at_period_end: Annotated[bool, typer.Option("--at-period-end", help="Change when the current period ends")] = False,
    as_json: JsonOption = False,
) -> None:
    """Change plan now (prorated; the customer may have to authorize) or at period end."""
    from starter.render import print_subscription

    async def action():  # type: ignore[no-untyped-def]
        billing = await _billing()
        current = await billing.get_subscription(subscription_id)
        plan = _plan(plan_id, amount, current.plan.amount.currency, interval, interval_count, None, None)
        return await billing.change_plan(subscription_id, plan, at_period_end=at_period_end)

    subscription = run(action)
    emit(subscription, as_json, lambda: print_subscription(console, subscription))


@subscription_app.command("manage")
def subscription_manage(subscription_id: str, as_json: JsonOption = False) -> None:
    """A short-lived link where the customer manages the subscription at the provider."""

    async def action():  # type: ignore[no-untyped-def]
        return await (await _billing()).management_link(subscription_id)

    link = run(action)
    emit(link, as_json, lambda: console.print(link.url))


# -- merchant events --------------------------------------------------------------------------------


@events_app.command("listen")
def events_listen(
    secrets: Annotated[
        str,
        typer.Option(
            "--secret",
            envvar="BILLING_EVENTS_SECRETS",
            help="Signing secret(s), comma-separated",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8090,
    path: Annotated[str, typer.Option(help="URL path of the endpoint")] = "/events",
    as_json: JsonOption = False,
) -> None:
    """Be a merchant endpoint: verify each event's signature and print it (one JSON line each with --json).

    Point a worker at it: BILLING_EVENTS_URL=http://HOST:PORT/PATH and BILLING_EVENTS_SECRETS=the same secret.

    Forged, stale or unsigned requests get 400 and are reported on stderr. Ctrl-C stops.
    """
    from billing.events import split_secrets
    from starter.events import EventReceiver, MerchantEvent
    from starter.render import event_line
    from starter.serving import AppServer

    keys = split_secrets(secrets)
    if not keys:
        raise fail("--secret: at least one non-empty secret is needed", 2)

    async def received(event: MerchantEvent) -> None:
        if as_json:
            sys.stdout.write(event.model_dump_json() + "\n")
            sys.stdout.flush()
        else:
            console.print(event_line(event))

    receiver = EventReceiver(keys, received)

    async def serve() -> None:
        server = AppServer(receiver.app(path), host=host, port=port)
        await server.start()
        err_console.print(f"Listening for merchant events on {server.url}{path}. Ctrl-C stops.", highlight=False)
        rejected = 0
        try:
            while True:
                await asyncio.sleep(0.5)
                if receiver.rejected != rejected:
                    err_console.print(f"[yellow]rejected[/] {receiver.rejected - rejected} request(s): bad signature")
                    rejected = receiver.rejected
        finally:
            await server.stop()

    serve_until_interrupted(serve)


def main() -> None:
    """Run the CLI and leave without interpreter finalization.

    The Temporal client's native runtime keeps threads that can abort a finalizing Python 3.11
    interpreter ("PyGILState_Release ... finalizing"), turning a successful command into exit code -6.
    Everything the command does is finished and flushed here, so the process ends with its real code.
    """
    import logging
    import os

    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if "billing.telemetry" in sys.modules:
        from billing.telemetry import shutdown

        shutdown()  # export the spans still buffered: os._exit runs no exit hooks
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
