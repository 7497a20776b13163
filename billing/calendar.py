"""The billing calendar: when each period of a subscription starts and ends. Pure and deterministic.

Every boundary is computed from the original anchor, never chained from the previous period: the start
of paid period ``n`` is ``anchor + (n - 1) × interval_count × interval``. Month and year steps clamp the
day to the length of the target month and keep the anchor's time of day, so month ends never drift::

    anchor 2024-01-31 monthly -> 02-29 -> 03-31 -> 04-30 -> 05-31 -> ... -> 2025-02-28 -> 03-31
    anchor 2024-02-29 yearly  -> 2025-02-28 -> 2026-02-28 -> 2027-02-28 -> 2028-02-29

Chaining (``previous + 1 month``) would turn Jan 31 into Feb 28 and then every later period into the 28th.

Periods are numbered from 1. With a trial, period 0 is the trial (``anchor`` to ``trial_end``) and paid
period 1 starts at ``trial_end``, which becomes the anchor of every paid period. A period ends exactly
where the next one starts, so the periods tile time with no gap and no overlap; a period contains its
start and excludes its end.

All datetimes are timezone-aware UTC and naive ones are refused. Calendar arithmetic happens on the UTC
wall clock, so an anchor or trial end must already be in UTC (zero offset): a merchant's local billing
time is converted to a UTC instant before it gets here. Instants that are only compared (``period_at``,
``next_billing_at``) may carry any offset and are converted. No ``zoneinfo``, no ``dateutil``: this
module runs unchanged inside the Temporal workflow sandbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from billing.errors import InputError
from billing.gateway import BillingInterval

__all__ = [
    "BillingCalendar",
    "Period",
    "add_interval",
    "as_utc",
    "days_in_month",
    "require_utc",
]


def days_in_month(year: int, month: int) -> int:
    """The number of days of ``month`` (1-12) in ``year`` of the proleptic Gregorian calendar."""
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def require_utc(value: datetime, field: str) -> datetime:
    """``value`` with ``UTC``; refuses naive datetimes and non-zero UTC offsets.

    For datetimes the calendar does arithmetic on (anchors), where the wall clock matters.
    """
    offset = value.utcoffset()
    if offset is None:
        raise InputError("must be timezone-aware UTC, got a naive datetime", field=field)
    if offset != timedelta(0):
        raise InputError(
            f"must be in UTC, got offset {offset}; convert the local time to a UTC instant first",
            field=field,
        )
    return value.replace(tzinfo=UTC)


def as_utc(value: datetime, field: str) -> datetime:
    """``value`` converted to ``UTC``; refuses naive datetimes. For instants that are compared."""
    if value.utcoffset() is None:
        raise InputError("must be timezone-aware UTC, got a naive datetime", field=field)
    return value.astimezone(UTC)


def add_interval(anchor: datetime, interval: BillingInterval, count: int, n: int) -> datetime:
    """``anchor`` advanced by ``n × count`` intervals, computed in one step from the anchor.

    Day and week steps are exact durations. Month and year steps move the calendar month (or year) and
    clamp the day to the target month's length, keeping the time of day and the time zone: Jan 31 plus
    one month is Feb 28 (Feb 29 in a leap year), plus two months Mar 31. Refuses naive anchors,
    ``count < 1``, ``n < 0`` and results beyond year 9999.
    """
    if anchor.utcoffset() is None:
        raise InputError("must be timezone-aware UTC, got a naive datetime", field="anchor")
    if count < 1:
        raise InputError(f"must be at least 1, got {count}", field="interval_count")
    if n < 0:
        raise InputError(f"must not be negative, got {n}", field="n")
    steps = n * count
    try:
        if interval is BillingInterval.DAY:
            return anchor + timedelta(days=steps)
        if interval is BillingInterval.WEEK:
            return anchor + timedelta(weeks=steps)
        if interval is BillingInterval.MONTH:
            month_index = anchor.month - 1 + steps
            year = anchor.year + month_index // 12
            month = month_index % 12 + 1
        elif interval is BillingInterval.YEAR:
            year = anchor.year + steps
            month = anchor.month
        else:  # pragma: no cover - BillingInterval is closed
            raise InputError(f"unknown billing interval {interval!r}", field="interval")
        return anchor.replace(year=year, month=month, day=min(anchor.day, days_in_month(year, month)))
    except (OverflowError, ValueError) as exc:
        raise InputError(f"{n} × {count} {interval} from {anchor} is beyond year 9999", field="n") from exc


class Period(BaseModel):
    """One billing period: ``start <= instant < end``. Number 0 is a trial; paid periods count from 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=0)
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime, info: ValidationInfo) -> datetime:
        return as_utc(value, info.field_name or "period")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise InputError(f"must be after start {self.start}, got {self.end}", field="end")
        return self

    @property
    def is_trial(self) -> bool:
        return self.number == 0

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, instant: datetime) -> bool:
        """Whether ``start <= instant < end``."""
        return self.start <= as_utc(instant, "instant") < self.end


class BillingCalendar(BaseModel):
    """The periods of one subscription.

    ``anchor`` is when the subscription starts. ``trial_end``, when set, ends the trial (period 0) and
    anchors the paid periods. ``periods`` is the number of paid periods of a fixed term; None is
    open-ended. The calendar holds no state: the same question always gets the same answer.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    anchor: datetime
    interval: BillingInterval
    interval_count: int = Field(default=1, ge=1)
    trial_end: datetime | None = None
    periods: int | None = Field(default=None, ge=1)

    @field_validator("anchor")
    @classmethod
    def _anchor_utc(cls, value: datetime) -> datetime:
        return require_utc(value, "anchor")

    @field_validator("trial_end")
    @classmethod
    def _trial_end_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else require_utc(value, "trial_end")

    @model_validator(mode="after")
    def _trial_after_anchor(self) -> Self:
        if self.trial_end is not None and self.trial_end <= self.anchor:
            raise InputError(f"must be after the anchor {self.anchor}, got {self.trial_end}", field="trial_end")
        return self

    # -- boundaries -------------------------------------------------------------------------------

    @property
    def paid_anchor(self) -> datetime:
        """The start of paid period 1: the trial end when there is a trial, else the anchor."""
        return self.anchor if self.trial_end is None else self.trial_end

    @property
    def ends_at(self) -> datetime | None:
        """The end of the last paid period of a fixed term; None when open-ended."""
        return None if self.periods is None else self._boundary(self.periods)

    def _boundary(self, k: int) -> datetime:
        """The start of paid period ``k + 1`` (``k`` full paid periods after the paid anchor)."""
        return add_interval(self.paid_anchor, self.interval, self.interval_count, k)

    def _check_number(self, n: int) -> None:
        lowest = 0 if self.trial_end is not None else 1
        if n < lowest:
            what = "0 (the trial)" if lowest == 0 else "1"
            raise InputError(f"periods are numbered from {what}, got {n}", field="n")
        if self.periods is not None and n > self.periods:
            raise InputError(f"the term has {self.periods} periods, got period {n}", field="n")

    def period_start(self, n: int) -> datetime:
        """The start of period ``n``: the anchor for the trial (0), else ``paid_anchor + (n-1)`` intervals."""
        self._check_number(n)
        return self.anchor if n == 0 else self._boundary(n - 1)

    def period_end(self, n: int) -> datetime:
        """The end of period ``n``, which is exactly the start of period ``n + 1``."""
        self._check_number(n)
        return self.paid_anchor if n == 0 else self._boundary(n)

    def period(self, n: int) -> Period:
        return Period(number=n, start=self.period_start(n), end=self.period_end(n))

    def is_finished(self, n: int) -> bool:
        """Whether the subscription's term is over once period ``n`` ends (always False if open-ended)."""
        self._check_number(n)
        return self.periods is not None and n >= self.periods

    # -- lookups ----------------------------------------------------------------------------------

    def _paid_index_at(self, instant: datetime) -> int:
        """``k >= 0`` with ``boundary(k) <= instant < boundary(k + 1)``; needs ``instant >= paid_anchor``.

        Estimated in one step from the elapsed time, then corrected by at most a step or two for
        clamping and the time of day.
        """
        start = self.paid_anchor
        count = self.interval_count
        if self.interval is BillingInterval.DAY:
            return (instant - start) // timedelta(days=count)
        if self.interval is BillingInterval.WEEK:
            return (instant - start) // timedelta(weeks=count)
        if self.interval is BillingInterval.MONTH:
            k = ((instant.year - start.year) * 12 + instant.month - start.month) // count
        else:
            k = (instant.year - start.year) // count
        k = max(k, 0)
        while k > 0 and self._boundary(k) > instant:
            k -= 1
        while self._boundary(k + 1) <= instant:
            k += 1
        return k

    def period_at(self, instant: datetime) -> Period | None:
        """The period containing ``instant``; None before the anchor or after the end of a fixed term."""
        at = as_utc(instant, "instant")
        if at < self.anchor:
            return None
        if at < self.paid_anchor:
            return self.period(0)
        number = self._paid_index_at(at) + 1
        if self.periods is not None and number > self.periods:
            return None
        return self.period(number)

    def next_billing_at(self, after: datetime) -> datetime | None:
        """The first paid period start strictly after ``after``; None when the fixed term has no more.

        Billing happens at the start of each paid period, so this is when the workflow next sleeps
        until. Asking again at that instant gives the following period's start.
        """
        at = as_utc(after, "after")
        if at < self.paid_anchor:
            return self.paid_anchor
        number = self._paid_index_at(at) + 2
        if self.periods is not None and number > self.periods:
            return None
        return self._boundary(number - 1)
