"""What every benchmark script does the same way around its measurements: the process set-up (bytecode cache,
logging, the options that choose it), the in-memory dev server (started with the engine's search attributes
and converter; stopped after terminating the workflows the run started), the versions each report names,
and printing the figures (JSON or a table) then exiting without interpreter finalization.

The measurements themselves, and the helpers they share (keys, emulator, progress, statistics, CPU
accounting), are in the scripts: see ``bench_orders.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn

import temporalio
from rich.console import Console
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

# -- the process ------------------------------------------------------------------------------------


def add_process_options(parser: argparse.ArgumentParser) -> None:
    """``--emulator`` and ``--bytecode``, which every script that runs the engine takes."""
    parser.add_argument(
        "--emulator",
        choices=["inprocess", "process"],
        default="inprocess",
        help="serve the Waffo emulator in this process (as the tests do) or in a child process",
    )
    parser.add_argument(
        "--bytecode",
        choices=["cache", "as-is"],
        default="cache",
        help=(
            "cache: if PYTHONDONTWRITEBYTECODE is set, keep bytecode in a temporary directory, as a "
            "deployed worker has it; as-is: leave it"
        ),
    )


def enable_bytecode_cache() -> str:
    """Let imports read and write bytecode in a temporary directory, outside the repository.

    A deployed worker imports from compiled bytecode. Without it (``PYTHONDONTWRITEBYTECODE`` set and no
    ``__pycache__``) start-up compiles every module from source, and a workflow module the sandbox
    re-executes for every run (the baseline with ``--baseline-module reimport``) is compiled every run.
    """
    if not sys.flags.dont_write_bytecode and sys.pycache_prefix is None:
        return "default"
    sys.pycache_prefix = tempfile.mkdtemp(prefix="bench-pycache-")
    atexit.register(shutil.rmtree, sys.pycache_prefix, ignore_errors=True)
    sys.dont_write_bytecode = False
    return "temporary"


def run_benchmark(
    args: argparse.Namespace,
    benchmark: Callable[[argparse.Namespace, Console], Coroutine[Any, Any, dict[str, Any]]],
    print_report: Callable[[dict[str, Any], Console], None],
    *,
    width: int,
) -> dict[str, Any]:
    """Set the process up as ``args`` say (``args.bytecode_cache`` tells how bytecode was found), run
    ``benchmark`` with progress on stderr, print its figures (``--json``: as JSON on stdout; otherwise as
    ``print_report``'s table, ``width`` columns wide when stdout is not a terminal), and return them."""
    import logging

    if args.bytecode == "cache":
        args.bytecode_cache = enable_bytecode_cache()
    else:
        args.bytecode_cache = "off" if sys.flags.dont_write_bytecode else "default"
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s %(message)s")
    data = asyncio.run(benchmark(args, Console(stderr=True)))
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        out = Console()
        print_report(data, out if out.is_terminal else Console(width=width))
    return data


def exit_now(code: int) -> NoReturn:
    """Exit once the figures are out, without interpreter finalization.

    The Temporal SDK's native threads can still call into Python while the interpreter finalizes, which
    now and then aborts the process ("PyGILState_Release ... finalizing") after the report was written;
    a benchmark's exit status should say whether the benchmark passed.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def versions() -> dict[str, Any]:
    """What every report names first: the Python and SDK versions and the machine's CPUs."""
    return {"python": platform.python_version(), "temporalio": temporalio.__version__, "cpus": os.cpu_count()}


# -- the dev server and the run's workflows ------------------------------------------------------------


async def start_dev_server() -> WorkflowEnvironment:
    """The Temporal dev server, in memory, with the engine's search attributes and data converter."""
    from billing import search_attributes
    from billing.temporal import data_converter
    from host.serving import stdout_to_stderr
    from starter.binaries import temporal_cli

    with stdout_to_stderr():  # the dev server prints its banner on stdout
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_cli()),
            search_attributes=list(search_attributes.ALL),
            data_converter=data_converter(),
            dev_server_extra_args=["--log-level", "error"],
        )


async def stop_dev_server(env: WorkflowEnvironment, workflow_ids: list[str], console: Console, timeout: float) -> None:
    """Terminate the workflows the run started (for at most ``timeout`` seconds), then stop the dev server."""
    console.print("Terminating benchmark workflows and stopping the dev server…", highlight=False)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout):
            await terminate(env.client, workflow_ids)
    await env.shutdown()


async def for_each(items: list[Any], concurrency: int, run: Callable[[Any], Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> None:
        async with gate:
            with contextlib.suppress(RPCError, TimeoutError):
                await run(item)

    await asyncio.gather(*(one(item) for item in items))


async def terminate(client: Client, workflow_ids: list[str]) -> None:
    async def one(workflow_id: str) -> None:
        await client.get_workflow_handle(workflow_id).terminate("benchmark finished")

    await for_each(workflow_ids, 20, one)
