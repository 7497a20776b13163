"""InvoiceSequenceWorkflow on the real dev server: gap-free, idempotent, survives continue-as-new."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.invoices import NUMBER_NOT_READY, AllocateNumber, InvoiceActivities
from activities.local_waits import LocalWaits, local_waits
from billing.queues import ledger_task_queue
from workflows.invoice_sequence import InvoiceSequenceWorkflow, SequenceState


async def test_concurrent_allocations_are_gap_free_and_idempotent_across_continue_as_new(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    queue = ledger_task_queue(f"seq-{uuid.uuid4().hex[:8]}")
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
    queue = ledger_task_queue(f"seq-{uuid.uuid4().hex[:8]}")
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


async def test_a_bounded_allocation_gives_up_in_time_and_asking_again_answers_the_same_number(
    dev_server_env: WorkflowEnvironment,
) -> None:
    """What a subscription's workflow task does (``invoices.allocate`` as a local activity, ``wait_s`` set)
    while no worker can run the sequence: it fails within its bound, holding nothing longer; the request it
    left is kept, so the ordinary allocation later answers that number, and the next id the next one."""
    client = dev_server_env.client
    queue = f"seq-{uuid.uuid4().hex[:8]}"
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    activities = InvoiceActivities(client, merchant)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, task_queue=queue)
    started = time.monotonic()
    with pytest.raises(ApplicationError) as refused:
        await env.run(activities.allocate, AllocateNumber(document_id="sub-b-p1", wait_s=0.5))
    assert refused.value.type == NUMBER_NOT_READY and refused.value.non_retryable
    assert time.monotonic() - started < 5, "the bound is the wait"
    async with Worker(
        client,
        task_queue=ledger_task_queue(queue),
        workflows=[InvoiceSequenceWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        first = await env.run(activities.allocate, AllocateNumber(document_id="sub-b-p1"))
        again = await env.run(activities.allocate, AllocateNumber(document_id="sub-b-p1", wait_s=5))
        second = await env.run(activities.allocate, AllocateNumber(document_id="sub-b-p2", wait_s=5))
        assert (first.sequence, again.number, second.sequence) == (1, first.number, 2)
        described = await client.get_workflow_handle(first.sequence_workflow_id).describe()
        assert described.task_queue == f"{queue}-ledger", "a sequence runs on the ledger queue"
        await client.get_workflow_handle(first.sequence_workflow_id).terminate("test done")


async def test_a_worker_with_its_bounded_waits_taken_refuses_at_once(dev_server_env: WorkflowEnvironment) -> None:
    """Past its share of waiting workflow tasks (none for a worker caching fewer than two runs), a bounded
    allocation fails at once: the task lets its slot and cache entry go and asks through an activity."""
    assert [local_waits(cache, 100) for cache in (0, 1, 2, 40, 2000)] == [0, 0, 1, 20, 50]
    assert [local_waits(2000, slots) for slots in (1, 2, 40)] == [0, 1, 20]
    env = ActivityEnvironment()
    activities = InvoiceActivities(dev_server_env.client, f"m-{uuid.uuid4().hex[:8]}", LocalWaits(0))
    started = time.monotonic()
    with pytest.raises(ApplicationError, match="already wait") as refused:
        await env.run(activities.allocate, AllocateNumber(document_id="sub-w-p1", wait_s=30))
    assert refused.value.type == NUMBER_NOT_READY and time.monotonic() - started < 5


async def test_a_sequence_started_on_the_engines_queue_moves_to_the_ledger_queue_at_continue_as_new(
    dev_server_env: WorkflowEnvironment,
) -> None:
    """A sequence started before ledger queues existed runs on the engine's queue: it keeps answering there,
    continues as new on the ledger queue with its numbers, and its next numbers come from there."""
    client = dev_server_env.client
    queue = f"seq-{uuid.uuid4().hex[:8]}"
    wf_id = f"invoice-seq:m-{uuid.uuid4().hex[:8]}:default"
    workers = [
        Worker(client, task_queue=q, workflows=[InvoiceSequenceWorkflow], workflow_runner=UnsandboxedWorkflowRunner())
        for q in (queue, ledger_task_queue(queue))
    ]
    async with workers[0], workers[1]:
        handle = await client.start_workflow(
            InvoiceSequenceWorkflow.run, SequenceState(history_limit=30), id=wf_id, task_queue=queue
        )
        numbers = [await handle.execute_update(InvoiceSequenceWorkflow.allocate, f"inv-{i}") for i in range(12)]
        assert numbers == list(range(1, 13))
        latest = client.get_workflow_handle(wf_id)
        described = await latest.describe()
        assert described.run_id != handle.first_execution_run_id, "continued as new"
        assert described.task_queue == f"{queue}-ledger"
        assert await latest.execute_update(InvoiceSequenceWorkflow.allocate, "inv-3") == 4, "carried over"
        assert await latest.execute_update(InvoiceSequenceWorkflow.allocate, "inv-new") == 13
        await latest.terminate("test done")


async def test_a_burst_of_bounded_allocations_travels_in_few_updates_and_numbers_each_id_once(
    dev_server_env: WorkflowEnvironment,
) -> None:
    """200 workflow tasks of one worker ask one sequence at once (a burst of renewals): the server runs at
    most 10 Updates of one workflow at a time and refuses more, so one Update per number queued them behind
    its retries (past their bound). Sent together, every id gets its number within the bound, the numbers are
    exactly 1..200, an id asked twice at once gets one number, and a few Updates carried them all."""
    client = dev_server_env.client
    queue = f"seq-{uuid.uuid4().hex[:8]}"
    activities = InvoiceActivities(client, f"m-{uuid.uuid4().hex[:8]}", LocalWaits(500))
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, task_queue=queue)
    ids = [f"sub-{i}-p2" for i in range(200)]
    async with Worker(
        client,
        task_queue=ledger_task_queue(queue),
        workflows=[InvoiceSequenceWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        numbers = await asyncio.gather(
            *(env.run(activities.allocate, AllocateNumber(document_id=i, wait_s=30)) for i in [*ids, ids[7]])
        )
        assert sorted(n.sequence for n in numbers[:200]) == list(range(1, 201))
        assert numbers[200] == numbers[7], "the same id, the same number"
        assert activities.batches.updates <= 40, activities.batches.updates
        again = await env.run(activities.allocate, AllocateNumber(document_id=ids[199]))
        assert again == numbers[199], "the ordinary allocation answers the same number"
        await client.get_workflow_handle(numbers[0].sequence_workflow_id).terminate("test done")
