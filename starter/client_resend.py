"""Sending a client command again while the server did not take it: every command is an idempotent Update, so
a refusal that says nothing was applied (the run's workflow task being retried, an Update the run did not
process) is answered by sending the same Update again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.api.errordetails.v1 import MultiOperationExecutionFailure, WorkflowNotReadyFailure
from temporalio.service import RPCError, RPCStatusCode

R = TypeVar("R")

#: How long a command is sent again while the run's workflow task is being retried (its worker died or
#: failed the task) before the server's refusal is raised.
NOT_READY_PATIENCE_S = 60.0


def workflow_not_ready(exc: BaseException) -> bool:
    """The server refused an Update because the run's workflow task is being retried (a worker killed or
    failing mid-task): nothing was applied, and the same Update is admitted once a worker runs the task."""
    if not isinstance(exc, RPCError) or exc.status is not RPCStatusCode.FAILED_PRECONDITION:
        return False
    details = list(exc.grpc_status.details)
    for detail in list(details):
        multi = MultiOperationExecutionFailure()
        if detail.Unpack(multi):
            details.extend(any_detail for status in multi.statuses for any_detail in status.details)
    return any(detail.Is(WorkflowNotReadyFailure.DESCRIPTOR) for detail in details)


async def admitted(
    send: Callable[[], Awaitable[R]],
    *,
    resend_when: Callable[[BaseException], bool] = workflow_not_ready,
    patience_s: float = NOT_READY_PATIENCE_S,
    first_pause_s: float = 0.1,
    max_pause_s: float = 2.0,
) -> R:
    """``send()`` an Update (idempotent, as every command of this client is), again while its refusal is one
    ``resend_when`` names (by default: the run's workflow task is being retried), pausing twice as long each
    time, for up to ``patience_s``; any other answer is returned or raised as it is."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    delay = first_pause_s
    while True:
        try:
            return await send()
        except Exception as exc:
            if not resend_when(exc) or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_pause_s)
