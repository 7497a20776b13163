"""``billing replay``: replay workflow histories against the workflow code of this checkout.

Run it before deploying a new worker version: every history of a running (or recently closed) workflow
is replayed with the worker's workflows, sandbox runner and data converter (the codec keys included); a
change that would make a running workflow issue different commands is reported with the workflow id
and the first event that diverges, instead of failing workflow tasks in production.

Histories come from a Temporal namespace (a visibility query) or from files: the JSON of
``temporal workflow show --output json``, of ``WorkflowHistory.to_json()`` and of the committed
``tests/replay/histories/*.json`` (all ``{"events": [...]}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from billing import errors
from billing.temporal import ENCRYPTED_ENCODING

#: Where the SDK's nondeterminism message names the event it could not match, e.g.
#: ``... does not handle this event: HistoryEvent(id: 5, TimerStarted)``.
_HISTORY_EVENT = re.compile(r"HistoryEvent\(id: (?P<id>\d+), (?P<type>[A-Za-z]+)")
_EVENT_ID = re.compile(r"\bevent(?:[ _]id)?[:= ]+(?P<id>\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ReplayOutcome:
    """One history replayed: ``ok``, or the failure with the first diverging event when it names one."""

    workflow_id: str
    run_id: str | None
    workflow_type: str
    events: int
    source: str
    ok: bool
    nondeterministic: bool = False
    event_id: int | None = None
    event_type: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def short_error(message: str) -> str:
    """The SDK core's own words from a replay failure (``[TMPRL1100] Nondeterminism error: ...``), without
    the Rust structure around them."""
    found = re.search(r'message: "(?P<text>(?:[^"\\]|\\.)*)"', message)
    return found["text"] if found else message


def diverging_event(message: str) -> tuple[int | None, str | None]:
    """The id and type of the first event a replay could not match, as the SDK's error names them."""
    found = _HISTORY_EVENT.search(message)
    if found:
        return int(found["id"]), found["type"]
    found = _EVENT_ID.search(message)
    return (int(found["id"]), None) if found else (None, None)


def event_type_name(value: int) -> str:
    """``EVENT_TYPE_ACTIVITY_TASK_SCHEDULED`` as the SDK names it in its errors: ``ActivityTaskScheduled``."""
    name = EventType.Name(value).removeprefix("EVENT_TYPE_")  # type: ignore[arg-type]
    return "".join(part.capitalize() for part in name.split("_"))


def _encrypted(history: WorkflowHistory) -> bool:
    """Whether the workflow's input is encrypted (then so is everything else the engine wrote)."""
    started = history.events[0].workflow_execution_started_event_attributes if history.events else None
    return started is not None and any(
        payload.metadata.get("encoding") == ENCRYPTED_ENCODING for payload in started.input.payloads
    )


def _workflow_type(history: WorkflowHistory) -> str:
    if not history.events:
        return "?"
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name or "?"


def load_history_file(path: Path) -> WorkflowHistory:
    """One exported history. Its workflow id is the one recorded in the start event, else the file name."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.InputError(f"{path}: cannot read: {exc}", field="file") from None
    except ValueError as exc:
        raise errors.InputError(f"{path}: not JSON: {exc}", field="file") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("events"), list) or not raw["events"]:
        raise errors.InputError(f'{path}: not a workflow history (expected {{"events": [...]}})', field="file")
    try:
        history = WorkflowHistory.from_json(path.stem, raw)
    except Exception as exc:  # protobuf's JSON parser raises several types
        raise errors.InputError(f"{path}: not a workflow history: {exc}", field="file") from None
    started = history.events[0].workflow_execution_started_event_attributes
    if started.workflow_id:
        history = WorkflowHistory(started.workflow_id, history.events)
    return history


def history_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, with every ``*.json`` of a directory named (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.json"))
        elif path.is_file():
            found.append(path)
        else:
            raise errors.InputError(f"{path}: no such file or directory", field="file")
    return found


#: What :func:`replay_all` replays: where a history came from, its run id when known, the history.
Source = tuple[str, str | None, WorkflowHistory]


async def histories_from_query(client: Client, query: str, limit: int) -> AsyncIterator[Source]:
    """The histories of the workflows a visibility query matches, up to ``limit``."""
    async for execution in client.list_workflows(query, limit=limit):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        yield f"{client.namespace}/{execution.id}", execution.run_id, await handle.fetch_history()


async def histories_from_files(histories: Iterable[tuple[Path, WorkflowHistory]]) -> AsyncIterator[Source]:
    for path, history in histories:
        started = history.events[0].workflow_execution_started_event_attributes
        yield str(path), started.original_execution_run_id or None, history


class HistoryReplayer:
    """Replays histories with the worker's workflows, runner and data converter."""

    def __init__(
        self, converter: DataConverter, workflows: Sequence[type] | None = None, *, quiet: bool = False
    ) -> None:
        """``workflows``: the worker's (default); ``quiet``: without the SDK core's log line per failure."""
        from worker import WORKFLOWS, workflow_runner

        self._converter = converter
        self._replayer = Replayer(
            workflows=list(workflows or WORKFLOWS),
            data_converter=converter,
            workflow_runner=workflow_runner(),
            runtime=Runtime(telemetry=TelemetryConfig(logging=None)) if quiet else None,
        )

    async def replay(self, history: WorkflowHistory, source: str, run_id: str | None = None) -> ReplayOutcome:
        outcome = ReplayOutcome(
            workflow_id=history.workflow_id,
            run_id=run_id,
            workflow_type=_workflow_type(history),
            events=len(history.events),
            source=source,
            ok=True,
        )
        if self._converter.payload_codec is None and _encrypted(history):
            raise errors.ConfigurationError(
                f"{history.workflow_id}: the history's payloads are encrypted but no codec keys are configured; "
                "set it to the keyring they were written with",
                setting="BILLING_CODEC_KEYS",
            )
        failure = await self._failure(history)
        if failure is None:
            return outcome
        failed = _failed(outcome, failure)
        if failed.event_id is None:
            # The SDK's words do not always name the event ("Activity type of scheduled event 'x' does not
            # match ..."): the first event whose prefix no longer replays is the one that diverges.
            failed = replace(failed, event_id=await self._first_failing_event(history))
        if failed.event_id is not None and failed.event_type is None and failed.event_id <= len(history.events):
            failed = replace(failed, event_type=event_type_name(history.events[failed.event_id - 1].event_type))
        return failed

    async def _failure(self, history: WorkflowHistory) -> BaseException | None:
        try:
            result = await self._replayer.replay_workflow(history, raise_on_replay_failure=False)
        except Exception as exc:  # a history the replayer cannot even start (undecodable payloads, ...)
            return exc
        return result.replay_failure

    async def _first_failing_event(self, history: WorkflowHistory) -> int | None:
        """The smallest n such that the first n events fail to replay (binary search), or None when the
        first workflow task alone fails (the failure is then not about an event).

        Prefixes start at the first ``WorkflowTaskStarted``: a shorter history gives the replayer no
        workflow task, and it would wait for one forever.
        """
        events = history.events
        starts = [
            n
            for n, event in enumerate(events, start=1)
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
        ]
        if not starts:
            return None
        passing, failing = starts[0], len(events)
        if await self._failure(WorkflowHistory(history.workflow_id, events[:passing])) is not None:
            return None
        while failing - passing > 1:
            middle = (passing + failing) // 2
            if await self._failure(WorkflowHistory(history.workflow_id, events[:middle])) is None:
                passing = middle
            else:
                failing = middle
        return int(events[failing - 1].event_id)


def _failed(outcome: ReplayOutcome, exc: BaseException) -> ReplayOutcome:
    message = str(exc) or type(exc).__name__
    event_id, event_type = diverging_event(message)
    return replace(
        outcome,
        ok=False,
        nondeterministic=isinstance(exc, NondeterminismError),
        event_id=event_id,
        event_type=event_type,
        error=short_error(message),
    )


async def replay_all(
    replayer: HistoryReplayer,
    histories: AsyncIterator[Source],
    progress: Callable[[int, ReplayOutcome], None] | None = None,
) -> list[ReplayOutcome]:
    """Replay every history, calling ``progress(n, outcome)`` after each; never stops at a failure."""
    outcomes: list[ReplayOutcome] = []
    async for source, run_id, history in histories:
        outcome = await replayer.replay(history, source, run_id)
        outcomes.append(outcome)
        if progress is not None:
            progress(len(outcomes), outcome)
    return outcomes


def describe_failure(outcome: ReplayOutcome) -> str:
    """``nondeterminism at event 5 (TimerStarted): ...`` or the error, for people."""
    where = ""
    if outcome.event_id is not None:
        where = f" at event {outcome.event_id}" + (f" ({outcome.event_type})" if outcome.event_type else "")
    kind = "nondeterminism" if outcome.nondeterministic else "replay failed"
    return f"{kind}{where}: {outcome.error}"
