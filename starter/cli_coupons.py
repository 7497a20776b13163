"""``billing coupon create|show`` and ``billing subscription apply-coupon``: the merchant's coupons.

Coupons belong to the merchant of ``BILLING_WORKER_INVOICE_MERCHANT`` (the worker's; ``default``). Bad input
exits 2 naming the field; ``--json`` prints the coupon (or the subscription) as JSON.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from billing import errors
from starter.cli_common import JsonOption, billing_client, console, emit, run
from starter.cli_subscriptions import subscription_app

if TYPE_CHECKING:
    from billing.coupons import Coupon, CouponState

app = typer.Typer(help="Coupons: percent or amount off for some periods of a subscription.", no_args_is_help=True)


def parse_redeem_by(text: str) -> datetime:
    """``2027-06-01`` (midnight UTC) or an ISO 8601 time with its zone."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise errors.InputError(f"{text!r} is not a date (2027-06-01) or an ISO 8601 time", field="redeem_by") from None
    if moment.tzinfo is None:
        raise errors.InputError("give the time zone, e.g. 2027-06-01T00:00:00+00:00", field="redeem_by")
    return moment


def build_coupon(
    code: str,
    *,
    percent_off: str | None,
    amount_off: str | None,
    currency: str | None,
    duration: str,
    periods: int | None,
    redeem_by: str | None,
    max_redemptions: int | None,
    plans: str | None,
) -> Coupon:
    """The coupon the options describe; InputError naming the first bad field."""
    from billing.coupons import Coupon, CouponDuration, parse_percent
    from billing.money import Money

    if (percent_off is None) == (amount_off is None):
        raise errors.InputError("give --percent-off or --amount-off (with --currency)", field="percent_off")
    off: Money | None = None
    if amount_off is not None:
        if currency is None:
            raise errors.InputError("an amount off needs its currency (--currency)", field="currency")
        off = Money.parse(amount_off, currency, field="amount_off")
    choices = [d.value for d in CouponDuration]
    if duration not in choices:
        raise errors.InputError(f"must be one of {', '.join(choices)}", field="duration")
    try:
        return Coupon(
            code=code,
            percent_off_bp=parse_percent(percent_off) if percent_off is not None else None,
            amount_off=off,
            duration=CouponDuration(duration),
            periods=periods,
            redeem_by=parse_redeem_by(redeem_by) if redeem_by else None,
            max_redemptions=max_redemptions,
            plans=tuple(p.strip() for p in plans.split(",") if p.strip()) if plans else (),
        )
    except ValidationError as exc:
        from starter.client import input_error_from_validation

        raise input_error_from_validation(exc) from None


def print_coupon(state: CouponState) -> None:
    coupon = state.coupon
    rows = [f"{coupon.code} · {coupon.describe()}"]
    if coupon.plans:
        rows.append(f"plans {', '.join(coupon.plans)}")
    if coupon.redeem_by is not None:
        rows.append(f"redeem by {coupon.redeem_by.isoformat()}")
    limit = f" of {coupon.max_redemptions}" if coupon.max_redemptions is not None else ""
    rows.append(f"redeemed {state.redeemed}{limit}")
    for redemption in sorted(state.redemptions.values(), key=lambda r: r.sequence):
        rows.append(f"  {redemption.sequence}. {redemption.target} at {redemption.redeemed_at.isoformat()}")
    for row in rows:
        console.print(row, highlight=False, soft_wrap=True, markup=False)


@app.command("create")
def coupon_create(
    code: Annotated[str, typer.Argument(help="The code customers give (letters, digits, '-', '_'; any case)")],
    percent_off: Annotated[str | None, typer.Option("--percent-off", help="Percent off, e.g. 20 or 12.5")] = None,
    amount_off: Annotated[str | None, typer.Option("--amount-off", help="Amount off each period, e.g. 5.00")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code of --amount-off")] = None,
    duration: Annotated[str, typer.Option(help="once, repeating (with --periods) or forever")] = "once",
    periods: Annotated[int | None, typer.Option(help="How many periods a repeating coupon covers")] = None,
    redeem_by: Annotated[
        str | None, typer.Option("--redeem-by", help="No redemption from then on: 2027-06-01 (UTC) or ISO 8601")
    ] = None,
    max_redemptions: Annotated[
        int | None, typer.Option("--max-redemptions", help="At most this many subscriptions or orders")
    ] = None,
    plans: Annotated[str | None, typer.Option(help="Only for these plan ids, comma-separated")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a coupon (the same definition again is the same coupon)."""

    async def action() -> CouponState:
        coupon = build_coupon(
            code,
            percent_off=percent_off,
            amount_off=amount_off,
            currency=currency,
            duration=duration,
            periods=periods,
            redeem_by=redeem_by,
            max_redemptions=max_redemptions,
            plans=plans,
        )
        return await (await billing_client()).create_coupon(coupon)

    state = run(action)
    emit(state, as_json, lambda: print_coupon(state))


@app.command("show")
def coupon_show(code: str, as_json: JsonOption = False) -> None:
    """A coupon's definition and its redemptions."""

    async def action() -> CouponState:
        return await (await billing_client()).get_coupon(code)

    state = run(action)
    emit(state, as_json, lambda: print_coupon(state))


@subscription_app.command("apply-coupon")
def subscription_apply_coupon(
    subscription_id: str,
    coupon: Annotated[str, typer.Option("--coupon", help="The coupon code")],
    as_json: JsonOption = False,
) -> None:
    """Apply a coupon from the next period not billed yet (subscriptions the engine bills)."""
    from starter.render import print_subscription

    async def action():  # type: ignore[no-untyped-def]
        return await (await billing_client()).apply_coupon(subscription_id, coupon)

    subscription = run(action)
    emit(subscription, as_json, lambda: print_subscription(console, subscription))
