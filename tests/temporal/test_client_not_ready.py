"""An Update refused because the run's workflow task is being retried (its worker died or failed it) is
sent again by the client until the run takes it: a merchant's command during a worker crash is answered,
not failed with the server's FAILED_PRECONDITION."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from starter.client_resend import admitted, workflow_not_ready

#: While set, every workflow task of ``Flaky`` fails (a bug, or a worker dying mid-task, as the server sees it).
BROKEN = {"flag": False}


@workflow.defn(sandboxed=False)
class Flaky:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal
    def poke(self) -> None:
        if BROKEN["flag"]:
            raise RuntimeError("this workflow task fails")

    @workflow.update
    def finish(self) -> str:
        self.done = True
        return "finished"


async def test_an_update_refused_while_the_task_is_retried_is_sent_again_until_taken(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    queue = f"not-ready-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[Flaky], workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await client.start_workflow(Flaky.run, id=f"flaky-{uuid.uuid4().hex[:8]}", task_queue=queue)
        BROKEN["flag"] = True
        try:
            await handle.signal(Flaky.poke)
            # The server refuses Updates while the failed task is retried; the plain call fails with that.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:
                with pytest.raises(RPCError) as refused:
                    await handle.execute_update(Flaky.finish, rpc_timeout=None)
                if workflow_not_ready(refused.value) or loop.time() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert workflow_not_ready(refused.value), refused.value

            sending = asyncio.create_task(admitted(lambda: handle.execute_update(Flaky.finish)))
            await asyncio.sleep(1.0)
            assert not sending.done(), "still refused while the task fails"
            BROKEN["flag"] = False
        finally:
            BROKEN["flag"] = False
        assert await asyncio.wait_for(sending, timeout=60) == "finished"
        await handle.result()


async def test_other_refusals_are_raised_at_once() -> None:
    calls = 0

    async def missing() -> str:
        nonlocal calls
        calls += 1
        raise RPCError("workflow not found", 5, b"")

    with pytest.raises(RPCError):
        await admitted(missing)
    assert calls == 1
