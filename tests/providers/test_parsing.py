"""The one reading of provider answers every client shares: timestamps and documented models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from billing.errors import OutcomeUnknownError, ResponseVerificationError
from providers.parsing import parse_answer, parse_time

PHNOM_PENH = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        # Waffo: ISO 8601 with Z or an offset
        ("2026-02-28T10:06:10.000Z", UTC, datetime(2026, 2, 28, 10, 6, 10, tzinfo=UTC)),
        ("2026-02-28T18:06:10+08:00", UTC, datetime(2026, 2, 28, 10, 6, 10, tzinfo=UTC)),
        ("2026-02-28T10:06:10", UTC, datetime(2026, 2, 28, 10, 6, 10, tzinfo=UTC)),
        # WaafiPay: space-separated, trailing zeros of the fraction dropped, UTC
        ("2024-11-05 12:19:05.05", UTC, datetime(2024, 11, 5, 12, 19, 5, 50000, tzinfo=UTC)),
        ("2024-11-05 10:58:50.0", UTC, datetime(2024, 11, 5, 10, 58, 50, tzinfo=UTC)),
        ("2024-11-05 09:04:44.741", UTC, datetime(2024, 11, 5, 9, 4, 44, 741000, tzinfo=UTC)),
        # KESS: wall time in the store's zone, or ISO 8601 with its own offset
        ("2026-01-15 17:00:00", PHNOM_PENH, datetime(2026, 1, 15, 10, tzinfo=UTC)),
        ("2026-01-15T12:00:00+02:00", PHNOM_PENH, datetime(2026, 1, 15, 10, tzinfo=UTC)),
        # absent or unreadable: no time, never a guess
        ("08/02/23 19:15:38", UTC, None),
        ("yesterday", UTC, None),
        ("  ", UTC, None),
        ("", UTC, None),
        (None, UTC, None),
    ],
)
def test_provider_timestamps_read_as_aware_utc(text: str | None, zone: timezone, expected: datetime | None) -> None:
    parsed = parse_time(text, zone)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


class _Documented(BaseModel):
    order_id: str
    amount: int


def test_a_documented_answer_is_read_into_its_model() -> None:
    parsed = parse_answer(_Documented, {"order_id": "o-1", "amount": 100}, provider="kess", operation="inquire")
    assert parsed == _Documented(order_id="o-1", amount=100)


def test_an_undocumented_answer_is_no_answer_naming_model_provider_and_operation() -> None:
    with pytest.raises(ResponseVerificationError) as caught:
        parse_answer(_Documented, {"order_id": "o-1"}, provider="waffo", operation="inquire_payment")
    assert isinstance(caught.value, OutcomeUnknownError)  # reconciled, never concluded
    assert caught.value.provider == "waffo"
    assert caught.value.operation == "inquire_payment"
    assert "_Documented" in str(caught.value)
    assert "response data" in str(caught.value)
