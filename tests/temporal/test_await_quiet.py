"""``await_quiet``: reads wait until no workflow task is pending before they query (billing/temporal.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from billing.errors import WorkflowBusyError
from billing.orders import order_workflow_id
from host.temporal import await_quiet
from starter.client import BillingClient


@workflow.defn(sandboxed=False)
class Idle:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def test_a_pending_workflow_task_keeps_a_read_waiting_until_a_worker_completes_it(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    task_queue = f"quiet-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(Idle.run, id=f"quiet-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
    # Nobody polls the queue: the first workflow task stays scheduled.
    assert await await_quiet(client, handle.id, within=0.4) is False

    worker = Worker(client, task_queue=task_queue, workflows=[Idle], workflow_runner=UnsandboxedWorkflowRunner())
    async with worker:
        waiting = asyncio.create_task(await_quiet(client, handle.id, within=20.0))
        assert await waiting is True  # the worker completed the task; the workflow waits on its condition
        await handle.signal(Idle.finish)
        await handle.result()
    assert await await_quiet(client, handle.id, within=0.1) is True  # closed: nothing will be folded


async def test_a_missing_workflow_is_reported_as_not_found(dev_server_env: WorkflowEnvironment) -> None:
    with pytest.raises(RPCError) as raised:
        await await_quiet(dev_server_env.client, f"no-such-{uuid.uuid4().hex[:8]}")
    assert raised.value.status is RPCStatusCode.NOT_FOUND


async def test_an_order_read_while_no_worker_takes_its_task_is_refused_not_queried(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    task_queue = f"quiet-{uuid.uuid4().hex[:8]}"
    await client.start_workflow(Idle.run, id=order_workflow_id("busy-1"), task_queue=task_queue)
    billing = BillingClient(client, task_queue=task_queue, read_wait=0.3)
    with pytest.raises(WorkflowBusyError, match="busy-1 has a workflow task waiting for a worker"):
        await billing.get_order("busy-1")
    await client.get_workflow_handle(order_workflow_id("busy-1")).terminate()
