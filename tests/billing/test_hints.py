"""The hint rules (billing.hints): coalesced, budgeted, useful; the same answer for the query and the signal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.hints import HINT_WINDOW, HINTS_PER_HOUR, HINTS_PER_ORDER, HintLedger, HintVerdict

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def judge(ledger: HintLedger, now: datetime, **overrides: object) -> HintVerdict:
    options: dict[str, object] = {"useful": True, "pending": False, "new_token": False}
    options.update(overrides)
    return ledger.judge(now, **options).verdict  # type: ignore[arg-type]


def test_a_hint_is_coalesced_with_an_inquiry_in_flight_queued_or_just_made() -> None:
    ledger = HintLedger()
    assert judge(ledger, T0) is HintVerdict.INQUIRE
    assert judge(ledger, T0, pending=True) is HintVerdict.PENDING
    ledger.inquiry_started()
    assert judge(ledger, T0) is HintVerdict.PENDING
    ledger.inquiry_ended(T0)
    assert judge(ledger, T0 + HINT_WINDOW - timedelta(milliseconds=1)) is HintVerdict.RECENT
    assert judge(ledger, T0 + HINT_WINDOW) is HintVerdict.INQUIRE
    # The query leaves the window out: it reads a clock that may be long past.
    assert ledger.judge(T0, useful=True, pending=False, new_token=False, window=None).acts


def test_a_new_token_is_news_inside_the_window_but_not_beyond_the_budget() -> None:
    ledger = HintLedger()
    ledger.inquiry_started()
    assert judge(ledger, T0, new_token=True) is HintVerdict.NEW_TOKEN
    for _ in range(HINTS_PER_HOUR):
        ledger.acted(T0)
    assert judge(ledger, T0 + timedelta(minutes=59), new_token=True) is HintVerdict.BUDGET


def test_the_hourly_budget_renews_and_the_order_budget_does_not() -> None:
    ledger = HintLedger()
    now = T0
    for _ in range(HINTS_PER_HOUR):
        ledger.acted(now)
    assert judge(ledger, now) is HintVerdict.BUDGET
    assert judge(ledger, now, budgeted=False) is HintVerdict.INQUIRE  # an operator's check_now
    now += timedelta(hours=1)
    assert judge(ledger, now) is HintVerdict.INQUIRE
    while ledger.acted_total < HINTS_PER_ORDER:
        now += timedelta(minutes=10)
        ledger.acted(now)
    assert judge(ledger, now + timedelta(days=1)) is HintVerdict.BUDGET
    assert len(ledger.acted_at) <= HINTS_PER_HOUR


def test_nothing_left_to_learn_settles_every_hint() -> None:
    assert judge(HintLedger(), T0, useful=False, new_token=True) is HintVerdict.SETTLED
