"""Coupons on the time-skipping server: an engine-charged subscription with a coupon repeating 3 periods
(periods 1-3 carry the discount line, period 4 does not, totals and charged amounts exact); a coupon applied
later from the next period; redemption limits under 50 concurrent redemptions; the same target twice; the
refusals, each naming its field."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from billing import errors
from billing.coupons import Coupon, CouponDuration, RedeemCoupon
from billing.gateway import Customer
from billing.invoices import InvoiceState
from billing.money import Money
from billing.subscriptions import PeriodStatus, SubscriptionStatus
from tests.subscriptions.test_engine_invoiced import Engine, priced, set_wallet, start
from tests.subscriptions.test_invoices import table


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


async def test_a_coupon_repeating_three_periods_discounts_periods_one_to_three(engine: Engine) -> None:
    billing = engine.stack.billing
    await billing.create_coupon(
        Coupon(code="spring20", percent_off_bp=2000, duration=CouponDuration.REPEATING, periods=3, plans=("basic",))
    )
    wallet = "252611111140"
    await set_wallet(engine, wallet, ["approve"] * 4)
    now = await engine.env.get_current_time()
    anchor = datetime(now.year + 1, 4, 1, tzinfo=UTC)
    sub_id = "sub-cpn"
    created = await engine.create(
        start(
            sub_id,
            provider="waafipay",
            billing_mode=None,
            plan=priced("basic", "30.00"),
            customer=Customer(customer_id="cust-cpn", phone=wallet),
            billing_anchor=anchor,
            coupon="SPRING20",
        )
    )
    assert created.coupon is not None
    assert (created.coupon.coupon.code, created.coupon.first_period, created.coupon.last_period()) == ("SPRING20", 1, 3)
    assert created.calendar is not None
    engine.orders += [f"{sub_id}-p{n}" for n in range(1, 5)]
    for number in range(1, 5):
        await engine.skip_to(created.calendar.period_start(number))
        await engine.until(
            sub_id, lambda s, n=number: s.current_period == n and s.invoices[-1].state is InvoiceState.PAID
        )
    sub = await engine.get(sub_id)
    # By hand: 20 % of 30.00 is 6.00 off each of periods 1 to 3 (24.00 charged); period 4 at the full 30.00.
    discounted = (("period", 3000), ("discount", -600))
    assert [table(i) for i in sub.invoices] == [
        ("INV-000001", f"{sub_id}-p1", "paid", discounted, (3000, 600, 2400, 2400, 2400)),
        ("INV-000002", f"{sub_id}-p2", "paid", discounted, (3000, 600, 2400, 2400, 2400)),
        ("INV-000003", f"{sub_id}-p3", "paid", discounted, (3000, 600, 2400, 2400, 2400)),
        ("INV-000004", f"{sub_id}-p4", "paid", (("period", 3000),), (3000, 0, 3000, 3000, 3000)),
    ]
    assert sub.invoices[0].lines[1].description == "Coupon SPRING20 (20% off for 3 periods)"
    charged = [(await billing.get_order(f"{sub_id}-p{n}")).amount for n in range(1, 5)]
    assert charged == [usd("24.00"), usd("24.00"), usd("24.00"), usd("30.00")]
    assert [r.amount for r in sub.periods] == charged
    coupon = await billing.get_coupon("spring20")
    assert list(coupon.redemptions) == [sub_id], "the client's and the workflow's redemption are one"


async def test_a_coupon_applied_later_covers_the_next_period_not_billed(engine: Engine) -> None:
    billing = engine.stack.billing
    await billing.create_coupon(Coupon(code="FIVE", amount_off=usd("5.00"), duration=CouponDuration.ONCE))
    created = await engine.create(start("sub-cpn-late", plan=priced("basic", "30.00")))
    await engine.customer(await engine.invoice("sub-cpn-late", 1), "pay")
    await engine.until("sub-cpn-late", lambda s: s.status is SubscriptionStatus.ACTIVE)
    applied = await billing.apply_coupon("sub-cpn-late", "five")
    assert applied.coupon is not None and applied.coupon.first_period == 2
    again = await billing.apply_coupon("sub-cpn-late", "FIVE")
    assert again.coupon == applied.coupon, "applying the same coupon again changes nothing"
    assert created.calendar is not None
    for number in (2, 3):
        await engine.skip_to(created.calendar.period_start(number))
        await engine.customer(await engine.invoice("sub-cpn-late", number), "pay")
        await engine.until("sub-cpn-late", lambda s, n=number: s.current_period == n)
    sub = await engine.until("sub-cpn-late", lambda s: s.invoices[-1].state is InvoiceState.PAID)
    assert [table(i)[2:] for i in sub.invoices] == [
        ("paid", (("period", 3000),), (3000, 0, 3000, 3000, 3000)),
        ("paid", (("period", 3000), ("discount", -500)), (3000, 500, 2500, 2500, 2500)),
        ("paid", (("period", 3000),), (3000, 0, 3000, 3000, 3000)),
    ]
    assert (await billing.get_coupon("FIVE")).redeemed == 1

    with pytest.raises(errors.InvalidStateError) as info:
        await billing.apply_coupon("sub-cpn-late", "OTHER")
    assert info.value.field == "coupon"


async def test_refusals_name_their_field_and_start_nothing(engine: Engine) -> None:
    billing = engine.stack.billing
    now = await engine.env.get_current_time()
    await billing.create_coupon(
        Coupon(code="PROONLY", percent_off_bp=1000, duration=CouponDuration.FOREVER, plans=("pro",))
    )
    await billing.create_coupon(
        Coupon(code="GONE", percent_off_bp=1000, duration=CouponDuration.ONCE, redeem_by=now - timedelta(days=1))
    )
    with pytest.raises(errors.InputError) as info:
        await engine.create(start("sub-cpn-plan", plan=priced("basic", "30.00"), coupon="PROONLY"))
    assert info.value.field == "coupon.plan_id"
    with pytest.raises(errors.InvalidStateError) as expired:
        await engine.create(start("sub-cpn-gone", coupon="GONE"))
    assert expired.value.field == "coupon.redeem_by"
    with pytest.raises(errors.NotFoundError) as missing:
        await engine.create(start("sub-cpn-none", coupon="NOSUCH"))
    assert missing.value.field == "coupon"
    for never in ("sub-cpn-plan", "sub-cpn-gone", "sub-cpn-none"):
        with pytest.raises(errors.NotFoundError):
            await billing.get_subscription(never)
    with pytest.raises(errors.ConflictError) as conflict:
        await billing.create_coupon(Coupon(code="GONE", percent_off_bp=2000, duration=CouponDuration.ONCE))
    assert conflict.value.field == "code"
    with pytest.raises(errors.InputError) as managed:
        start("sub-cpn-waffo", billing_mode=None, coupon="PROONLY")
    assert managed.value.field == "coupon"


async def test_fifty_concurrent_redemptions_of_a_coupon_limited_to_ten(engine: Engine) -> None:
    billing = engine.stack.billing
    await billing.create_coupon(
        Coupon(code="TEN", percent_off_bp=5000, duration=CouponDuration.ONCE, max_redemptions=10)
    )
    results = await asyncio.gather(
        *(billing.redeem_coupon("TEN", RedeemCoupon(target=f"order-{n}")) for n in range(50)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 10
    assert all(isinstance(r, errors.InvalidStateError) and r.field == "max_redemptions" for r in refused), refused
    assert sorted(r.sequence for r in won) == list(range(1, 11))
    state = await billing.get_coupon("TEN")
    assert state.redeemed == 10 and set(state.redemptions) == {r.target for r in won}

    # The same target twice (and concurrently): one redemption, the same answer.
    await billing.create_coupon(Coupon(code="TWICE", percent_off_bp=5000, duration=CouponDuration.ONCE))
    same = await asyncio.gather(*(billing.redeem_coupon("TWICE", RedeemCoupon(target="sub-x")) for _ in range(5)))
    assert len(set(same)) == 1
    assert (await billing.get_coupon("TWICE")).redeemed == 1


async def test_an_upgrade_in_a_covered_period_is_prorated_on_discounted_prices(engine: Engine) -> None:
    billing = engine.stack.billing
    await billing.create_coupon(Coupon(code="LOYAL", percent_off_bp=2000, duration=CouponDuration.FOREVER))
    wallet = "252611111141"
    await set_wallet(engine, wallet, ["approve"] * 3)
    now = await engine.env.get_current_time()
    # April has 30 days: April 16 00:00 is exactly half-way through period 1.
    anchor = datetime(now.year + 1, 4, 1, tzinfo=UTC)
    sub_id = "sub-cpn-upg"
    created = await engine.create(
        start(
            sub_id,
            provider="waafipay",
            billing_mode=None,
            plan=priced("basic", "30.00"),
            customer=Customer(customer_id="cust-cpn", phone=wallet),
            billing_anchor=anchor,
            coupon="LOYAL",
        )
    )
    engine.orders += [f"{sub_id}-p1", f"{sub_id}-c1", f"{sub_id}-p2"]
    await engine.skip_to(anchor)
    await engine.until(sub_id, lambda s: s.current_period == 1 and s.status is SubscriptionStatus.ACTIVE)
    await engine.skip_to(anchor + timedelta(days=15))
    # By hand: 24.00 paid for April (30.00 less 20 %); half of it unused: credit -12.00; half of pro's 60.00
    # less 20 % (48.00): charge 24.00; net 12.00 (without the coupon it would be 15.00).
    preview = await billing.preview_change(sub_id, priced("pro", "60.00"))
    assert (preview.credit, preview.charge, preview.net) == (usd("-12.00"), usd("24.00"), usd("12.00"))
    changed = await billing.change_plan(sub_id, priced("pro", "60.00"))
    assert changed.adjustments[0].amount == preview.net, "the change charges what the preview showed"
    await engine.until(sub_id, lambda s: s.adjustments[0].status is PeriodStatus.PAID)
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(2))
    sub = await engine.until(sub_id, lambda s: s.current_period == 2 and s.invoices[-1].state is InvoiceState.PAID)
    assert [table(i)[1:] for i in sub.invoices] == [
        (f"{sub_id}-p1", "paid", (("period", 3000), ("discount", -600)), (3000, 600, 2400, 2400, 2400)),
        (
            f"{sub_id}-c1",
            "paid",
            (("proration_credit", -1200), ("proration_charge", 2400)),
            (1200, 0, 1200, 1200, 1200),
        ),
        (f"{sub_id}-p2", "paid", (("period", 6000), ("discount", -1200)), (6000, 1200, 4800, 4800, 4800)),
    ]
    assert [line.description for line in sub.invoices[1].lines] == [
        "Unused time on Basic, less coupon LOYAL",
        "Remaining time on Pro, less coupon LOYAL",
    ]
    assert preview.invoice is not None, "the preview shows the invoice the change creates"
    assert [(line.kind, line.description, line.amount) for line in preview.invoice.lines] == [
        (line.kind, line.description, line.amount) for line in sub.invoices[1].lines
    ]
    assert (preview.invoice.invoice_id, preview.invoice.total) == (f"{sub_id}-c1", 1200)


async def test_the_customer_balance_pays_what_the_coupon_leaves(engine: Engine) -> None:
    billing = engine.stack.billing
    await billing.create_coupon(Coupon(code="HALF", percent_off_bp=5000, duration=CouponDuration.ONCE))
    await billing.credit_balance(
        "cust-cpn-bal", usd("10.00"), reason="goodwill", reference="goodwill-1", merchant=billing.invoice_merchant
    )
    customer = Customer(customer_id="cust-cpn-bal", email="b@example.com")
    sub_id = "sub-cpn-bal"
    created = await engine.create(start(sub_id, plan=priced("basic", "30.00"), customer=customer, coupon="HALF"))
    order_id = await engine.invoice(sub_id, 1)
    # By hand: 30.00 less 50 % is 15.00; the balance pays 10.00 of it; 5.00 is collected.
    assert (await billing.get_order(order_id)).amount == usd("5.00")
    await engine.customer(order_id, "pay")
    await engine.until(sub_id, lambda s: s.period_record(1).status is PeriodStatus.PAID)
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(2))
    await engine.customer(await engine.invoice(sub_id, 2), "pay")
    sub = await engine.until(sub_id, lambda s: s.current_period == 2 and s.invoices[-1].state is InvoiceState.PAID)
    assert [table(i)[2:] for i in sub.invoices] == [
        ("paid", (("period", 3000), ("discount", -1500), ("credit_applied", -1000)), (3000, 1500, 1500, 500, 500)),
        ("paid", (("period", 3000),), (3000, 0, 3000, 3000, 3000)),
    ]
    assert (await billing.get_balance("cust-cpn-bal", currency="USD", merchant=billing.invoice_merchant)).balances == [
        usd("0.00")
    ]
