"""An adjustable wall clock: real time plus an offset that tests can move forward or set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Real UTC time shifted by an offset.

    Time keeps flowing after `advance` or `set`; only the offset changes. Emulators read business
    time (expiry, billing anchors, timestamps in payloads) from here, never from `datetime.now`.
    """

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        self._offset += timedelta(seconds=seconds)
        return self.now()

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self._offset = when - datetime.now(UTC)
        return self.now()

    def reset(self) -> None:
        self._offset = timedelta(0)

    @property
    def offset(self) -> timedelta:
        """How far business time is from real time (kept in the emulator's saved state)."""
        return self._offset

    @offset.setter
    def offset(self, value: timedelta) -> None:
        self._offset = value
