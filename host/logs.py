"""Process logging: one JSON object per line (or readable text), personal data and secrets redacted.

``BILLING_LOG_FORMAT`` is ``json`` (for collectors: ``ts``, ``level``, ``logger``, ``message``, the
service, the current trace and span ids when tracing is on, and any ``extra`` fields) or ``text`` (the
default, for a terminal). ``BILLING_LOG_LEVEL`` sets the level (``INFO``).

Redaction runs on every record the process emits, the Temporal SDK's included, before formatting: email
addresses, phone numbers, card-like digit runs, bearer tokens and ``key=value`` pairs whose key names a
secret are replaced by ``[redacted]``, in the message, its arguments and the ``extra`` fields. Ids the
engine logs (order ids, provider references, workflow ids) are kept. It is a safety net: the code does
not log personal data in the first place.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.errors import BillingError, ConfigurationError
from billing.settings import load

REDACTED = "[redacted]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
#: Card numbers and phone numbers: runs of 8-19 digits, optionally with a leading + and spaces or dashes
#: (not dates: 2026-11-22 stays).
_DIGITS = re.compile(r"(?<![\w.:-])(?!\d{4}-\d{2}-\d{2})\+?\d(?:[ -]?\d){7,18}(?![\w.:])")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w-]*(?:secret|password|passwd|api[_-]?key|private[_-]?key|token|signature|authorization)[\w-]*)"
    r"([\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_SENSITIVE_KEY = re.compile(
    r"(?i)(email|phone|msisdn|first_?name|last_?name|card|pan|cvv|secret|password|api_?key|private_?key|token|"
    r"signature|authorization)"
)

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _EMAIL.sub(REDACTED, text)
    return _DIGITS.sub(REDACTED, text)


def _redact_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record in place: the formatted message and the extra fields, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not match its format: keep it, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, _redact_value(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        entry.update(_trace_ids())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def _trace_ids() -> dict[str, str]:
    if "opentelemetry.trace" not in sys.modules:
        return {}
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_LOG_", extra="ignore")

    format: str = Field(default="text", description="json or text")
    level: str = "INFO"

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("json", "text"):
            raise ValueError("expected json or text")
        return value

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.strip().upper()
        if not isinstance(logging.getLevelName(value), int):
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value


def configure_logging(service: str, settings: LogSettings | None = None) -> None:
    """Root logging for a process: one handler on stderr, redaction first. Raises ConfigurationError."""
    settings = settings or load(LogSettings)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if settings.format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)


def run_process(service: str, entry: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """A long-running process's ``main``: logging for ``service``, then ``entry()`` until it returns.

    A configuration error exits 78 and any other engine error (Temporal unreachable) exits 1, each with
    one log line saying what to fix instead of a traceback.
    """
    log = logging.getLogger(service.replace("-", "."))
    try:
        configure_logging(service)
        asyncio.run(entry())
    except ConfigurationError as exc:
        log.error("configuration error: %s", exc)
        raise SystemExit(78) from None
    except BillingError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
