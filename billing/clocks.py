"""Test clocks: a simulated time that engine-billed subscriptions are attached to when they are created.

A clock (``TestClockWorkflow``, workflow id ``test-clock-{clock_id}``) holds the simulated ``now`` and the
workflow ids of the subscriptions attached to it. An attached subscription reads its time from the clock
instead of the real one, and each of its timed waits (the next period, a dunning retry, a trial end, a
change at period end) ends when the clock passes its due time rather than on a timer. ``advance`` moves the
clock step by step to the earliest due time among the attached subscriptions and waits until each has
caught up (:class:`ClockPosition`), until the target time. Only for the emulators: refused unless
``BILLING_TEST_CLOCKS=enabled`` (``billing dev`` and the tests set it). See docs/architecture.md, "Test clocks".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.errors import InputError, InvalidStateError

#: The setting that allows test clocks: the worker's providers are the emulators.
TEST_CLOCKS_VARIABLE = "BILLING_TEST_CLOCKS"
#: Clock ids: short, for workflow ids and command lines.
CLOCK_ID_PATTERN = r"^[A-Za-z0-9._-]{1,48}$"
#: Attached subscriptions per clock (each step asks every one of them).
MAX_ATTACHED = 100

_DURATION = re.compile(r"^\s*(\d+)\s*([wdhm])\s*$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def clock_workflow_id(clock_id: str) -> str:
    return f"test-clock-{clock_id}"


class ClockSettings(BaseSettings):
    """``BILLING_TEST_CLOCKS``: ``enabled`` where the worker's providers are the emulators."""

    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    test_clocks: Literal["enabled", "disabled"] = "disabled"


def clocks_enabled() -> bool:
    from billing.settings import load

    return load(ClockSettings).test_clocks == "enabled"


def refused(field: str | None = None) -> InvalidStateError:
    return InvalidStateError(
        f"test clocks are only for the emulators: set {TEST_CLOCKS_VARIABLE}=enabled where the worker's "
        "providers are emulators (`billing dev` does)",
        field=field,
    )


#: The worker's own refusal: the client allowed test clocks, the worker does not.
WORKER_REFUSED = f"this worker does not allow test clocks ({TEST_CLOCKS_VARIABLE} is not enabled where it runs)"


def require_test_clocks(*, field: str | None = None) -> None:
    """Test clocks move subscriptions through months in minutes: only against the emulators. Checked by the
    client (here) and by the worker (``activities.clocks``, when a clock starts)."""
    if not clocks_enabled():
        raise refused(field)


def parse_duration(text: str, *, field: str = "by") -> timedelta:
    """``90d``, ``2w``, ``12h`` or ``30m``: a positive duration."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise InputError(f"expected a positive duration such as 90d, 2w, 12h or 30m, got {text!r}", field=field)
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_instant(text: str, *, field: str) -> datetime:
    """An ISO date or date-time; a date is its midnight UTC, a time without a zone is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"expected an ISO date or date-time such as 2027-06-01, got {text!r}", field=field) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InputError("must include a time zone", field=field)
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClockState(BaseModel):
    """A clock: its simulated time and the subscription workflows attached to it."""

    clock_id: str
    now: datetime
    attached: list[str] = Field(default_factory=list)


class ClockStart(_Frozen):
    """The clock workflow's input: its id and where simulated time starts (None: the real time now)."""

    clock_id: str = Field(pattern=CLOCK_ID_PATTERN)
    start: datetime | None = None
    #: The clock as it was when its previous run continued as new.
    state: ClockState | None = None

    @field_validator("start")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        return _aware(value, "start")


class AttachToClock(_Frozen):
    workflow_id: str = Field(min_length=1, max_length=200)


class MoveClock(_Frozen):
    to: datetime

    @field_validator("to")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        _aware(value, "to")
        return value


class ClockSync(_Frozen):
    """Sent to an attached subscription: the clock's time; answered once the run caught up with it."""

    now: datetime

    @field_validator("now")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        _aware(value, "now")
        return value


class ClockPosition(BaseModel):
    """An attached run that caught up with the clock: its simulated time and when it next has something to do.

    ``handed_over``: the run continues as new; ask the next run. ``finished``: the run ends (nothing more due).
    ``awaiting_order``: the run waits for the customer to pay that invoice order until ``next_due``; when the
    clock reaches it unpaid, ``advance`` cancels the order, as its payment window would have ended it.
    """

    now: datetime
    next_due: datetime | None = None
    handed_over: bool = False
    finished: bool = False
    #: An invoice order waiting for the customer; its payment window ends at ``next_due`` (clock time).
    awaiting_order: str | None = None


class ClockStep(BaseModel):
    """One step of ``advance``: the time reached and each attached subscription's next due time."""

    now: datetime
    due: dict[str, datetime | None] = Field(default_factory=dict)
    #: The subscriptions whose invoice waits for the customer to pay: the invoice order of each.
    awaiting: dict[str, str] = Field(default_factory=dict)


def check_advance(state: ClockState, to: datetime) -> None:
    """``to`` must be zoned and not before the clock's time."""
    _aware(to, "to")
    if to < state.now:
        raise InputError(f"the clock is at {state.now.isoformat()}; it only moves forward", field="to")
