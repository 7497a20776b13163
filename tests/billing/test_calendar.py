"""The billing calendar: hand-computed dates, then properties (no drift, contiguity, lookups, fixed terms)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.calendar import BillingCalendar, Period, add_interval, days_in_month
from billing.errors import InputError
from billing.gateway import BillingInterval

DAY = BillingInterval.DAY
WEEK = BillingInterval.WEEK
MONTH = BillingInterval.MONTH
YEAR = BillingInterval.YEAR


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# -- hand-computed dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "starts"),
    [
        pytest.param(
            BillingCalendar(anchor=utc(2024, 1, 31, 9, 30), interval=MONTH),
            [
                utc(2024, 1, 31, 9, 30),
                utc(2024, 2, 29, 9, 30),  # leap year
                utc(2024, 3, 31, 9, 30),  # back to the 31st: no drift
                utc(2024, 4, 30, 9, 30),
                utc(2024, 5, 31, 9, 30),
                utc(2024, 6, 30, 9, 30),
                utc(2024, 7, 31, 9, 30),
                utc(2024, 8, 31, 9, 30),
                utc(2024, 9, 30, 9, 30),
                utc(2024, 10, 31, 9, 30),
                utc(2024, 11, 30, 9, 30),
                utc(2024, 12, 31, 9, 30),
                utc(2025, 1, 31, 9, 30),
                utc(2025, 2, 28, 9, 30),  # not a leap year
                utc(2025, 3, 31, 9, 30),
                utc(2025, 4, 30, 9, 30),
            ],
            id="jan31-monthly-leap-then-common-year",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2023, 1, 31), interval=MONTH),
            [utc(2023, 1, 31), utc(2023, 2, 28), utc(2023, 3, 31), utc(2023, 4, 30)],
            id="jan31-monthly-common-year",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2024, 3, 31, 23, 59, 59, 999999), interval=MONTH),
            [
                utc(2024, 3, 31, 23, 59, 59, 999999),
                utc(2024, 4, 30, 23, 59, 59, 999999),
                utc(2024, 5, 31, 23, 59, 59, 999999),
                utc(2024, 6, 30, 23, 59, 59, 999999),
            ],
            id="mar31-monthly-keeps-time-of-day",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2023, 11, 30, 12), interval=MONTH, interval_count=3),
            [
                utc(2023, 11, 30, 12),
                utc(2024, 2, 29, 12),
                utc(2024, 5, 30, 12),
                utc(2024, 8, 30, 12),
                utc(2024, 11, 30, 12),
                utc(2025, 2, 28, 12),
                utc(2025, 5, 30, 12),
            ],
            id="nov30-quarterly",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2024, 2, 29, 8), interval=YEAR),
            [
                utc(2024, 2, 29, 8),
                utc(2025, 2, 28, 8),
                utc(2026, 2, 28, 8),
                utc(2027, 2, 28, 8),
                utc(2028, 2, 29, 8),
                utc(2029, 2, 28, 8),
            ],
            id="feb29-yearly",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2096, 2, 29), interval=YEAR, interval_count=4),
            [utc(2096, 2, 29), utc(2100, 2, 28), utc(2104, 2, 29)],  # 2100 is not a leap year
            id="feb29-every-4-years-across-2100",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2024, 12, 25, 9, 30), interval=WEEK, interval_count=2),
            [
                utc(2024, 12, 25, 9, 30),
                utc(2025, 1, 8, 9, 30),
                utc(2025, 1, 22, 9, 30),
                utc(2025, 2, 5, 9, 30),
            ],
            id="fortnightly-across-new-year",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2024, 2, 27, 23, 59, 59, 500000), interval=DAY, interval_count=3),
            [
                utc(2024, 2, 27, 23, 59, 59, 500000),
                utc(2024, 3, 1, 23, 59, 59, 500000),
                utc(2024, 3, 4, 23, 59, 59, 500000),
            ],
            id="every-3-days-across-feb29",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2024, 1, 1), interval=DAY),
            [utc(2024, 1, 1), utc(2024, 1, 2), utc(2024, 1, 3)],
            id="daily",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2024, 1, 20, 10), interval=MONTH, trial_end=utc(2024, 2, 3, 10)),
            [utc(2024, 2, 3, 10), utc(2024, 3, 3, 10), utc(2024, 4, 3, 10), utc(2024, 5, 3, 10)],
            id="14-day-trial-then-monthly-from-the-trial-end",
        ),
        pytest.param(
            BillingCalendar(anchor=utc(2024, 1, 17), interval=MONTH, trial_end=utc(2024, 1, 31)),
            [utc(2024, 1, 31), utc(2024, 2, 29), utc(2024, 3, 31)],
            id="trial-ending-on-a-month-end-anchors-the-paid-periods",
        ),
    ],
)
def test_period_starts_match_hand_computed_dates(calendar: BillingCalendar, starts: list[datetime]) -> None:
    for number, start in enumerate(starts, start=1):
        assert calendar.period_start(number) == start, number
        assert calendar.period_start(number).tzinfo is UTC
    for number, (start, end) in enumerate(pairwise(starts), start=1):
        assert calendar.period(number) == Period(number=number, start=start, end=end)


def test_the_trial_is_period_zero_and_ends_where_paid_period_one_starts() -> None:
    calendar = BillingCalendar(anchor=utc(2024, 1, 20, 10), interval=MONTH, trial_end=utc(2024, 2, 3, 10))
    trial = calendar.period(0)
    assert trial == Period(number=0, start=utc(2024, 1, 20, 10), end=utc(2024, 2, 3, 10))
    assert trial.is_trial
    assert trial.duration == timedelta(days=14)
    assert not calendar.period(1).is_trial
    assert calendar.period_at(utc(2024, 1, 25)) == trial
    assert calendar.period_at(utc(2024, 2, 3, 10)) == calendar.period(1)
    assert calendar.next_billing_at(utc(2024, 1, 20, 10)) == utc(2024, 2, 3, 10)
    assert calendar.next_billing_at(utc(2024, 2, 3, 10)) == utc(2024, 3, 3, 10)


def test_period_at_and_next_billing_at_by_hand() -> None:
    calendar = BillingCalendar(anchor=utc(2024, 1, 31, 9, 30), interval=MONTH)
    assert calendar.period_at(utc(2024, 1, 31, 9, 29, 59, 999999)) is None
    assert calendar.period_at(utc(2024, 1, 31, 9, 30)) == calendar.period(1)
    assert calendar.period_at(utc(2024, 2, 29, 9, 29, 59, 999999)) == calendar.period(1)
    assert calendar.period_at(utc(2024, 2, 29, 9, 30)) == calendar.period(2)
    assert calendar.period_at(utc(2024, 3, 1)) == calendar.period(2)
    assert calendar.period_at(utc(2034, 12, 31, 9, 30)) == calendar.period(132)
    assert calendar.next_billing_at(utc(2023, 6, 1)) == utc(2024, 1, 31, 9, 30)
    assert calendar.next_billing_at(utc(2024, 1, 31, 9, 30)) == utc(2024, 2, 29, 9, 30)
    assert calendar.next_billing_at(utc(2024, 3, 31, 9, 29)) == utc(2024, 3, 31, 9, 30)
    # Any offset is fine for an instant: 2024-02-29 18:30 in Tokyo is 09:30 UTC, the start of period 2.
    tokyo = timezone(timedelta(hours=9))
    assert calendar.period_at(datetime(2024, 2, 29, 18, 30, tzinfo=tokyo)) == calendar.period(2)


def test_a_fixed_term_ends_after_its_periods() -> None:
    calendar = BillingCalendar(anchor=utc(2024, 1, 31), interval=MONTH, periods=3)
    assert calendar.ends_at == utc(2024, 4, 30)
    assert calendar.period(3) == Period(number=3, start=utc(2024, 3, 31), end=utc(2024, 4, 30))
    assert [calendar.is_finished(n) for n in (1, 2, 3)] == [False, False, True]
    assert calendar.period_at(utc(2024, 4, 29, 23, 59, 59, 999999)) == calendar.period(3)
    assert calendar.period_at(utc(2024, 4, 30)) is None
    assert calendar.next_billing_at(utc(2024, 3, 1)) == utc(2024, 3, 31)
    assert calendar.next_billing_at(utc(2024, 3, 31)) is None
    with pytest.raises(InputError) as info:
        calendar.period(4)
    assert info.value.field == "n"


def test_an_open_ended_calendar_is_never_finished() -> None:
    calendar = BillingCalendar(anchor=utc(2024, 1, 1), interval=YEAR)
    assert calendar.ends_at is None
    assert not calendar.is_finished(500)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"anchor": datetime(2024, 1, 31)}, "anchor"),  # naive on purpose
        ({"anchor": datetime(2024, 1, 31, tzinfo=timezone(timedelta(hours=9)))}, "anchor"),
        ({"trial_end": datetime(2024, 2, 14)}, "trial_end"),
        ({"trial_end": utc(2024, 1, 31)}, "trial_end"),  # not after the anchor
        ({"trial_end": utc(2024, 1, 30)}, "trial_end"),
    ],
)
def test_calendar_refuses_naive_non_utc_and_misordered_datetimes(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        BillingCalendar.model_validate({"anchor": utc(2024, 1, 31), "interval": MONTH, **kwargs})
    assert info.value.field == field


def test_queries_refuse_naive_instants_and_missing_periods() -> None:
    calendar = BillingCalendar(anchor=utc(2024, 1, 31), interval=MONTH)
    naive = datetime(2024, 3, 1)
    for call, field in ((calendar.period_at, "instant"), (calendar.next_billing_at, "after")):
        with pytest.raises(InputError) as info:
            call(naive)
        assert info.value.field == field
    with pytest.raises(InputError) as info:
        calendar.period(0)  # no trial, so no period 0
    assert info.value.field == "n"
    with pytest.raises(InputError) as info:
        Period(number=1, start=naive, end=utc(2024, 4, 1))
    assert info.value.field == "start"
    with pytest.raises(InputError) as info:
        Period(number=1, start=utc(2024, 4, 1), end=utc(2024, 4, 1))
    assert info.value.field == "end"


def test_add_interval_refuses_bad_arguments() -> None:
    with pytest.raises(InputError) as info:
        add_interval(datetime(2024, 1, 31), MONTH, 1, 1)
    assert info.value.field == "anchor"
    with pytest.raises(InputError) as info:
        add_interval(utc(2024, 1, 31), MONTH, 0, 1)
    assert info.value.field == "interval_count"
    with pytest.raises(InputError) as info:
        add_interval(utc(2024, 1, 31), MONTH, 1, -1)
    assert info.value.field == "n"
    for interval in BillingInterval:
        with pytest.raises(InputError) as info:
            add_interval(utc(2024, 1, 31), interval, 1, 10**7)
        assert info.value.field == "n"


def test_calendar_survives_a_json_round_trip() -> None:
    calendar = BillingCalendar(
        anchor=utc(2024, 1, 31, 9, 30, 1, 5),
        interval=MONTH,
        interval_count=2,
        trial_end=utc(2024, 2, 7),
        periods=6,
    )
    again = BillingCalendar.model_validate_json(calendar.model_dump_json())
    assert again == calendar
    assert again.anchor.tzinfo is UTC
    assert [again.period(n) for n in range(7)] == [calendar.period(n) for n in range(7)]


@pytest.mark.parametrize(
    ("year", "month", "days"),
    [
        (2024, 2, 29),
        (2023, 2, 28),
        (1900, 2, 28),
        (2000, 2, 29),
        (2024, 4, 30),
        (2024, 12, 31),
        (2025, 1, 31),
    ],
)
def test_days_in_month(year: int, month: int, days: int) -> None:
    assert days_in_month(year, month) == days


# -- properties ------------------------------------------------------------------------------------

anchors = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC))


@st.composite
def month_end_anchors(draw: st.DrawFn) -> datetime:
    year = draw(st.integers(min_value=1970, max_value=2200))
    month = draw(st.integers(min_value=1, max_value=12))
    day = draw(st.integers(min_value=28, max_value=days_in_month(year, month)))
    time = draw(st.times())
    return datetime.combine(date(year, month, day), time, tzinfo=UTC)


@st.composite
def calendars(draw: st.DrawFn) -> BillingCalendar:
    anchor = draw(anchors)
    trial = draw(st.none() | st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=90)))
    return BillingCalendar(
        anchor=anchor,
        interval=draw(st.sampled_from(BillingInterval)),
        interval_count=draw(st.integers(min_value=1, max_value=12)),
        trial_end=None if trial is None else anchor + trial,
        periods=draw(st.none() | st.integers(min_value=1, max_value=40)),
    )


def first_number(calendar: BillingCalendar) -> int:
    return 0 if calendar.trial_end is not None else 1


@given(anchor=month_end_anchors(), count=st.sampled_from([1, 1, 1, 2, 3, 6]))
def test_month_ends_never_drift_over_ten_years(anchor: datetime, count: int) -> None:
    calendar = BillingCalendar(anchor=anchor, interval=MONTH, interval_count=count)
    for number in range(1, 121):
        start = calendar.period_start(number)
        month_index = anchor.month - 1 + (number - 1) * count
        year, month = anchor.year + month_index // 12, month_index % 12 + 1
        assert (start.year, start.month) == (year, month)
        assert start.day == min(anchor.day, days_in_month(year, month))
        assert start.timetz() == anchor.timetz()


@given(calendar=calendars())
def test_periods_are_contiguous_and_strictly_increasing(calendar: BillingCalendar) -> None:
    last = 30 if calendar.periods is None else min(calendar.periods, 30)
    previous: Period | None = None
    for number in range(first_number(calendar), last + 1):
        period = calendar.period(number)
        assert period.start < period.end
        if previous is not None:
            assert previous.end == period.start
            assert previous.start < period.start
        previous = period
    if calendar.trial_end is not None:
        assert calendar.period_end(0) == calendar.period_start(1) == calendar.trial_end


@given(
    calendar=calendars(),
    offset=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=40 * 366)),
)
def test_period_at_contains_the_instant(calendar: BillingCalendar, offset: timedelta) -> None:
    instant = calendar.anchor + offset
    period = calendar.period_at(instant)
    if period is None:
        ends_at = calendar.ends_at
        assert instant < calendar.anchor or (ends_at is not None and instant >= ends_at)
        return
    assert period.contains(instant)
    assert period == calendar.period(period.number)
    following = calendar.next_billing_at(instant)
    if calendar.is_finished(period.number):
        assert following is None
    else:
        assert following == period.end
        assert following > instant


@given(calendar=calendars(), periods=st.integers(min_value=1, max_value=40))
def test_fixed_terms_end_after_their_periods(calendar: BillingCalendar, periods: int) -> None:
    calendar = calendar.model_copy(update={"periods": periods})
    ends_at = calendar.ends_at
    assert ends_at == calendar.period_end(periods)
    assert calendar.is_finished(periods)
    assert periods == 1 or not calendar.is_finished(periods - 1)
    assert calendar.period_at(ends_at) is None
    assert calendar.period_at(ends_at + timedelta(days=400)) is None
    last = calendar.period_at(ends_at - timedelta(microseconds=1))
    assert last is not None
    assert last.number == periods
    assert calendar.next_billing_at(calendar.period_start(periods)) is None
    assert calendar.next_billing_at(ends_at) is None
    with pytest.raises(InputError):
        calendar.period(periods + 1)


@given(anchor=anchors, interval=st.sampled_from(BillingInterval), count=st.integers(min_value=1, max_value=24))
def test_add_interval_is_computed_from_the_anchor(anchor: datetime, interval: BillingInterval, count: int) -> None:
    assert add_interval(anchor, interval, count, 0) == anchor
    for n in range(1, 13):
        current = add_interval(anchor, interval, count, n)
        assert current > add_interval(anchor, interval, count, n - 1)
        assert current.timetz() == anchor.timetz()
        if interval in (DAY, WEEK):
            assert current - anchor == timedelta(days=n * count * (7 if interval is WEEK else 1))
