"""A query served by a worker that does not hold the run must not leave the run deciding on a stale clock.

The worker that held a run dies with a timer pending; a query for the run waits on the dead worker's sticky
queue, then a new worker answers it: it replays the history and applies the timer that fired meanwhile as a
live activation stamped with the time of the last completed task. A deadline check there sees the deadline
still ahead, and the command it issues is kept and sent with the next task. Every later replay sees the
timer's own time, decides otherwise, and fails with a nondeterminism error: the run is stuck.

``workflows.common.clock_now`` refuses that activation (the query fails, the worker drops the run); the next
task replays the history afresh and decides on the right time. The unchecked workflow shows the hazard is
real with the temporalio in use: if that half starts failing, the SDK has fixed it and the check may go.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from starter.client import BillingClient
from tests.support.processes import wait_for_line
from tests.temporal.stale_clock_worker import DeadlineAfterQuietTask, DeadlineAfterTimer
from workflows.common import STALE_CLOCK

ROOT = Path(__file__).resolve().parents[2]


def _worker(address: str, task_queue: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.temporal.stale_clock_worker", address, task_queue],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_for_line(proc, "worker ready", timeout=60)
    return proc


async def _has_event(handle: WorkflowHandle, kind: EventType.ValueType, within: float) -> None:
    for _ in range(int(within * 10)):
        history = await handle.fetch_history()
        if any(e.event_type == kind for e in history.events):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id}: no {EventType.Name(kind)} within {within} s")


async def _query(handle: WorkflowHandle) -> str:
    try:
        return await handle.query(DeadlineAfterTimer.ping)
    except WorkflowQueryFailedError as exc:
        return f"failed: {exc}"


async def test_a_query_on_a_cold_worker_cannot_make_a_deadline_check_use_a_stale_clock(
    dev_server_env: WorkflowEnvironment,
) -> None:
    address = dev_server_env.client.service_client.config.target_host
    client = await Client.connect(address)  # the workflow's payloads are plain: no codec
    task_queue = f"stale-{uuid.uuid4().hex[:8]}"
    first = _worker(address, task_queue)
    second: subprocess.Popen[str] | None = None
    try:
        handles = {
            name: await client.start_workflow(
                DeadlineAfterTimer.run, name != "unchecked", id=f"{task_queue}-{name}", task_queue=task_queue
            )
            for name in ("checked", "unchecked", "read by the client")
        }
        quiet = await client.start_workflow(DeadlineAfterQuietTask.run, id=f"{task_queue}-quiet", task_queue=task_queue)
        for handle in [*handles.values(), quiet]:
            await _has_event(handle, EventType.EVENT_TYPE_TIMER_STARTED, within=20)
        # The quiet run's last task before the query reads no clock: a signal that only counts.
        await quiet.signal(DeadlineAfterQuietTask.poke)
        await _has_event(quiet, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, within=20)
        for _ in range(100):
            events = [e.event_type for e in (await quiet.fetch_history()).events]
            if events.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) >= 2:
                break
            await asyncio.sleep(0.1)
        first.kill()
        second = _worker(address, task_queue)
        # Asked while the timers are pending; answered by the new worker after they fired (the dead worker's
        # sticky queue holds each query first).
        # The client asks again once the run's task is done, instead of failing the read.
        reader = BillingClient(client, read_wait=60)
        read = reader._read(handles["read by the client"].id, DeadlineAfterTimer.ping, "workflow", "workflow_id")
        raw = [_query(handles[name]) for name in ("checked", "unchecked")]
        checked, unchecked, client_read, quiet_answer = await asyncio.gather(*raw, read, _query(quiet))
        answers = {"checked": checked, "unchecked": unchecked, "read by the client": client_read}
        handles["quiet"] = quiet
        results = {name: await asyncio.wait_for(h.result(), 60) for name, h in handles.items()}
        replays = {}
        for name, handle in handles.items():
            history = await handle.fetch_history()
            replayer = Replayer(
                workflows=[DeadlineAfterTimer, DeadlineAfterQuietTask], workflow_runner=UnsandboxedWorkflowRunner()
            )
            replays[name] = (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure
    finally:
        for proc in (first, second):
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                assert proc.stdout is not None
                proc.stdout.close()

    assert STALE_CLOCK in answers["checked"], answers
    assert STALE_CLOCK in quiet_answer, quiet_answer
    assert answers["read by the client"] == "pong"
    for name in ("checked", "read by the client", "quiet"):
        assert results[name] == "past the deadline"
        assert replays[name] is None

    if answers["unchecked"] != "pong" or results["unchecked"] != "before the deadline":
        pytest.fail(f"the stale clock did not show without the check ({answers['unchecked']}, {results['unchecked']})")
    assert replays["unchecked"] is not None and "Nondeterminism" in str(replays["unchecked"])
