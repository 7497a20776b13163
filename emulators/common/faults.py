"""A queue of injected faults, consumed by the next matching calls."""

from __future__ import annotations

import itertools
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

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "kind": self.kind,
            "count": self.remaining,
            "params": self.params,
        }


class FaultQueue:
    """Faults in the order they were queued; the oldest matching one wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, operation: str, kind: str, count: int = 1, params: dict[str, Any] | None = None) -> Fault:
        if count < 1:
            raise ValueError("count must be >= 1")
        fault = Fault(next(self._ids), operation, kind, count, dict(params or {}))
        self._faults.append(fault)
        return fault

    def take(self, operation: str, *, match_wildcard: bool = True) -> Fault | None:
        """Consume one use of the oldest fault matching `operation`; None when nothing matches.

        With `match_wildcard=False` only faults queued for exactly `operation` match (used for
        side channels such as notifications, which "*" is not meant to hit).
        """
        for fault in self._faults:
            if fault.operation == operation or (match_wildcard and fault.operation == WILDCARD):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return Fault(fault.id, fault.operation, fault.kind, 1, dict(fault.params))
        return None

    def list(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        self._faults.clear()
