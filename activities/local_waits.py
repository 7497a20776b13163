"""Bounded waits for another workflow of this namespace, from a workflow task's local activity.

A local activity runs inside its workflow's task and holds the worker's workflow task slot (and the run's
cache entry) while it waits. The workflows waited for (a merchant's invoice sequence, a customer's balance) run
on the ledger queue (:mod:`billing.queues`), whose worker has slots and a cache of its own, so waiting tasks
never hold what they wait for; but every task that waits holds a slot the engine's other workflows could use,
and a sequence started before ledger queues existed still runs on the engine's queue until its next
continue-as-new. So a worker lets at most :func:`local_waits` tasks wait at once, each for a bounded time; a
wait refused or run out fails with :data:`NOT_READY` and the workflow asks again through the ordinary activity,
which holds no workflow task slot (the same idempotent request, the same answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError

T = TypeVar("T")

#: The error type of a bounded wait refused or run out before the other workflow answered.
NOT_READY = "NotReady"
#: At most this many workflow tasks of one worker wait at once (:func:`local_waits`).
LOCAL_WAITS_CAP = 50


def local_waits(max_cached_workflows: int, workflow_task_slots: int) -> int:
    """How many workflow tasks may wait at once on a worker: half of its cache and of its workflow task slots
    (at most :data:`LOCAL_WAITS_CAP`), so the other half is always there for the engine's other workflows (and
    for a sequence still on the engine's queue). Zero (every request through the ordinary activity) for a
    worker whose cache holds fewer than two runs."""
    return max(0, min(LOCAL_WAITS_CAP, max_cached_workflows // 2, workflow_task_slots // 2))


class LocalWaits:
    """The bounded waits of one worker's workflow tasks, counted across every activity that waits."""

    def __init__(self, limit: int = LOCAL_WAITS_CAP) -> None:
        self.limit = limit
        self.waiting = 0

    async def bounded(self, answer: Callable[[], Awaitable[T]], wait_s: float, what: str, *,
                      error_type: str = NOT_READY) -> T:  # fmt: skip
        """``answer()`` if it comes within ``wait_s`` and fewer than :attr:`limit` tasks wait already; else a
        non-retryable ApplicationError of ``error_type``. An Update accepted stays with its workflow: asking
        again with the same request answers the same (one never accepted did nothing)."""
        if self.waiting >= self.limit:
            # Enough workflow tasks of this worker wait already: this one lets its slot go at once.
            raise ApplicationError(
                f"{self.waiting} workflow tasks here already wait; {what} asked again", type=error_type,
                non_retryable=True,
            )  # fmt: skip
        self.waiting += 1
        try:
            return await asyncio.wait_for(answer(), wait_s)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise ApplicationError(f"no answer for {what} within {wait_s:g} s", type=error_type,
                                   non_retryable=True) from None  # fmt: skip
        finally:
            self.waiting -= 1
