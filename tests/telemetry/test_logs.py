"""Structured logs: JSON lines with trace ids, personal data and secrets redacted on every record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from billing.errors import ConfigurationError
from host.logs import REDACTED, JsonFormatter, LogSettings, RedactingFilter, configure_logging, redact


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("customer buyer.one+tag@example.co.uk paid", "customer", "buyer.one"),
        ("push to +252 61 1234567 failed", "push to", "1234567"),
        ("wallet 252611111150 short of balance", "wallet", "252611111150"),
        ("card 4111 1111 1111 1111 declined", "declined", "4111"),
        ("card 4111-1111-1111-1111 declined", "declined", "1111-1111"),
        ("Authorization: Bearer eyJhbGciOi.abc.def", "Authorization", "eyJhbGciOi"),
        ("retry with api_key=sk_live_123 now", "now", "sk_live_123"),
        ('{"password": "hunter2", "order": "O-1"}', "O-1", "hunter2"),
        ("X-SIGNATURE=MEUCIQ base64", "base64", "MEUCIQ"),
    ],
)
def test_redact(text: str, kept: str, gone: str) -> None:
    out = redact(text)
    assert gone not in out and kept in out and REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "order ORD-1001 PAID at 2026-11-22T05:14:51.943+00:00",
        "Waffo reference A202611220433331564994766 for pay_e427bd93db7b0c9f13a381b55fb7",
        "refund 12.50 USD of 1000 minor units, attempt 3, HTTP 503",
        "workflow order-ORD-1 run 77eb9e91-e33e-44ac-a4ee-208d7d6f227e",
    ],
)
def test_ids_dates_and_amounts_are_kept(text: str) -> None:
    assert redact(text) == text


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.getLogger("billing.test").makeRecord(
        "billing.test", logging.INFO, __file__, 1, message, args, None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_filter_redacts_arguments_extra_fields_and_exceptions() -> None:
    record = _record("paid by %s", "a@b.io", email="a@b.io", order_id="O-9", customer={"phone": "+25261", "id": "C1"})
    try:
        raise ValueError("bad msisdn 252611111150")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    out = json.loads(JsonFormatter("billing-test").format(record))
    assert out["message"] == f"paid by {REDACTED}"
    assert out["email"] == REDACTED and out["order_id"] == "O-9"
    assert out["customer"] == {"phone": REDACTED, "id": "C1"}
    assert "252611111150" not in out["exception"] and "ValueError" in out["exception"]
    assert out["service"] == "billing-test" and out["level"] == "INFO" and out["logger"] == "billing.test"


def test_json_lines_carry_the_current_trace() -> None:
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("work") as span:
        out = json.loads(JsonFormatter("s").format(_record("inside")))
    context = span.get_span_context()
    assert out["trace_id"] == f"{context.trace_id:032x}" and out["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in json.loads(JsonFormatter("s").format(_record("outside")))


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_configure_logging_applies_to_every_logger(
    root_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BILLING_LOG_FORMAT", "json")
    monkeypatch.setenv("BILLING_LOG_LEVEL", "warning")
    configure_logging("billing-worker")
    logging.getLogger("temporalio.activity").warning("activity for %s failed", "x@y.com")
    logging.getLogger("billing.worker").info("not shown at WARNING")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == [f"activity for {REDACTED} failed"]


@pytest.mark.parametrize(("variable", "value"), [("BILLING_LOG_FORMAT", "xml"), ("BILLING_LOG_LEVEL", "LOUD")])
def test_bad_settings_name_the_variable(
    root_logging: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        configure_logging("x")
    assert info.value.setting == variable


def test_text_format_is_the_default(root_logging: None) -> None:
    configure_logging("x", LogSettings())
    handler = logging.getLogger().handlers[0]
    assert not isinstance(handler.formatter, JsonFormatter)
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("billing").warning("card 4111111111111111")
    assert "4111111111111111" not in stream.getvalue() and REDACTED in stream.getvalue()
