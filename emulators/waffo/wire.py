"""Waffo wire conventions: compact JSON bytes, millisecond UTC timestamps, JSON-in-a-string fields."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that get signed and sent."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_string(value: Any) -> str:
    """A JSON document embedded as a string field (orderAction, *FailedReason, payMethodResponse)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_timestamp(when: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse a Waffo timestamp; raises ValueError when it does not match the format."""
    if not TIMESTAMP_RE.match(text):
        raise ValueError("must look like 2026-01-31T10:00:00.000Z")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def failed_reason(code: str, description: str) -> str:
    return json_string({"orderFailedCode": code, "orderFailedDescription": description})
