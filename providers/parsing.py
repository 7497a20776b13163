"""Reading a provider's answer, the same way for every client: its timestamps and its documented models.

An answer that does not match the model its documentation gives says nothing the engine may act on: it
becomes a :class:`~billing.errors.ResponseVerificationError` (an outcome-unknown error, so the order keeps
reconciling). A timestamp that is absent or unreadable is no time at all (None), never a guess.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from billing.errors import ResponseVerificationError

M = TypeVar("M", bound=BaseModel)


def parse_time(text: str | None, zone: tzinfo = UTC) -> datetime | None:
    """A provider's timestamp as an aware UTC datetime; None when absent, blank or unreadable.

    Reads ISO 8601 and its space-separated form with any number of fractional digits: Waffo's
    ``2026-02-28T10:05:58.000Z``, WaafiPay's ``2024-11-05 12:19:05.05`` (trailing zeros dropped), KESS's
    ``2026-01-15 10:00:00``. A time without an offset is in ``zone``: UTC unless the provider documents
    another (KESS: the store's time zone).
    """
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed).astimezone(UTC)


def parse_answer(model: type[M], data: Any, *, provider: str, operation: str) -> M:
    """An answer's data as the documented ``model``; anything else is a ResponseVerificationError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ResponseVerificationError(
            f"the response data is not the documented {model.__name__}", provider=provider, operation=operation
        ) from exc
