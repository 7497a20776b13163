"""providers.answers.require_same_object: the one check every client makes on an answer's identifiers."""

from __future__ import annotations

import logging

import pytest

from billing.errors import AnswerMismatchError, OutcomeUnknownError
from billing.money import Money
from providers.answers import require_same_object


def check(asked: dict[str, object], answered: dict[str, object], required: tuple[str, ...] = ()) -> None:
    require_same_object(provider="p", operation="op", asked=asked, answered=answered, required=required)  # type: ignore[arg-type]


def test_same_ids_and_absent_ones_pass() -> None:
    check({"id": "a", "ref": None, "amount": Money.parse("1.00", "USD")}, {"id": " a ", "ref": "x"})
    check({"id": "a"}, {})  # absent in the answer: nothing to compare


def test_a_different_id_is_an_unknown_outcome_logged_with_both(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="providers.answers"), pytest.raises(AnswerMismatchError) as caught:
        check({"id": "ours"}, {"id": "theirs"})
    assert isinstance(caught.value, OutcomeUnknownError)
    assert (caught.value.field, caught.value.asked, caught.value.answered) == ("id", "ours", "theirs")
    assert "ours" in caplog.text and "theirs" in caplog.text


def test_another_amount_or_currency_is_a_mismatch() -> None:
    with pytest.raises(AnswerMismatchError):
        check({"amount": Money.parse("1.00", "USD")}, {"amount": Money.parse("1.01", "USD")})
    with pytest.raises(AnswerMismatchError):
        check({"amount": Money.parse("1.00", "USD")}, {"amount": Money.parse("1.00", "EUR")})


def test_a_required_id_the_answer_does_not_name_is_a_mismatch() -> None:
    with pytest.raises(AnswerMismatchError, match="absent"):
        check({"refund": "r1"}, {}, required=("refund",))
