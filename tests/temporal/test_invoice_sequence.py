"""InvoiceSequenceWorkflow on the real dev server: gap-free, idempotent, survives continue-as-new."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workflows.invoice_sequence import InvoiceSequenceWorkflow, SequenceState


async def test_concurrent_allocations_are_gap_free_and_idempotent_across_continue_as_new(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    queue = f"seq-{uuid.uuid4().hex[:8]}"
    wf_id = f"invoice-seq:m-{uuid.uuid4().hex[:8]}:default"
    async with Worker(
        client, task_queue=queue, workflows=[InvoiceSequenceWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await client.start_workflow(
            InvoiceSequenceWorkflow.run, SequenceState(history_limit=60), id=wf_id, task_queue=queue
        )
        ids = [f"inv-{i}" for i in range(50)]
        numbers = await asyncio.gather(*(handle.execute_update(InvoiceSequenceWorkflow.allocate, i) for i in ids))
        assert sorted(numbers) == list(range(1, 51))
        first_run = (await handle.describe()).run_id
        again = [
            await client.get_workflow_handle(wf_id).execute_update(InvoiceSequenceWorkflow.allocate, i) for i in ids
        ]
        assert again == numbers
        for i in ids[:25]:
            await handle.signal(InvoiceSequenceWorkflow.confirm, i)
        fresh = await client.get_workflow_handle(wf_id).execute_update(InvoiceSequenceWorkflow.allocate, "inv-new")
        assert fresh == 51
        latest = client.get_workflow_handle(wf_id)
        assert (await latest.describe()).run_id != first_run  # continued as new at least once
        assert await latest.execute_update(InvoiceSequenceWorkflow.allocate, "inv-49") == numbers[49]
        await latest.terminate("test done")


async def test_request_signal_allocates_like_the_update_and_number_of_reads_it(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    queue = f"seq-{uuid.uuid4().hex[:8]}"
    wf_id = f"invoice-seq:m-{uuid.uuid4().hex[:8]}:default"
    async with Worker(
        client, task_queue=queue, workflows=[InvoiceSequenceWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await client.start_workflow(
            InvoiceSequenceWorkflow.run, SequenceState(), id=wf_id, task_queue=queue,
            start_signal="request", start_signal_args=["sub-p1"],
        )  # fmt: skip
        for invoice_id in ("sub-p1", "sub-p1", "", "x" * 129, "sub-p2"):
            await handle.signal(InvoiceSequenceWorkflow.request, invoice_id)
        assert await handle.execute_update(InvoiceSequenceWorkflow.allocate, "sub-p3") == 3, "refused ids took none"
        assert await handle.query(InvoiceSequenceWorkflow.number_of, "sub-p1") == 1
        assert await handle.query(InvoiceSequenceWorkflow.number_of, "sub-p2") == 2
        assert await handle.query(InvoiceSequenceWorkflow.number_of, "") is None
        assert await handle.execute_update(InvoiceSequenceWorkflow.allocate, "sub-p1") == 1
        await handle.terminate("test done")
