"""``billing order ...``: create, inspect and command one-time orders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from billing import errors
from providers.registry import PROVIDER_NAMES
from starter.cli_common import (
    JsonOption,
    console,
    emit,
    err_console,
    exit_for_outcome,
    run,
)
from starter.cli_common import billing_client as _billing

order_app = typer.Typer(help="Create, inspect and command one-time orders.", no_args_is_help=True)


def _order_command(call: Callable[[Any], Awaitable[Any]], as_json: bool) -> None:
    """Run ``call(billing_client)`` and show the order it returns."""
    from starter.render import print_order

    async def action() -> Any:
        return await call(await _billing())

    order = run(action)
    emit(order, as_json, lambda: print_order(console, order))


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
    coupon: Annotated[
        str | None, typer.Option("--coupon", help="A coupon code: the customer pays the amount less its discount")
    ] = None,
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
                coupon=coupon,
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
