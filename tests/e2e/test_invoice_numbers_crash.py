"""Invoice numbers across worker crashes (issue #16): gap-free and unique although the worker, a separate
process, is killed with SIGKILL while numbers are being allocated.

Engine-charged WaafiPay subscriptions are created at once; each allocates its period-1 invoice number through
``invoices.allocate`` and the merchant's ``InvoiceSequenceWorkflow`` before its charge is asked. The worker
is killed once the sequence has been asked for some numbers but not all, read from the sequence's history on
the server (a query would wait for the very worker that is busy allocating); the next worker is killed once
it has asked for more; a third finishes. Allocations die between the sequence's answer and their completion
and run again on a later worker once their 30 s start-to-close timeout has passed: each must get the number
it was given, none a second one.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from billing.gateway import Customer
from billing.invoices import INVOICE_SERIES, document_number, sequence_workflow_id
from billing.subscriptions import Subscription
from host.serving import ChildProcess
from starter import stackbuilder
from starter.client import BillingClient
from tests.subscriptions.test_engine_invoiced import priced, start
from tests.support import stack
from tests.support.workers import kill_hard, terminate_queue, wait_for_poller, worker_processes

SUBSCRIPTIONS = 24
#: A sandbox wallet (PIN 1212, 1000.00): the payer approves each push.
WALLET = "252611111111"
#: Workers killed with SIGKILL during allocation, one after the other.
KILLS = 2


async def requested(client: Client, merchant: str) -> list[str]:
    """The invoice ids the merchant's sequence has been asked to number, once per ask, as the server
    recorded them: its ``request`` signals (the activity's path) and the ids of its accepted ``allocate_many``
    Updates (numbers taken in the subscriptions' own workflow tasks, sent together by the worker). Each is
    numbered by the sequence whatever the worker does next; a retried allocation asks again."""
    handle = client.get_workflow_handle(sequence_workflow_id(merchant, INVOICE_SERIES))
    asks: list[str] = []
    try:
        async for event in handle.fetch_history_events():
            if event.event_type is EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                signal = event.workflow_execution_signaled_event_attributes
                name, payloads = signal.signal_name, signal.input.payloads
                if name != "request":
                    continue
                (invoice_id,) = await client.data_converter.decode(payloads, [str])
                asks.append(invoice_id)
            elif event.event_type is EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                update = event.workflow_execution_update_accepted_event_attributes.accepted_request.input
                if update.name == "allocate_many":
                    (invoice_ids,) = await client.data_converter.decode(update.args.payloads, [list[str]])
                    asks.extend(invoice_ids)
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
    return asks


async def kill_during_allocation(
    client: Client, merchant: str, worker: ChildProcess, *, after: int, within: float
) -> list[str]:
    """SIGKILL ``worker`` once the sequence was asked for a number more than ``after`` times, while not every
    invoice was asked for or once one was asked again (a worker re-running an allocation its predecessor
    died in); the asks so far.

    Asks a dead worker sent before it died can be recorded after (the server holds an Update until the
    sequence's next task accepts it): those alone may bring every invoice in without an ask of ``worker``'s
    own, so the kill waits for ``worker``'s re-ask rather than landing when nothing is in flight."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        asks = await requested(client, merchant)
        if len(asks) > after and (len(set(asks)) < SUBSCRIPTIONS or len(asks) > SUBSCRIPTIONS):
            break
        assert loop.time() < deadline, f"no allocation in flight to kill in {within} s ({len(asks)} asks)"
        await asyncio.sleep(0.01)
    kill_hard(worker)
    return asks


async def settled(billing: BillingClient, subscription_id: str) -> Subscription:
    """The subscription once its period-1 invoice is numbered and its charge paid it."""
    return await billing.wait_for_subscription(
        subscription_id, lambda s: s.current_period == 1 and bool(s.invoices), timeout=timedelta(seconds=90)
    )


async def test_numbers_stay_gap_free_across_worker_kills(dev_server_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """The first worker dies while the first allocations are in flight; the second once it has asked the
    sequence for more (the invoices the first never asked for); a third finishes."""
    client = dev_server_env.client
    task_queue = f"seqkill-{uuid.uuid4().hex[:8]}"
    # A merchant of its own: its sequence numbers from 1.
    merchant = f"m-{task_queue}"
    async with (
        stack.emulator_hub() as (hub, emulator),
        stackbuilder.serve_http(client, stack.test_merchant()) as (_, http),
    ):
        # A kill can land while a period's wallet push waits for the payer: with the status query for pushes
        # on at both ends, that push is reconciled (within the heartbeat timeout) instead of reviewed by hand.
        hub.waafipay.config.tran_info_includes_api = True
        workers = worker_processes(
            client, emulator_url=emulator.url, http_url=http.url, task_queue=task_queue, count=KILLS + 1,
            log_dir=tmp_path, BILLING_WORKER_INVOICE_MERCHANT=merchant, BILLING_WAAFIPAY_TRAN_INFO_FOR_PUSHES="true",
        )  # fmt: skip
        billing = BillingClient(client, task_queue=task_queue, merchant=merchant)
        ids = [f"{task_queue}-{i:02d}" for i in range(SUBSCRIPTIONS)]
        try:
            workers[0].start()
            await wait_for_poller(client, task_queue)
            requests = [
                start(
                    sub_id,
                    provider="waafipay",
                    billing_mode=None,
                    plan=priced("wallet", "2.00"),
                    customer=Customer(customer_id=f"cust-{sub_id}", phone=WALLET),
                )
                for sub_id in ids
            ]
            creating = asyncio.gather(*(billing.create_subscription(r) for r in requests))
            kill_asks: list[list[str]] = []
            for worker, successor in itertools.pairwise(workers):
                after = len(kill_asks[-1]) if kill_asks else 0
                # Allocations killed with a worker run again once their 30 s start-to-close timeout passes.
                kill_asks.append(await kill_during_allocation(client, merchant, worker, after=after, within=50))
                successor.start()
                await wait_for_poller(client, task_queue)
            await creating
            subscriptions = await asyncio.gather(*(settled(billing, sub_id) for sub_id in ids))
            sequence = client.get_workflow_handle(sequence_workflow_id(merchant, INVOICE_SERIES))
            last = await sequence.query("last", result_type=int)
            in_sequence = {
                f"{sub_id}-p1": await sequence.query("number_of", f"{sub_id}-p1", result_type=int) for sub_id in ids
            }
        finally:
            for worker in workers:
                worker.stop()
            await terminate_queue(client, task_queue)

    assert len(set(kill_asks[0])) < SUBSCRIPTIONS, "the first kill landed before every number was asked for"
    invoices = {s.subscription_id: [(i.invoice_id, i.number) for i in s.invoices] for s in subscriptions}
    assert all(len(issued) == 1 for issued in invoices.values()), invoices
    numbers = {str(invoice_id): number for ((invoice_id, number),) in invoices.values()}
    assert sorted(numbers) == sorted(f"{sub_id}-p1" for sub_id in ids)
    assert sorted(numbers.values()) == [document_number(INVOICE_SERIES, n) for n in range(1, SUBSCRIPTIONS + 1)]
    assert {i: document_number(INVOICE_SERIES, n) for i, n in in_sequence.items()} == numbers, "one number per id"
    assert last == SUBSCRIPTIONS, "the sequence handed out exactly one number per invoice"
