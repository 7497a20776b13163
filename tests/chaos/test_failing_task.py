"""The chaos run's "stuck" check sees a run whose workflow task fails on every attempt.

Such a run (a history that no longer replays, for instance) cannot be queried, and its history up to its last
completed task replays and shows work scheduled: only its pending task's attempts and its failures tell."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from starter.chaos.main import FAILING_TASK_ATTEMPTS, failing_task


@workflow.defn(sandboxed=False)
class AlwaysFailingTask:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("this task fails on every attempt")


@workflow.defn(sandboxed=False)
class Waiting:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_a_run_whose_task_fails_on_every_attempt_is_named_and_a_waiting_run_is_not(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    queue = f"failing-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[AlwaysFailingTask, Waiting], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        failing = await client.start_workflow(AlwaysFailingTask.run, id=f"{queue}-failing", task_queue=queue)
        waiting = await client.start_workflow(Waiting.run, id=f"{queue}-waiting", task_queue=queue)
        found = None
        for _ in range(600):
            found = await failing_task(client, failing.id)
            if found is not None:
                break
            await asyncio.sleep(0.1)
        assert found is not None, f"not named failing after {FAILING_TASK_ATTEMPTS} attempts within 60 s"
        assert "this task fails on every attempt" in found and "attempt" in found
        assert await failing_task(client, waiting.id) is None
        assert await failing_task(client, f"{queue}-no-such-workflow") is None
        for handle in (failing, waiting):
            await handle.terminate("test done")
