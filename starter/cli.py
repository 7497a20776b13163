"""The ``billing`` command line: the local stack, the emulators, and (as they land) orders and subscriptions.

Human-readable output by default, ``--json`` for scripts, non-zero exit codes on errors. Settings come
from ``BILLING_*`` environment variables (see docs/configuration.md).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from billing import errors
from billing.settings import DevSettings, EmulatorSettings
from providers.registry import PROVIDER_NAMES
from starter import cli_faults, cli_find, cli_tools, provider_cli
from starter.cli_common import (
    EXIT_CODES_HELP,
    JsonOption,
    console,
    emit,
    err_console,
    exit_for_outcome,
    fail,
    run,
    serve_until_interrupted,
)
from starter.cli_common import billing_client as _billing
from starter.cli_help import tidy_help

app = typer.Typer(
    name="billing",
    help="Workflow-as-code payment and subscription billing engine on Temporal.",
    epilog=EXIT_CODES_HELP,
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
app.add_typer(provider_cli.app, name="provider")


@app.callback()
def find_dev_stack(context: typer.Context) -> None:
    """Commands without BILLING_TEMPORAL_ADDRESS / BILLING_EMULATORS_URL use the running `billing dev` stack."""
    if context.invoked_subcommand != "dev":
        from starter.devenv import use_running_dev_stack

        use_running_dev_stack()


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


@app.command()
def dev(
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default var/dev) [BILLING_DEV_DATA_DIR]")
    ] = None,
    temporal_port: Annotated[int | None, typer.Option(help="Temporal gRPC port [BILLING_DEV_TEMPORAL_PORT]")] = None,
    ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port [BILLING_DEV_UI_PORT]")] = None,
    emulator_port: Annotated[int | None, typer.Option(help="Emulators port [BILLING_DEV_EMULATOR_PORT]")] = None,
    http_port: Annotated[
        int | None, typer.Option(help="HTTP service port: webhooks, health [BILLING_DEV_HTTP_PORT]")
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start the emulators from nothing: forget their orders, subscriptions, ledgers and queued faults "
            "(<data dir>/emulators.db)",
        ),
    ] = False,
) -> None:
    """Run the whole local stack in the foreground; Ctrl-C stops everything.

    Other `billing` commands run from the same directory (or with the same BILLING_DEV_DATA_DIR) find this
    stack by themselves, whatever its ports: they read the file env in the data directory. The emulators keep
    their state in emulators.db there, so orders made before a restart can still be paid, refunded and
    renewed.
    """
    from starter.devstack import run_dev_stack

    overrides = {
        key: value
        for key, value in {
            "data_dir": data_dir,
            "temporal_port": temporal_port,
            "ui_port": ui_port,
            "emulator_port": emulator_port,
            "http_port": http_port,
        }.items()
        if value is not None
    }
    settings = DevSettings(**overrides)  # type: ignore[arg-type]
    serve_until_interrupted(lambda: run_dev_stack(settings, console, fresh=fresh))


@emulators_app.command("serve")
def emulators_serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless in a container)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8070,
    data_dir: Annotated[Path, typer.Option(help="Where the dev keys live")] = Path("var/dev"),
    notify_time_scale: Annotated[float, typer.Option(help="Multiplier of webhook retry delays")] = 1.0,
    public_url: Annotated[str | None, typer.Option(help="URL browsers reach the emulators at (checkout links)")] = None,
    unpaid_lifetime: Annotated[
        float | None,
        typer.Option(
            "--kess-qr-lifetime",
            help="Seconds an unpaid KESS QR code stays payable (default 7200; give the worker the same "
            "in BILLING_KESS_QR_LIFETIME_S)",
        ),
    ] = None,
) -> None:
    """Serve every provider emulator on one port (Waffo under /waffo)."""
    from starter.devstack import build_dev_hub
    from starter.serving import AppServer

    base = public_url or f"http://{host}:{port}"
    hub = build_dev_hub(data_dir, base, notify_time_scale, unpaid_lifetime)

    async def serve() -> None:
        server = AppServer(hub.app, host=host, port=port)
        await server.start()
        from emulators.registry import EMULATOR_NAMES

        mounts = ", ".join(f"/{name}" for name in EMULATOR_NAMES)
        console.print(f"Emulators on {base}: {mounts}. Ctrl-C stops.")
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


# -- orders -----------------------------------------------------------------------------------------


#: ``billing order create --dev-windows``: an order that settles (or goes to review) within about a minute.
DEV_WINDOWS: dict[str, Any] = {
    "payment_window": timedelta(seconds=30),
    "inquiry_schedule": (timedelta(seconds=5),),
    "unknown_inquiry_limit": 3,
}


@order_app.command("create")
def order_create(
    order_id: Annotated[str, typer.Option("--order-id", help="Your order id (idempotency key)")],
    amount: Annotated[str, typer.Option(help="Decimal amount in major units, e.g. 10.00")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. USD")],
    customer_id: Annotated[str, typer.Option("--customer-id", help="Your customer id (no personal data)")],
    provider: Annotated[str, typer.Option(help=f"Payment provider: {', '.join(PROVIDER_NAMES)}")] = PROVIDER_NAMES[0],
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
    payment_window: Annotated[
        int | None,
        typer.Option(help="Minutes the customer has to pay (default: the provider's rule: 30, KESS quick pay 45 s)"),
    ] = None,
    dev_windows: Annotated[
        bool,
        typer.Option(
            "--dev-windows",
            help="Short windows for trying things on the dev stack: 30 s to pay, an inquiry every 5 s, review "
            "after 3 inconclusive inquiries past that deadline (an unanswered order reaches NEEDS_REVIEW in "
            "about a minute)",
            metavar="",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create an order and its payment; prints where the customer pays."""

    from billing.gateway import CaptureMode, Customer
    from billing.money import Money
    from billing.orders import CreateOrder, OrderPolicy
    from starter.render import print_order, why_failed

    async def action():  # type: ignore[no-untyped-def]
        capture_mode = {"automatic": CaptureMode.AUTOMATIC, "manual": CaptureMode.MANUAL}.get(capture.lower())
        if capture_mode is None:
            raise errors.InputError("must be automatic or manual", field="capture")
        # Only what the user set: an unset window leaves the provider's own timing rule in force.
        chosen: dict[str, Any] = {}
        if dev_windows:
            chosen["policy"] = OrderPolicy.for_provider(provider, **DEV_WINDOWS)
        elif payment_window is not None:
            chosen["policy"] = OrderPolicy.for_provider(provider, payment_window=timedelta(minutes=payment_window))
        try:
            request = CreateOrder(
                order_id=order_id,
                provider=provider,
                amount=Money.parse(amount, currency, field="amount"),
                customer=Customer(customer_id=customer_id, email=customer_email, phone=customer_phone),
                description=description,
                capture_mode=capture_mode,
                payment_method=payment_method,
                **chosen,
            )
        except ValidationError as exc:
            from starter.client import input_error_from_validation

            raise input_error_from_validation(exc) from None
        billing = await _billing()
        if request.waits_for_payer:
            # The call blocks until the payer answers on the phone (seconds, up to the provider's timeout):
            # say so on stderr, so the wait is not silent and stdout stays the order alone.
            err_console.print(
                f"{provider}: asking the payer to approve {request.amount} on their phone; waiting for the answer…",
                highlight=False,
                soft_wrap=True,
            )
        return await billing.create_order(request)

    order = run(action)
    emit(order, as_json, lambda: print_order(console, order))
    exit_for_outcome(order.status.value, f"order {order_id}", why_failed(order.failure, order.timeline))


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
    from starter.render import print_order, why_failed

    async def action():  # type: ignore[no-untyped-def]
        billing = await _billing()
        money = None
        if amount is not None:
            current = await billing.get_order(order_id)
            money = Money.parse(amount, current.amount.currency, field="amount")
        return await billing.capture(order_id, money)

    order = run(action)
    emit(order, as_json, lambda: print_order(console, order))
    exit_for_outcome(order.status.value, f"order {order_id}", why_failed(order.failure, order.timeline))


@order_app.command("cancel")
def order_cancel(
    order_id: Annotated[str, typer.Argument(help="Order id")],
    reason: Annotated[str | None, typer.Option(help="Recorded in the timeline")] = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel an unpaid order (voids an authorization). An order already cancelled stays so: exit 0."""
    from billing.orders import OrderStatus
    from starter.render import print_order, why_failed

    async def action():  # type: ignore[no-untyped-def]
        billing = await _billing()
        try:
            return await billing.cancel(order_id, reason), False
        except (errors.InvalidStateError, errors.NotFoundError):
            current = await billing.get_order(order_id)  # NotFoundError here: there never was such an order
            if current.status is not OrderStatus.CANCELLED:
                raise
            return current, True

    order, already = run(action)
    emit(order, as_json, lambda: print_order(console, order))
    if already:
        err_console.print(f"order {order_id} was already cancelled: nothing changed", highlight=False)
    exit_for_outcome(order.status.value, f"order {order_id}", why_failed(order.failure, order.timeline))


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
    from starter.render import print_refunds, why_failed

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
    emit(refund, as_json, lambda: print_refunds(console, [refund]))
    exit_for_outcome(refund.status.value, f"refund {refund_id}", why_failed(refund.failure))


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


def _emulator_control(
    provider: str, path: str, body: dict[str, Any] | None, subject: str, done: str, as_json: bool
) -> None:
    """POST to an emulator's control API, as the customer (or the provider's scheduler) would act.

    ``subject`` names what is acted on ("order ORD-1"), ``done`` what happened ("the customer paid order
    ORD-1"): the answer reads ``waffo emulator: the customer paid order ORD-1``, a miss ``the waffo
    emulator has no order ORD-1``.
    """
    from emulators.registry import EMULATOR_NAMES

    if provider not in EMULATOR_NAMES:
        raise fail(f"provider: no emulator for {provider!r}; expected {_one_of(EMULATOR_NAMES)}", 2)
    base = EmulatorSettings().url.rstrip("/")

    async def call() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(f"{base}/{provider}/control/{path}", json=body or {})
        if response.status_code == 404:
            raise errors.NotFoundError(f"the {provider} emulator has no {subject}")
        if response.status_code >= 400:
            raise errors.InvalidStateError(f"the {provider} emulator refused: {_emulator_error(response)}")
        answer: dict[str, Any] = response.json()
        return answer

    result = run(call)
    returned = _customer_returns(result)
    if returned:
        done += f"; {returned}"
    emit(result, as_json, lambda: console.print(f"{provider} emulator: {done}", highlight=False, soft_wrap=True))


def _one_of(names: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def _customer_returns(answer: dict[str, Any]) -> str | None:
    """Follow the customer's browser back from the provider's page, as after a real checkout: the merchant's
    return URL (the HTTP service's redirect callback) makes the order ask the provider at once instead of
    at its next scheduled inquiry. What happened, in words; None when the answer names no return."""
    redirect = answer.get("redirect")
    fields: dict[str, str]
    if isinstance(answer.get("returnUrl"), str):
        method, url, fields = "GET", answer["returnUrl"], {}
    elif isinstance(redirect, dict) and isinstance(redirect.get("url"), str):
        method, url, fields = str(redirect.get("method", "GET")), redirect["url"], redirect.get("fields") or {}
    else:
        return None

    async def back() -> int:
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
            if method.upper() == "POST":
                response = await http.post(url, data=fields)
            else:
                response = await http.get(url)
        return response.status_code

    try:
        status = asyncio.run(back())
    except httpx.HTTPError as exc:
        err_console.print(f"the customer's return to {url} failed: {exc}", highlight=False, soft_wrap=True)
        return None
    if status >= 400:
        err_console.print(f"the customer's return to {url} answered HTTP {status}", highlight=False, soft_wrap=True)
        return None
    return "the customer returned to the merchant (the order asks the provider now)"


def _emulator_error(response: httpx.Response) -> str:
    """The emulator's own words (its ``{"error": ...}``), else the body as it came."""
    try:
        answer = response.json()
    except ValueError:
        return response.text
    return str(answer.get("error") or answer) if isinstance(answer, dict) else response.text


_CUSTOMER_DID = {
    "pay": "the customer paid {}",
    "fail": "the customer's payment of {} failed",
    "abandon": "the customer left the checkout of {} without paying",
}


def _subscription_awaiting_customer(subscription_id: str) -> tuple[str, str]:
    """The provider request id of what the customer of ``subscription_id`` acts on, and how to name it: a
    plan change waiting for authorization (a new subscription at the provider) if there is one, else the
    subscription's current generation. Without the engine (the emulators alone) the first generation."""
    from billing.idempotency import subscription_key

    subject = f"subscription {subscription_id}"

    async def look_up() -> Any:
        return await (await _billing()).get_subscription(subscription_id)

    try:
        current = asyncio.run(look_up())
    except (errors.BillingError, OSError, RuntimeError):
        return subscription_key(subscription_id), subject
    change = current.pending_change
    if change is not None and not change.scheduled:
        return change.request_key, f"the plan change of {subject} (to plan {change.plan.plan_id})"
    return current.request_key, subject


def _customer_action(action: str, provider: str, reference: str, subscription: bool, as_json: bool) -> None:
    from billing.idempotency import payment_key

    if subscription:
        key, subject = _subscription_awaiting_customer(reference)
        path = f"subscriptions/{key}/{action}"
    else:
        from emulators.registry import EMULATORS

        local = next((local for local in EMULATORS if local.name == provider), None)
        customer_path = local.customer_path if local else EMULATORS[0].customer_path
        path, subject = customer_path(action, payment_key(reference)), f"order {reference}"
    did = _CUSTOMER_DID[action].format(subject)
    if subject.startswith("the plan change"):
        authorized = {"pay": "the customer authorized {}", "fail": "the customer's authorization of {} failed"}
        did = authorized[action].format(subject)
    _emulator_control(provider, path, None, subject, did, as_json)


SubscriptionFlag = Annotated[
    bool,
    typer.Option(
        "--subscription",
        help="ID is a subscription: act on its first payment, or on its plan change waiting for the customer",
        metavar="",
    ),
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
    fail_renewal: Annotated[bool, typer.Option("--fail", help="The renewal charge fails", metavar="")] = False,
    as_json: JsonOption = False,
) -> None:
    """Act as the provider's scheduler: charge the subscription's next period (or fail to)."""
    from billing.idempotency import subscription_key

    outcome = "failed" if fail_renewal else "succeeded"
    _emulator_control(
        provider,
        f"subscriptions/{subscription_key(subscription_id)}/renew",
        {"succeed": not fail_renewal},
        f"subscription {subscription_id}",
        f"the next period of subscription {subscription_id} {outcome}",
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
    customer_phone: Annotated[
        str | None,
        typer.Option(
            "--customer-phone", help="Wallet number each period is charged to or invoiced for (WaafiPay: required)"
        ),
    ] = None,
    provider: Annotated[str, typer.Option(help=f"Payment provider: {', '.join(PROVIDER_NAMES)}")] = PROVIDER_NAMES[0],
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
                customer=Customer(customer_id=customer_id, email=customer_email, phone=customer_phone),
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
    at_period_end: Annotated[
        bool, typer.Option("--at-period-end", help="Cancel when the current period ends", metavar="")
    ] = False,
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
    from starter.render import percent_text

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
            f"{percent_text(proration.fraction_remaining)} of the period remains)"
        ),
    )


@subscription_app.command("change-plan")
def subscription_change_plan(
    subscription_id: str,
    plan_id: Annotated[str, typer.Option("--plan-id")],
    amount: Annotated[str, typer.Option(help="New price per period")],
    interval: Annotated[str, typer.Option(help="day, week, month or year")] = "month",
    interval_count: Annotated[int, typer.Option("--interval-count")] = 1,
    at_period_end: Annotated[
        bool, typer.Option("--at-period-end", help="Change when the current period ends", metavar="")
    ] = False,
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
    change = subscription.pending_change
    url = change.customer_action.url if change and change.customer_action else None
    if not as_json and url and url.startswith(EmulatorSettings().url.rstrip("/") + "/"):
        console.print(
            f"The customer authorizes the change at the link above; on the emulator: "
            f"billing emulators pay {subscription.provider} {subscription_id} --subscription",
            highlight=False,
            soft_wrap=True,
        )


@subscription_app.command("manage")
def subscription_manage(subscription_id: str, as_json: JsonOption = False) -> None:
    """A short-lived link where the customer manages the subscription at the provider."""

    async def action():  # type: ignore[no-untyped-def]
        return await (await _billing()).management_link(subscription_id)

    link = run(action)
    emit(link, as_json, lambda: console.print(link.url, soft_wrap=True, highlight=False, markup=False))


cli_find.register(app, order_app, subscription_app)
cli_faults.register(emulators_app)
cli_tools.register(app, events_app)
tidy_help(app)  # last: every command is registered


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
