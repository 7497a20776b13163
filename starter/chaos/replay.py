"""Replay every order's history against the worker's workflow code, as a new worker would after a crash.

A history that does not replay (a nondeterminism error) is a workflow no other worker can take over: its
queries fail and it makes no progress once the worker that ran it is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from temporalio.client import Client
from temporalio.worker import Replayer

from billing.temporal import data_converter
from worker import WORKFLOWS, workflow_runner


async def replay_failures(client: Client, workflow_ids: Iterable[str], *, concurrency: int = 4) -> dict[str, str]:
    """workflow id -> the replay failure, for each history that does not replay (unreadable ones skipped)."""
    converter = data_converter()
    replayer = Replayer(workflows=WORKFLOWS, data_converter=converter, workflow_runner=workflow_runner())
    failures: dict[str, str] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> None:
        async with gate:
            try:
                history = await client.get_workflow_handle(workflow_id).fetch_history()
            except Exception:
                return
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            if result.replay_failure is not None:
                failures[workflow_id] = str(result.replay_failure)[:300]

    await asyncio.gather(*(one(workflow_id) for workflow_id in workflow_ids))
    return failures
