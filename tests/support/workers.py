"""The engine's worker as a child process (``billing worker``, :data:`starter.stackbuilder.WORKER_ARGV`) for
end-to-end tests: waited for until it polls its queue, killed with SIGKILL by its process id; what
it left running on its queue terminated."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from host.serving import ChildProcess
from starter import stackbuilder
from tests.support.stack import test_merchant


def worker_processes(
    client: Client, *, emulator_url: str, http_url: str, task_queue: str, count: int, log_dir: Path, **settings: str
) -> list[ChildProcess]:
    """``count`` worker processes (not started: ``worker-1``, ``worker-2``...) of the test merchant on
    ``task_queue``, at the emulators and HTTP service given, with no shutdown grace (a stop is a kill) and
    ``settings`` (``BILLING_*`` names) on top; each logs to ``log_dir/<name>.log``."""
    env = stackbuilder.service_environment(
        test_merchant(),
        temporal_address=client.service_client.config.target_host,
        emulator_url=emulator_url,
        http_url=http_url,
        base=os.environ,
        BILLING_TEMPORAL_TASK_QUEUE=task_queue,
        BILLING_WORKER_GRACE_SECONDS="0",
        **settings,
    )
    names = [f"worker-{n}" for n in range(1, count + 1)]
    return [ChildProcess(name, stackbuilder.WORKER_ARGV, log_path=log_dir / f"{name}.log", env=env) for name in names]


async def wait_for_poller(client: Client, task_queue: str, timeout: float = 30) -> None:
    """Until a worker polls ``task_queue`` for workflow tasks; AssertionError after ``timeout`` seconds."""
    request = DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                                       task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)  # fmt: skip
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (await client.workflow_service.describe_task_queue(request)).pollers:
        assert loop.time() < deadline, "the worker never polled"
        await asyncio.sleep(0.2)


def kill_hard(worker: ChildProcess) -> None:
    """SIGKILL to the worker's own pid (no grace, no goodbye to the server), and wait until it is gone."""
    os.kill(worker.pid, signal.SIGKILL)
    assert worker.process is not None
    worker.process.wait(timeout=10)
    assert not worker.running()


async def terminate_queue(client: Client, task_queue: str) -> None:
    """Terminate every workflow still running on ``task_queue`` (a test's own queue, when it ends)."""
    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query):
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test finished")
