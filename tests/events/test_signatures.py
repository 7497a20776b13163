"""Merchant event signatures (HMAC-SHA256 over timestamp and body) and the merchant-side helper."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import ConfigurationError, InputError
from billing.events import EventLog, MerchantEvent, event_id, sign, verify_signature
from billing.settings import MerchantEventSettings
from starter.events import SignatureError, construct_event

SECRET = "whsec_test_only"
NOW = 1_800_000_000
AT = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def event(sequence: int = 1, event_type: str = "order.paid") -> MerchantEvent:
    return MerchantEvent(
        id=event_id("order", "o-1", sequence),
        type=event_type,
        created=AT,
        object="order",
        object_id="o-1",
        sequence=sequence,
        data={"order_id": "o-1", "status": "PAID", "amount": {"amount_minor": 1000, "currency": "USD"}},
    )


def test_header_is_stripe_style_hmac_over_timestamp_and_body() -> None:
    body = event().body()
    header = sign(body, [SECRET], NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_round_trip_parses_the_event() -> None:
    original = event()
    body = original.body()
    parsed = construct_event(body, sign(body, [SECRET], NOW), SECRET, now=NOW + 10)
    assert parsed == original


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda body, header: (body.replace(b"1000", b"9000"), header), "does not match"),
        (lambda body, header: (body + b" ", header), "does not match"),
        (lambda body, header: (body, None), "missing"),
        (lambda body, header: (body, header.split(",")[1]), "no timestamp"),
        (lambda body, header: (body, header.split(",")[0]), "no v1"),
        (lambda body, header: (body, header.replace(f"t={NOW}", f"t={NOW + 1}")), "does not match"),
        (lambda body, header: (body, "t=abc,v1=00"), "not an integer"),
    ],
)
def test_tampering_is_rejected_naming_the_header(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    body = event().body()
    bad_body, bad_header = mutate(body, sign(body, [SECRET], NOW))
    with pytest.raises(SignatureError, match=reason) as info:
        construct_event(bad_body, bad_header, SECRET, now=NOW)
    assert info.value.field == "Billing-Signature"


def test_wrong_secret_is_rejected() -> None:
    body = event().body()
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(body, sign(body, ["another"], NOW), SECRET, now=NOW)


def test_replay_outside_the_tolerance_is_rejected_even_with_a_valid_signature() -> None:
    body = event().body()
    header = sign(body, [SECRET], NOW)
    assert verify_signature(body, header, SECRET, now=NOW + 299) == NOW
    with pytest.raises(SignatureError, match="tolerance 300s"):
        verify_signature(body, header, SECRET, now=NOW + 301)
    with pytest.raises(SignatureError, match="tolerance 60s"):
        verify_signature(body, header, SECRET, now=NOW - 61, tolerance=60)


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    body = event().body()
    header = sign(body, ["old-secret", "new-secret"], NOW)
    assert header.count("v1=") == 2
    assert verify_signature(body, header, "old-secret", now=NOW) == NOW
    assert verify_signature(body, header, ["new-secret"], now=NOW) == NOW
    with pytest.raises(SignatureError):
        verify_signature(body, header, ["third"], now=NOW)


def test_a_signed_body_that_is_not_an_event_is_rejected() -> None:
    body = json.dumps({"hello": "world"}).encode()
    with pytest.raises(SignatureError) as info:
        construct_event(body, sign(body, [SECRET], NOW), SECRET, now=NOW)
    assert info.value.field == "body"


def test_no_secret_is_a_caller_error() -> None:
    with pytest.raises(InputError) as info:
        verify_signature(b"{}", "t=1,v1=00", [], now=NOW)
    assert info.value.field == "secrets"
    with pytest.raises(InputError):
        sign(b"{}", [], NOW)


@given(st.binary(max_size=512), st.text(min_size=1, max_size=40), st.integers(min_value=0, max_value=2**40))
def test_any_body_round_trips(body: bytes, secret: str, timestamp: int) -> None:
    assert verify_signature(body, sign(body, [secret], timestamp), secret, now=timestamp) == timestamp


def test_event_ids_are_stable_and_distinct() -> None:
    assert event_id("order", "o-1", 1) == event_id("order", "o-1", 1)
    ids = {event_id(kind, obj, seq) for kind in ("order", "subscription") for obj in ("a", "b") for seq in (1, 2)}
    assert len(ids) == 8
    assert all(value.startswith("evt_") and len(value) == 36 for value in ids)


def test_event_log_announces_each_change_once_in_sequence() -> None:
    log = EventLog(kind="order", object_id="o-1")
    log.start("status", "CREATED")
    assert not log.announce("status", "CREATED", "order.created", dict, AT)
    assert log.announce("status", "PENDING", "order.pending", lambda: {"n": 1}, AT)
    assert not log.announce("status", "PENDING", "order.pending", lambda: {"n": 2}, AT)
    assert log.announce("status", "PAID", "order.paid", lambda: {"n": 3}, AT)
    queued = [(e.type, e.sequence, e.data) for e in log.outbox]
    assert queued == [("order.pending", 1, {"n": 1}), ("order.paid", 2, {"n": 3})]
    assert log.outbox[1].id == event_id("order", "o-1", 2)
    # The log survives serialization (continue-as-new carries it).
    assert EventLog.model_validate_json(log.model_dump_json()) == log


def test_settings_need_a_secret_for_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_EVENTS_URL", "https://shop.example/events")
    with pytest.raises(ConfigurationError, match="BILLING_EVENTS_SECRETS"):
        MerchantEventSettings()
    monkeypatch.setenv("BILLING_EVENTS_SECRETS", " s1 , s2 ")
    settings = MerchantEventSettings()
    assert settings.enabled()
    assert settings.secret_list() == ["s1", "s2"]
    assert "s1" not in repr(settings)
    monkeypatch.setenv("BILLING_EVENTS_URL", "ftp://shop.example/events")
    with pytest.raises(ConfigurationError, match="BILLING_EVENTS_URL"):
        MerchantEventSettings()
    monkeypatch.delenv("BILLING_EVENTS_URL")
    assert not MerchantEventSettings().enabled()
