"""HPP browser redirects read as hints: the literal ``?hppResultToken=`` append, GET fields, garbage."""

from __future__ import annotations

import pytest

from providers.waafipay import HppCallbackHint, parse_hpp_callback

TOKEN = "4837446776"  # hex, as WaafiPay sends it


@pytest.mark.parametrize(
    "raw",
    [
        f"referenceId=pay_1?hppResultToken={TOKEN}",
        f"?referenceId=pay_1?hppResultToken={TOKEN}",
        f"https://shop.example/hpp/ok?referenceId=pay_1?hppResultToken={TOKEN}",
        f"/hpp/ok?referenceId=pay_1?hppResultToken={TOKEN}",
        f"referenceId=pay_1&hppResultToken={TOKEN}".encode(),
    ],
)
def test_the_literal_token_append_is_read(raw: str | bytes) -> None:
    hint = parse_hpp_callback(raw)
    assert hint.result_token == TOKEN
    assert hint.reference_id == "pay_1"
    assert not hint.is_empty()


def test_a_token_alone() -> None:
    assert parse_hpp_callback(f"https://shop.example/ok?hppResultToken={TOKEN}") == HppCallbackHint(result_token=TOKEN)


def test_get_format_fields_are_hints_too() -> None:
    hint = parse_hpp_callback(
        "state=APPROVED&responseMsg=RCS_SUCCESS&referenceId=pay_1&transactionId=126895&cardNo=411111******1111"
    )
    assert (hint.state, hint.response_msg, hint.reference_id, hint.transaction_id) == (
        "APPROVED",
        "RCS_SUCCESS",
        "pay_1",
        "126895",
    )
    assert hint.result_token is None


def test_our_reference_wins_over_a_later_one() -> None:
    hint = parse_hpp_callback("referenceId=pay_1?referenceId=other")
    assert hint.reference_id == "pay_1"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "https://shop.example/hpp/ok",
        "referenceId=bad%20id&hppResultToken=%3Cscript%3E",
        "nonsense",
        b"\xff\xfe",
    ],
)
def test_unusable_input_gives_an_empty_hint(raw: str | bytes) -> None:
    hint = parse_hpp_callback(raw)
    assert hint.is_empty()
    assert hint.result_token is None
    assert hint.reference_id is None
