"""The money ledger: one entry per money movement, so tests can prove "exactly once"."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from emulators.common.money import format_amount

LedgerKind = Literal["charge", "authorization", "capture", "refund", "void"]


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    kind: LedgerKind
    merchant_id: str
    amount: Decimal
    currency: str
    at: str
    # Provider references in the provider's own spelling, e.g. {"acquiringOrderId": "A..."}.
    references: Mapping[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "merchantId": self.merchant_id}
        out.update(self.references)
        out["amount"] = format_amount(self.amount, self.currency)
        out["currency"] = self.currency
        out["at"] = self.at
        return out


class Ledger:
    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._ids = itertools.count(1)

    def record(
        self,
        kind: LedgerKind,
        *,
        merchant_id: str,
        amount: Decimal,
        currency: str,
        at: str,
        references: Mapping[str, str | None],
    ) -> LedgerEntry:
        entry = LedgerEntry(
            id=f"L{next(self._ids):08d}",
            kind=kind,
            merchant_id=merchant_id,
            amount=amount,
            currency=currency,
            at=at,
            references=dict(references),
        )
        self._entries.append(entry)
        return entry

    @property
    def entries(self) -> list[LedgerEntry]:
        return list(self._entries)

    def to_json(self) -> dict[str, Any]:
        return {"entries": [entry.to_json() for entry in self._entries]}

    def clear(self) -> None:
        self._entries.clear()

    def export(self) -> list[LedgerEntry]:
        """Every entry, for the emulator's saved state."""
        return list(self._entries)

    def restore(self, entries: list[LedgerEntry]) -> None:
        """Replace the entries with saved ones; new ids continue after the highest."""
        self._entries = list(entries)
        highest = max((int(entry.id[1:]) for entry in self._entries), default=0)
        self._ids = itertools.count(highest + 1)
