"""Coupons: pure rules, exact, integer minor units. No I/O, no clock, no Temporal.

A :class:`Coupon` takes a percentage (in basis points: 1250 is 12.5 %) or a fixed amount off each invoice it
covers, for a :class:`CouponDuration`: ``once`` (one period), ``repeating`` (``periods`` periods) or
``forever``. It may expire (``redeem_by``: no redemption at or after that instant; redemptions made before
keep running), be limited to ``max_redemptions`` targets and to some plans (``plans``; empty is every plan).

Redemptions (:func:`redeem`) are idempotent per target (a subscription id or an order id): the same target
asking again gets its first redemption back, even after the coupon expired or ran out. A new target is
refused after expiry (``redeem_by``), over the limit (``max_redemptions``), for a plan not allowed
(``plan_id``) or in another currency than an amount-off coupon's (``currency``). The coupon's workflow
(``workflows/coupons.py``) holds the state and applies these rules one redemption at a time.

Rounding rule (:func:`discount`): a percentage off is ``price × basis_points / 10000``, computed exactly and
rounded once to the currency's minor unit, half to even (the rule of every invoice line,
:func:`billing.proration.round_half_even`); an amount off is taken whole. A discount never exceeds the
price it applies to, so an invoice total is never negative.

Which periods a redemption covers (:func:`covers`): counted from the first period billed after it was
applied (``AppliedCoupon.first_period``): ``once`` that period, ``repeating`` N that one and the N-1 after
it, ``forever`` every one. A period whose plan the coupon does not allow gets no discount (a plan change
to a plan outside ``plans`` ends the discount while on that plan; the periods still count).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from billing.errors import ConflictError, CurrencyMismatchError, InputError, InvalidAmountError, InvalidStateError
from billing.money import Money
from billing.proration import round_half_even

__all__ = [
    "AppliedCoupon",
    "Coupon",
    "CouponDuration",
    "CouponState",
    "RedeemCoupon",
    "Redemption",
    "coupon_workflow_id",
    "covers",
    "discount",
    "parse_percent",
    "period_discount",
    "redeem",
]

#: 100 % in basis points.
FULL = 10_000
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,63}$")
#: Continue the coupon's workflow as new once its history passes this many events.
COUPON_HISTORY_LIMIT = 4000


def coupon_workflow_id(merchant: str, code: str) -> str:
    """The one ``CouponWorkflow`` of a merchant's coupon code (codes are case-insensitive)."""
    return f"coupon:{merchant}:{code.strip().upper()}"


def normalize_code(code: str | None) -> str | None:
    """A coupon code as stored (codes are case-insensitive): ``" spring20"`` -> ``"SPRING20"``."""
    return code.strip().upper() if code is not None else None


def parse_percent(text: str) -> int:
    """``"12.5"`` -> 1250 basis points; at most two decimals, more than 0 and at most 100."""
    try:
        value = Decimal(text.strip().removesuffix("%"))
    except InvalidOperation as exc:
        raise InputError(f"{text!r} is not a number such as 20 or 12.5", field="percent_off") from exc
    if not value.is_finite():
        raise InputError(f"{text!r} is not a number such as 20 or 12.5", field="percent_off")
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        raise InputError(f"{text} has more than two decimals", field="percent_off")
    basis_points = int(scaled)
    if not 0 < basis_points <= FULL:
        raise InputError(f"must be more than 0 and at most 100, got {text}", field="percent_off")
    return basis_points


class CouponDuration(StrEnum):
    ONCE = "once"
    REPEATING = "repeating"
    FOREVER = "forever"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Coupon(_Frozen):
    """A coupon's definition. Exactly one of ``percent_off_bp`` and ``amount_off``."""

    code: str
    #: Percent off in basis points (1 to 10000: 0.01 % to 100 %).
    percent_off_bp: int | None = None
    #: A fixed amount off each covered invoice, in that currency only.
    amount_off: Money | None = None
    duration: CouponDuration
    #: ``repeating`` only: how many periods it covers.
    periods: int | None = None
    #: No new redemption at or after this instant.
    redeem_by: datetime | None = None
    #: At most this many targets redeem it.
    max_redemptions: int | None = None
    #: The plans it may be used with; empty: every plan.
    plans: tuple[str, ...] = ()

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: object) -> str:
        if not isinstance(value, str) or not _CODE.match(value.strip().upper()):
            raise InputError("1 to 64 letters, digits, '-' or '_', starting with a letter or digit", field="code")
        return value.strip().upper()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.percent_off_bp is None) == (self.amount_off is None):
            raise InputError("give either a percent off or an amount off, not both or neither", field="percent_off")
        if self.percent_off_bp is not None and not 0 < self.percent_off_bp <= FULL:
            raise InputError(
                f"must be 1 to {FULL} basis points (0.01 % to 100 %), got {self.percent_off_bp}", field="percent_off"
            )
        if self.amount_off is not None and not self.amount_off.is_positive():
            raise InvalidAmountError("must be greater than zero", field="amount_off")
        if self.duration is CouponDuration.REPEATING:
            if self.periods is None or self.periods < 1:
                raise InputError("a repeating coupon needs a number of periods of at least 1", field="periods")
        elif self.periods is not None:
            raise InputError(f"only a repeating coupon has periods; this one is {self.duration.value}", field="periods")
        if self.redeem_by is not None and self.redeem_by.tzinfo is None:
            raise InputError("must include a time zone", field="redeem_by")
        if self.max_redemptions is not None and self.max_redemptions < 1:
            raise InputError("must be at least 1", field="max_redemptions")
        for plan in self.plans:
            if not plan or len(plan) > 64:
                raise InputError("each plan id is 1 to 64 characters", field="plans")
        return self

    def describe(self) -> str:
        """``20% off for 3 periods``, ``5.00 USD off once``."""
        if self.percent_off_bp is not None:
            whole, hundredths = divmod(self.percent_off_bp, 100)
            off = (f"{whole}.{hundredths:02d}".rstrip("0") if hundredths else str(whole)) + "% off"
        else:
            off = f"{self.amount_off} off"
        if self.duration is CouponDuration.ONCE:
            return f"{off} once"
        if self.duration is CouponDuration.REPEATING:
            return f"{off} for {self.periods} period" + ("s" if self.periods != 1 else "")
        return f"{off} forever"


def discount(coupon: Coupon, price: Money) -> Money:
    """What ``coupon`` takes off ``price`` (>= 0, <= price); see the rounding rule above."""
    if price.is_negative():
        raise InvalidAmountError("must not be negative", field="price")
    if coupon.percent_off_bp is not None:
        amount = round_half_even(Fraction(price.amount_minor * coupon.percent_off_bp, FULL))
        return Money(amount_minor=amount, currency=price.currency)
    assert coupon.amount_off is not None
    if coupon.amount_off.currency != price.currency:
        raise CurrencyMismatchError(
            f"the coupon takes {coupon.amount_off} off; the price is in {price.currency}", field="currency"
        )
    return coupon.amount_off.min(price)


def covers(coupon: Coupon, first_period: int, number: int) -> bool:
    """Whether a redemption applied from period ``first_period`` covers period ``number``."""
    if number < first_period:
        return False
    if coupon.duration is CouponDuration.ONCE:
        return number == first_period
    if coupon.duration is CouponDuration.REPEATING:
        assert coupon.periods is not None
        return number < first_period + coupon.periods
    return True


class RedeemCoupon(_Frozen):
    """A redemption asked for ``target`` (a subscription or an order id) on ``plan_id`` in ``currency``."""

    target: str = Field(min_length=1, max_length=128)
    #: The plan it is used with (subscriptions); None for an order.
    plan_id: str | None = Field(default=None, max_length=64)
    #: The currency of what it discounts; an amount-off coupon only applies in its own.
    currency: str | None = None


class Redemption(_Frozen):
    """One target's redemption: the coupon as it was defined then, and when."""

    coupon: Coupon
    target: str
    #: 1 for the first target that redeemed the coupon, and so on.
    sequence: int = Field(ge=1)
    redeemed_at: datetime


class CouponState(BaseModel):
    """What the coupon's workflow holds: the definition and every redemption, by target."""

    coupon: Coupon
    redemptions: dict[str, Redemption] = Field(default_factory=dict)
    #: The workflow continues as new once its history passes this many events.
    history_limit: int = Field(default=COUPON_HISTORY_LIMIT, ge=10)

    @property
    def redeemed(self) -> int:
        return len(self.redemptions)


def check_redeemable(state: CouponState, request: RedeemCoupon, at: datetime) -> Redemption | None:
    """The target's earlier redemption (idempotent), None if a new one may be made; InputError naming the
    field otherwise."""
    known = state.redemptions.get(request.target)
    if known is not None:
        return known
    coupon = state.coupon
    if coupon.redeem_by is not None and at >= coupon.redeem_by:
        raise InvalidStateError(f"coupon {coupon.code} expired at {coupon.redeem_by.isoformat()}", field="redeem_by")
    if coupon.max_redemptions is not None and state.redeemed >= coupon.max_redemptions:
        raise InvalidStateError(
            f"coupon {coupon.code} was redeemed {state.redeemed} times, its limit", field="max_redemptions"
        )
    if coupon.plans and request.plan_id not in coupon.plans:
        other = f"not {request.plan_id}" if request.plan_id is not None else "not one-time orders"
        raise InputError(f"coupon {coupon.code} is for plans {', '.join(coupon.plans)}, {other}", field="plan_id")
    if (
        coupon.amount_off is not None
        and request.currency is not None
        and request.currency != coupon.amount_off.currency
    ):
        raise CurrencyMismatchError(
            f"coupon {coupon.code} takes {coupon.amount_off} off; it cannot discount {request.currency}",
            field="currency",
        )
    return None


def redeem(state: CouponState, request: RedeemCoupon, at: datetime) -> Redemption:
    """Redeem for ``request.target`` (recorded in ``state``), or its earlier redemption; see the module."""
    known = check_redeemable(state, request, at)
    if known is not None:
        return known
    redemption = Redemption(coupon=state.coupon, target=request.target, sequence=state.redeemed + 1, redeemed_at=at)
    state.redemptions[request.target] = redemption
    return redemption


def same_definition(existing: Coupon, asked: Coupon) -> None:
    """Creating a coupon again with the same code: the same definition is the same coupon; another is a
    ConflictError naming ``code``."""
    if existing != asked:
        raise ConflictError(f"coupon {asked.code} exists with another definition", field="code")


class AppliedCoupon(_Frozen):
    """A redemption applied to a subscription from period ``first_period`` on."""

    redemption: Redemption
    first_period: int = Field(ge=1)

    @property
    def coupon(self) -> Coupon:
        return self.redemption.coupon

    def last_period(self) -> int | None:
        """The last period covered; None: forever."""
        coupon = self.coupon
        if coupon.duration is CouponDuration.ONCE:
            return self.first_period
        if coupon.duration is CouponDuration.REPEATING:
            assert coupon.periods is not None
            return self.first_period + coupon.periods - 1
        return None


def period_discount(applied: AppliedCoupon | None, plan_id: str, price: Money, number: int) -> Money:
    """The discount on period ``number`` billed at ``price`` on ``plan_id`` (zero when not covered)."""
    none = Money.zero(price.currency)
    if applied is None or not covers(applied.coupon, applied.first_period, number):
        return none
    if applied.coupon.plans and plan_id not in applied.coupon.plans:
        return none
    if applied.coupon.amount_off is not None and applied.coupon.amount_off.currency != price.currency:
        return none
    return discount(applied.coupon, price)
