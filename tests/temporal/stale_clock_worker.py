"""The worker process of test_stale_clock.py: ``python -m tests.temporal.stale_clock_worker ADDRESS QUEUE``.

Its workflow takes one decision on the clock after a timer, the shape of an order's deadline check, either
through :func:`workflows.common.clock_now` (checked) or through bare ``workflow.now()``.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workflows.common import clock_now, wait_or_time_out

#: The timer; the test kills the first worker while it is pending and queries before it fires.
DEADLINE = timedelta(seconds=4)


@workflow.defn(sandboxed=False)
class DeadlineAfterTimer:
    @workflow.init
    def __init__(self, checked: bool) -> None:
        self.checked = checked

    def _now(self):  # type: ignore[no-untyped-def]
        return clock_now() if self.checked else workflow.now()

    @workflow.run
    async def run(self, checked: bool) -> str:
        deadline = self._now() + DEADLINE
        await workflow.sleep(DEADLINE)
        if self._now() < deadline:
            await workflow.sleep(timedelta(milliseconds=100))  # a command only a stale clock issues
            return "before the deadline"
        return "past the deadline"

    @workflow.query
    def ping(self) -> str:
        return "pong"


@workflow.defn(sandboxed=False)
class DeadlineAfterQuietTask:
    """The same decision, where the run's last task before the query read no clock (a signal that only
    counts): :func:`clock_now` alone cannot tell that activation is stale; the timer's end can
    (:func:`wait_or_time_out`)."""

    def __init__(self) -> None:
        self.pokes = 0

    @workflow.run
    async def run(self) -> str:
        deadline = clock_now() + DEADLINE
        await wait_or_time_out(lambda: False, DEADLINE, "deadline")
        if clock_now() < deadline:
            await workflow.sleep(timedelta(milliseconds=100))  # a command only a stale clock issues
            return "before the deadline"
        return "past the deadline"

    @workflow.signal
    def poke(self) -> None:
        self.pokes += 1

    @workflow.query
    def ping(self) -> str:
        return "pong"


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[DeadlineAfterTimer, DeadlineAfterQuietTask],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        print("worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
