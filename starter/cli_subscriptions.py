"""``billing subscription ...``: create, inspect and command subscriptions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from billing import errors
from host.settings import EmulatorSettings
from providers.registry import PROVIDER_NAMES
from starter.cli_common import (
    JsonOption,
    console,
    emit,
    run,
)
from starter.cli_common import billing_client as _billing

subscription_app = typer.Typer(help="Create, inspect and command subscriptions.", no_args_is_help=True)


def _subscription_command(call: Callable[[Any], Awaitable[Any]], as_json: bool) -> None:
    """Run ``call(billing_client)`` and show the subscription it returns."""
    from starter.render import print_subscription

    async def action() -> Any:
        return await call(await _billing())

    subscription = run(action)
    emit(subscription, as_json, lambda: print_subscription(console, subscription))


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
    coupon: Annotated[str | None, typer.Option("--coupon", help="A coupon code, from the first period")] = None,
    test_clock: Annotated[
        str | None,
        typer.Option("--test-clock", help="Live on this test clock's time (engine billing, emulators only)"),
    ] = None,
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
                coupon=coupon,
            )
        except ValidationError as exc:
            from starter.client import input_error_from_validation

            raise input_error_from_validation(exc) from None
        return await (await _billing()).create_subscription(request, test_clock=test_clock)

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
    """What a plan change now would credit and charge, and the invoice it would create (changes nothing)."""
    from starter.invoice_render import print_invoice_preview
    from starter.render import percent_text

    async def action():  # type: ignore[no-untyped-def]
        billing = await _billing()
        current = await billing.get_subscription(subscription_id)
        plan = _plan(plan_id, amount, current.plan.amount.currency, interval, interval_count, None, None)
        return await billing.preview_change(subscription_id, plan)

    proration = run(action)

    def show() -> None:
        console.print(
            f"credit {proration.credit} · charge {proration.charge} · net {proration.net} "
            f"({proration.settlement.value.lower()}; "
            f"{percent_text(proration.fraction_remaining)} of the period remains)"
        )
        print_invoice_preview(console, proration.invoice)

    emit(proration, as_json, show)


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
