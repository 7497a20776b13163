"""The answer is about the object we asked for: one check for every provider's client.

A provider answer names the object it is about (our request id, the provider's reference, a refund id,
an amount and currency). An answer that names another object than the one asked about says nothing about
ours: applying it could mark an order paid, or a refund settled, on someone else's statement. Clients
call :func:`require_same_object` with what they asked and what the answer said, after parsing and before
building an outcome; a difference raises :class:`~billing.errors.AnswerMismatchError`, an
``OutcomeUnknownError``, so the engine treats it as "no answer" and keeps reconciling.

An identifier missing on either side is not a difference (nothing to compare), unless the caller lists
it in ``required``: then an answer that does not name it is not accepted as being about ours.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from billing.errors import AnswerMismatchError
from billing.money import Money

log = logging.getLogger("providers.answers")

Value = str | int | Money | None


def _text(value: Value) -> str | None:
    if value is None:
        return None
    if isinstance(value, Money):
        return f"{value.amount_minor} {value.currency}"
    text = str(value).strip()
    return text or None


def require_same_object(
    *,
    provider: str,
    operation: str,
    asked: Mapping[str, Value],
    answered: Mapping[str, Value],
    required: Iterable[str] = (),
) -> None:
    """Raise AnswerMismatchError when ``answered`` names another object than ``asked`` (field by field)."""
    needed = set(required)
    for field, asked_value in asked.items():
        mine, theirs = _text(asked_value), _text(answered.get(field))
        if mine is None:
            continue
        if theirs is None:
            if field not in needed:
                continue
            theirs = "(absent)"
        elif isinstance(asked_value, Money) and isinstance(answered.get(field), Money):
            if asked_value == answered.get(field):
                continue
        elif mine == theirs:
            continue
        log.warning(
            "%s %s: the answer is about %s %s, not the %s asked about; not applied",
            provider,
            operation,
            field,
            theirs,
            mine,
            extra={"provider": provider, "operation": operation, "field": field, "asked": mine, "answered": theirs},
        )
        raise AnswerMismatchError(
            f"the answer is about {field} {theirs!r}, not {mine!r}: treated as no answer",
            provider=provider,
            operation=operation,
            field=field,
            asked=mine,
            answered=theirs,
        )
