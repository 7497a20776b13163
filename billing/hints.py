"""Hints that an order may have news, and when one is worth an inquiry.

A hint is unsigned: the customer's browser back from the provider's page (``redirect_hint``) or an
operator's ``check_now``. It only makes the order inquire sooner than its schedule. Anyone who knows an
order id can send the browser's, and every hint acted on costs history (the signal, workflow tasks, the
interrupted timer, the inquiry, the next timer: over a dozen events) and a provider call. So hints are
rationed:

* **coalesced**: a hint while an inquiry is in flight or already queued, or within :data:`HINT_WINDOW`
  of the last inquiry, adds nothing; unless it brings a result token the order has not seen (a
  provider may tell a decline only through the redirect's token);
* **budgeted**: at most :data:`HINTS_PER_HOUR` browser hints in any hour and :data:`HINTS_PER_ORDER` over
  the order's life are acted on (an operator's ``check_now`` is coalesced but not budgeted);
* **useful**: only while the order has something to learn (a payment without a final statement, or an
  open refund).

The HTTP service asks first, with the query ``hint_state`` (a query adds no history), and signals only
when the answer is yes; the workflow applies the same rules again when the signal arrives. The query
leaves the time window out: a query sees the workflow clock of its last activation, which may be long
past, so the HTTP service keeps its own window (``BILLING_HTTP_HINT_WINDOW_SECONDS``) per order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

#: No second inquiry for a hint within this long after the last inquiry ended.
HINT_WINDOW = timedelta(seconds=5)
#: Browser hints acted on in any hour, and over an order's life.
HINTS_PER_HOUR = 12
HINTS_PER_ORDER = 60
_HOUR = timedelta(hours=1)


class HintVerdict(StrEnum):
    INQUIRE = "inquire"  # acted on: the order inquires now
    NEW_TOKEN = "new_token"  # noqa: S105 - acted on: it brings a result token the order has not seen
    PENDING = "pending"  # an inquiry is in flight or already queued
    RECENT = "recent"  # the last inquiry ended less than HINT_WINDOW ago
    BUDGET = "budget"  # this hour's or this order's hints are spent
    SETTLED = "settled"  # nothing left to learn (final, no open refund; or waiting for an operator)


class HintState(BaseModel):
    """What the order would do with a hint now (the query ``hint_state``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: HintVerdict

    @property
    def acts(self) -> bool:
        return self.verdict in (HintVerdict.INQUIRE, HintVerdict.NEW_TOKEN)


@dataclass
class HintLedger:
    """Held by an order workflow run: its inquiries in flight, when the last one ended, the hints acted on."""

    inquiring: int = 0
    last_inquiry_at: datetime | None = None
    acted_at: list[datetime] = field(default_factory=list)
    acted_total: int = 0

    def judge(
        self,
        now: datetime,
        *,
        useful: bool,
        pending: bool,
        new_token: bool,
        budgeted: bool = True,
        window: timedelta | None = HINT_WINDOW,
    ) -> HintState:
        """Whether a hint arriving at ``now`` is acted on. ``window=None`` leaves the time window out."""
        if not useful:
            return HintState(verdict=HintVerdict.SETTLED)
        if budgeted and (self.acted_total >= HINTS_PER_ORDER or self._acted_within_hour(now) >= HINTS_PER_HOUR):
            return HintState(verdict=HintVerdict.BUDGET)
        if new_token:
            return HintState(verdict=HintVerdict.NEW_TOKEN)
        if pending or self.inquiring:
            return HintState(verdict=HintVerdict.PENDING)
        if window is not None and self.last_inquiry_at is not None and now - self.last_inquiry_at < window:
            return HintState(verdict=HintVerdict.RECENT)
        return HintState(verdict=HintVerdict.INQUIRE)

    def acted(self, now: datetime) -> None:
        """Count a browser hint acted on at ``now`` against the budget."""
        self.acted_at = [at for at in self.acted_at if now - at < _HOUR]
        self.acted_at.append(now)
        self.acted_total += 1

    def inquiry_started(self) -> None:
        self.inquiring += 1

    def inquiry_ended(self, now: datetime) -> None:
        self.inquiring = max(0, self.inquiring - 1)
        self.last_inquiry_at = now

    def _acted_within_hour(self, now: datetime) -> int:
        return sum(1 for at in self.acted_at if now - at < _HOUR)
