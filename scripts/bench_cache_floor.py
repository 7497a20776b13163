"""The floor under ``bench_subscriptions.py``'s memory figure: what the SDK keeps per cached idle run of a
workflow that does next to nothing, on the same worker set-up.

A worker process (this file, ``--worker``) runs ``FloorWorkflow`` (wait for one signal, then sleep a
day) with the engine's workflow runner (worker.workflow_runner) and data converter, and a workflow cache larger
than N. This process starts N runs on an in-memory dev server, signals each, waits until the worker is
idle, and reports the worker's VmRSS growth per run, measured as in ``bench_subscriptions.py`` (after a
warm-up; N in two halves, the second half alone reported too).

    .venv/bin/python scripts/bench_cache_floor.py --runs 1000
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import timedelta

from temporalio import workflow

TASK_QUEUE = "cache-floor"
SCRIPT = Path(__file__).resolve()


@workflow.defn(name="CacheFloorWorkflow")
class FloorWorkflow:
    """One signal, one timer: the least a long-lived workflow holds."""

    def __init__(self) -> None:
        self.signalled = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.signalled)
        await workflow.sleep(timedelta(days=1))

    @workflow.signal
    def poke(self) -> None:
        self.signalled = True


async def serve(address: str, cache: int) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from billing.temporal import data_converter
    from worker import workflow_runner

    converter = data_converter()
    client = await Client.connect(address, data_converter=converter)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[FloorWorkflow],
        workflow_runner=workflow_runner(),
        max_cached_workflows=cache,
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


async def settled_rss(pid: int) -> int:
    """The worker's VmRSS in kB once it is idle (its activations done), as bench_subscriptions measures."""
    from scripts.bench_orders import process_cpu_s
    from scripts.bench_subscriptions import read_memory_kb, settle

    await settle(lambda: process_cpu_s(pid))
    return read_memory_kb(pid)["VmRSS"]


async def measure(runs: int, concurrency: int) -> dict[str, float]:
    from scripts.benchlib import start_dev_server

    env = await start_dev_server()
    address = env.client.service_client.config.target_host
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--worker",
        address,
        "--cache",
        str(runs * 2 + 100),
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(SCRIPT.parent.parent)),
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 120)
        if line.strip() != b"ready":
            raise RuntimeError("the worker did not start")
        prefix = uuid.uuid4().hex[:6]
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                handle = await env.client.start_workflow(
                    FloorWorkflow.run, id=f"floor-{prefix}-{index}", task_queue=TASK_QUEUE
                )
                await handle.signal(FloorWorkflow.poke)

        async def batch(indexes: range) -> None:
            await asyncio.gather(*(one(i) for i in indexes))

        await batch(range(runs, runs + 20))  # warm-up
        before = await settled_rss(child.pid)
        half = runs // 2
        started = time.monotonic()
        await batch(range(half))
        middle = await settled_rss(child.pid)
        await batch(range(half, runs))
        after = await settled_rss(child.pid)
        return {
            "runs": runs,
            "kb_per_run": (after - before) / runs,
            "second_half_kb_per_run": (after - middle) / max(runs - half, 1),
            "seconds": time.monotonic() - started,
        }
    finally:
        child.terminate()
        await asyncio.wait_for(child.wait(), 30)
        await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", "-n", type=int, default=1000, help="workflow runs to keep cached")
    parser.add_argument("--concurrency", type=int, default=50, help="starts in flight at once")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=int, default=4000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(serve(args.worker, args.cache))
        return
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    figures = asyncio.run(measure(args.runs, args.concurrency))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"{figures['runs']} cached idle runs of a one-signal, one-timer workflow: "
        f"{figures['kb_per_run']:.1f} KB each (second half alone {figures['second_half_kb_per_run']:.1f} KB)"
    )


if __name__ == "__main__":
    # Run from the module imported under its package name, so the sandbox sees scripts.bench_cache_floor.
    from scripts import bench_cache_floor
    from scripts.benchlib import exit_now

    bench_cache_floor.main()
    exit_now(0)
