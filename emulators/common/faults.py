"""A queue of injected faults, consumed by the next matching calls.

A fault may be *scoped*: it then hits only calls (or notifications) whose body mentions one of its scope's
strings (a request id, an order id) anywhere in its JSON, so a fault for one order leaves every other
order alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

WILDCARD = "*"


@dataclass
class Fault:
    """One queued fault: applies to the next `remaining` calls of `operation` (or any, for "*")."""

    id: int
    operation: str
    kind: str
    remaining: int
    params: dict[str, Any] = field(default_factory=dict)
    #: Empty: every matching call. Otherwise only calls whose body mentions one of these strings.
    scope: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "kind": self.kind,
            "count": self.remaining,
            "params": self.params,
        }
        if self.scope:
            out["scope"] = list(self.scope)
        return out

    def applies_to(self, references: Collection[str]) -> bool:
        return not self.scope or any(reference in references for reference in self.scope)


def references_in(body: bytes | str | Any, *, limit: int = 2000) -> frozenset[str]:
    """Every string value in a JSON body (raw bytes, text or already decoded), at any depth: what a scoped
    fault is matched against. A body that is not JSON mentions nothing."""
    value: Any = body
    if isinstance(body, bytes | str):
        try:
            value = json.loads(body)
        except ValueError:
            return frozenset()
    found: set[str] = set()
    stack: list[Any] = [value]
    while stack and len(found) < limit:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return frozenset(found)


def scope_from(value: Any) -> tuple[str, ...]:
    """A control request's ``scope``: a list of non-empty strings (ValueError otherwise)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError("scope must be a list of non-empty strings")
    return tuple(value)


class FaultQueue:
    """Faults in the order they were queued; the oldest matching one wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._last_id = 0
        self._ids = itertools.count(1)

    def add(
        self,
        operation: str,
        kind: str,
        count: int = 1,
        params: dict[str, Any] | None = None,
        scope: Iterable[str] = (),
    ) -> Fault:
        if count < 1:
            raise ValueError("count must be >= 1")
        self._last_id = next(self._ids)
        fault = Fault(self._last_id, operation, kind, count, dict(params or {}), tuple(scope))
        self._faults.append(fault)
        return fault

    def take(
        self, operation: str, *, match_wildcard: bool = True, references: Collection[str] = frozenset()
    ) -> Fault | None:
        """Consume one use of the oldest fault matching `operation`; None when nothing matches.

        With `match_wildcard=False` only faults queued for exactly `operation` match (used for
        side channels such as notifications, which "*" is not meant to hit). A scoped fault matches only
        when `references` (the strings of the call's body, see :func:`references_in`) mention its scope.
        """
        for fault in self._faults:
            if fault.operation == operation or (match_wildcard and fault.operation == WILDCARD):
                if not fault.applies_to(references):
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return Fault(fault.id, fault.operation, fault.kind, 1, dict(fault.params), fault.scope)
        return None

    def list(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        self._faults.clear()

    # -- saved state (billing dev keeps it across restarts) ---------------------------------------

    def export(self) -> dict[str, Any]:
        """The queued faults (with what is left of each) and the last id given, as picklable data."""
        return {"last_id": self._last_id, "faults": [dataclasses.asdict(fault) for fault in self._faults]}

    def restore(self, saved: dict[str, Any] | None) -> None:
        """Queue again what :meth:`export` saved (``None``: state saved before faults were kept; nothing).
        The queue is filled in place: whoever holds it (a notifier) sees the restored faults."""
        if saved is None:
            return
        self._faults[:] = [
            Fault(**{**fields, "scope": tuple(fields["scope"]), "params": dict(fields["params"])})
            for fields in saved["faults"]
        ]
        self._last_id = int(saved["last_id"])
        self._ids = itertools.count(self._last_id + 1)
