"""CustomerBalanceWorkflow on the real dev server, through BillingClient: concurrent movements never overspend,
a reference moves once however often it is sent, and the balance survives continue-as-new."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from billing import errors
from billing.balance import BalanceChange, BalanceState, LedgerEntry, balance_workflow_id
from billing.money import Money
from billing.queues import ledger_task_queue
from starter.client import BillingClient
from worker import checking_workflow_runner
from workflows.balance import CustomerBalanceWorkflow


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


@pytest.fixture
async def billing(dev_server_env: WorkflowEnvironment) -> AsyncIterator[BillingClient]:
    queue = f"balance-{uuid.uuid4().hex[:8]}"
    async with Worker(
        dev_server_env.client,
        task_queue=ledger_task_queue(queue),
        workflows=[CustomerBalanceWorkflow],
        workflow_runner=checking_workflow_runner(),
    ):
        yield BillingClient(dev_server_env.client, task_queue=queue)


async def test_fifty_concurrent_debits_and_credits_never_overspend(billing: BillingClient) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    await billing.credit_balance(customer, usd(1000), reason="opening", reference="open")

    async def move(i: int) -> LedgerEntry | errors.InvalidStateError:
        if i % 3 == 0:
            return await billing.credit_balance(customer, usd(100), reason="goodwill", reference=f"c{i}")
        try:
            return await billing.debit_balance(customer, usd(150), reason="spend", reference=f"d{i}")
        except errors.InvalidStateError as exc:
            return exc

    results = await asyncio.gather(*(move(i) for i in range(50)))
    accepted = [e for e in results if isinstance(e, LedgerEntry)]
    assert all(r.field == "amount" for r in results if isinstance(r, errors.InvalidStateError))
    refused = len(results) - len(accepted)
    credits, debits = 17, 33
    assert sum(1 for e in accepted if e.amount.amount_minor < 0) == debits - refused
    # 1000 + 17 * 100 = 2700 can pay at most 18 debits of 150: the rest are refused, whatever the order.
    assert refused >= debits - 18
    assert all(e.balance_after.amount_minor >= 0 for e in accepted)
    final = await billing.get_balance(customer)
    assert final.of("USD") == usd(1000 + sum(e.amount.amount_minor for e in accepted))
    assert final.of("USD").amount_minor >= 0
    assert final.entries == 1 + len(accepted) == 1 + credits + debits - refused
    assert sorted(e.seq for e in accepted) == list(range(2, 2 + len(accepted)))


async def test_fifty_concurrent_movements_with_one_reference_move_once(billing: BillingClient) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    await billing.credit_balance(customer, usd(1000), reason="opening", reference="open")
    entries = await asyncio.gather(
        *(billing.apply_balance(customer, usd(300), reason="invoice", reference="SUB-1-p2") for _ in range(50))
    )
    assert len({e.model_dump_json() for e in entries}) == 1
    assert entries[0].amount == usd(-300)
    balance = await billing.get_balance(customer, currency="usd")
    assert balance.balances == [usd(700)] and balance.entries == 2
    with pytest.raises(errors.ConflictError) as conflict:
        await billing.debit_balance(customer, usd(300), reason="spend", reference="SUB-1-p2")
    assert conflict.value.field == "reference"


async def test_bad_input_is_refused_naming_the_field_and_an_unknown_customer_has_nothing(
    billing: BillingClient,
) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    empty = await billing.get_balance(customer, currency="EUR")
    assert empty.balances == [Money.zero("EUR")] and empty.recent == []
    for kwargs, field in (
        ({"amount": usd(0), "reason": "x", "reference": "r"}, "amount"),
        ({"amount": usd(5), "reason": " ", "reference": "r"}, "reason"),
        ({"amount": usd(5), "reason": "x", "reference": ""}, "reference"),
        ({"amount": usd(5), "reason": "x", "reference": "r" * 129}, "reference"),
    ):
        with pytest.raises(errors.InputError) as refused:
            await billing.credit_balance(customer, **kwargs)  # type: ignore[arg-type]
        assert refused.value.field == field
    with pytest.raises(errors.InvalidStateError) as overspend:
        await billing.debit_balance(customer, usd(1), reason="spend", reference="d1")
    assert overspend.value.field == "amount"
    # Refused in the workflow's validator, not only by the client: a raw update names the field too.
    handle = billing.temporal.get_workflow_handle(balance_workflow_id("default", customer))
    with pytest.raises(WorkflowUpdateFailedError) as raw:
        await handle.execute_update(
            CustomerBalanceWorkflow.credit, BalanceChange(amount=usd(-1), reason="x", reference="raw")
        )
    cause = raw.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidAmountError"
    assert cause.details == ("amount",)
    assert (await billing.get_balance(customer)).balances == []


async def test_the_balance_and_its_references_survive_continue_as_new(
    dev_server_env: WorkflowEnvironment, billing: BillingClient
) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    client = dev_server_env.client
    workflow_id = balance_workflow_id("default", customer)
    handle = await client.start_workflow(
        CustomerBalanceWorkflow.run,
        BalanceState(merchant="default", customer_id=customer, history_limit=40),
        id=workflow_id,
        task_queue=ledger_task_queue(billing.task_queue),
    )
    first_run = (await handle.describe()).run_id
    entries = [await billing.credit_balance(customer, usd(10), reason="goodwill", reference=f"r{i}") for i in range(30)]
    assert (await client.get_workflow_handle(workflow_id).describe()).run_id != first_run
    again = await billing.credit_balance(customer, usd(10), reason="goodwill", reference="r0")
    assert again == entries[0]
    balance = await billing.get_balance(customer)
    assert balance.of("USD") == usd(300) and balance.entries == 30
    await client.get_workflow_handle(workflow_id).terminate("test done")
