"""The engine's task queues.

A worker process polls two: the engine's task queue (``BILLING_TEMPORAL_TASK_QUEUE``, every workflow and
activity) and its *ledger queue*, ``<task queue>-ledger``, for the workflows that other workflows' tasks wait
for: a merchant's invoice sequences (:class:`workflows.invoice_sequence.InvoiceSequenceWorkflow`) and the
customers' credit balances (:class:`workflows.balance.CustomerBalanceWorkflow`). On a queue of their own they
have workflow task slots and a cache of their own, so a subscription's workflow task that waits for a number or
a balance never holds what the sequence or balance needs to answer.
"""

from __future__ import annotations

#: What a ledger queue's name ends with.
LEDGER_SUFFIX = "-ledger"


def is_ledger_task_queue(task_queue: str) -> bool:
    return task_queue.endswith(LEDGER_SUFFIX)


def ledger_task_queue(task_queue: str) -> str:
    """The ledger queue that goes with ``task_queue`` (itself, for a ledger queue)."""
    return task_queue if is_ledger_task_queue(task_queue) else f"{task_queue}{LEDGER_SUFFIX}"
