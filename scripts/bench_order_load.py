"""Benchmark: one-time orders at a fixed arrival rate (open loop), on the in-memory Temporal dev server.

Every order takes the path of ``scripts/bench_orders.py`` (create, the emulator's customer pays, signed
webhook, PAID), with the same stack: worker, Waffo emulator and webhook service in this process. The run
has two phases:

1. **Saturation** (closed loop, skipped with ``--rate``): ``--saturation-orders`` orders with
   ``--concurrency`` in flight, each lane starting its next order when the last one is PAID; orders PAID per
   second is the saturation rate.
2. **Open loop**: orders arrive on a schedule set by the clock, order *i* at ``t0 + i / rate`` for
   ``--duration`` seconds, at ``--rate`` or ``--fraction`` of the saturation rate. An arrival starts when
   its time comes whether or not earlier orders are done; one that comes late (the event loop was busy) is
   started at once, never skipped, and its lateness is reported.

Figures of the open-loop phase: webhook receipt → PAID (the first status query after the webhook reply
that answers PAID, as in ``bench_orders.py``) p50 / p95 / p99, the same up to the server's PAID upsert,
scheduled arrival → PAID, arrival lateness, orders in flight, and CPU per order.

    .venv/bin/python scripts/bench_order_load.py --duration 180
    .venv/bin/python scripts/bench_order_load.py --rate 5 --duration 30 --json
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from billing.orders import order_workflow_id
from scripts import benchlib
from scripts.bench_orders import (
    OrderSample,
    Phase,
    ProgressDisplay,
    Stack,
    _ms,
    _num,
    dev_server_pid,
    measured,
    order_stack,
    own_cpu_s,
    process_cpu_s,
    read_order_history,
    run_order,
    summary_ms,
)


def latency_ms(values: list[float]) -> dict[str, float | None]:
    return summary_ms(values, (50, 95, 99))


@dataclass
class Arrival:
    sample: OrderSample
    scheduled: float  # monotonic time the clock assigned to this arrival
    started: float | None = None  # monotonic time its order was started


@dataclass
class OpenLoop:
    arrivals: list[Arrival]
    rate: float
    wall_s: float  # first scheduled arrival → last order finished (PAID or failed)
    cpu_self_s: float
    cpu_server_s: float | None
    max_in_flight: int
    load_average_before: tuple[float, float, float]


async def open_loop(
    stack: Stack,
    samples: list[OrderSample],
    rate: float,
    order_timeout: float,
    progress: ProgressDisplay,
    server: int | None,
) -> OpenLoop:
    """Start ``samples`` at ``rate`` per second by the clock; wait for all of them."""
    load_before = os.getloadavg()
    cpu0, server0 = own_cpu_s(), process_cpu_s(server)
    in_flight = max_in_flight = 0
    tasks: list[asyncio.Task[None]] = []

    async def one(arrival: Arrival) -> None:
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        try:
            await run_order(stack, arrival.sample, order_timeout)
        finally:
            in_flight -= 1
            progress.advance()

    t0 = time.monotonic() + 0.05
    arrivals = [Arrival(sample, t0 + index / rate) for index, sample in enumerate(samples)]
    async with progress.phase(f"open loop at {rate:.2f}/s", len(arrivals)):
        for arrival in arrivals:
            delay = arrival.scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # Late or not, the arrival is started now: an open loop never skips one.
            arrival.started = time.monotonic()
            tasks.append(asyncio.create_task(one(arrival)))
        await asyncio.gather(*tasks)
    ended = time.monotonic()
    cpu1, server1 = own_cpu_s(), process_cpu_s(server)
    return OpenLoop(
        arrivals=arrivals,
        rate=rate,
        wall_s=ended - t0,
        cpu_self_s=cpu1 - cpu0,
        cpu_server_s=(server1 - server0) if server0 is not None and server1 is not None else None,
        max_in_flight=max_in_flight,
        load_average_before=load_before,
    )


async def benchmark(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    progress = ProgressDisplay(console, enabled=not args.quiet)
    console.print("Starting the Temporal dev server (in memory) and the order stack…", highlight=False)
    env = await benchlib.start_dev_server()
    server_pid = dev_server_pid()
    workflow_ids: list[str] = []
    prefix = uuid.uuid4().hex[:6]

    def orders(kind: str, n: int) -> list[OrderSample]:
        samples = [OrderSample(order_id=f"bench-{prefix}-{kind}-{i:05d}") for i in range(n)]
        workflow_ids.extend(order_workflow_id(s.order_id) for s in samples)
        return samples

    try:
        async with asyncio.timeout(args.timeout), order_stack(env.client, args, console) as stack:

            async def order(sample: OrderSample) -> None:
                await run_order(stack, sample, args.order_timeout)

            if args.warmup:
                async with progress.phase("warm-up", args.warmup):
                    for sample in orders("warmup", args.warmup):
                        await order(sample)
                        progress.advance()

            saturation: Phase | None = None
            rate = args.rate
            if rate is None:
                saturation = await measured(
                    "saturation (closed loop)",
                    orders("saturation", args.saturation_orders),
                    args.concurrency,
                    order,
                    progress,
                    args.timeout,
                    server_pid,
                    lambda s: s.paid,
                )
                if not saturation.rate:
                    raise RuntimeError("no order was PAID in the saturation phase")
                rate = saturation.rate * args.fraction
            count = max(1, round(rate * args.duration))
            loop = await open_loop(stack, orders("open", count), rate, args.order_timeout, progress, server_pid)

            console.print("Reading histories…", highlight=False)
            paid = [a.sample for a in loop.arrivals if a.sample.paid is not None]
            await benchlib.for_each(paid, 10, lambda s: read_order_history(env.client, s))
            return report_data(args, stack, saturation, loop)
    finally:
        await benchlib.stop_dev_server(env, workflow_ids, console, timeout=180)


def report_data(args: argparse.Namespace, stack: Stack, saturation: Phase | None, loop: OpenLoop) -> dict[str, Any]:
    hooks = stack.webhooks
    samples = [a.sample for a in loop.arrivals]
    paid = [a for a in loop.arrivals if a.sample.paid is not None]
    receipt_to_paid = [
        a.sample.paid - hooks.received[a.sample.order_id][0]
        for a in paid
        if a.sample.paid is not None and a.sample.order_id in hooks.received
    ]
    receipt_to_event = [
        a.sample.paid_event_wall - hooks.received[a.sample.order_id][1]
        for a in paid
        if a.sample.paid_event_wall is not None and a.sample.order_id in hooks.received
    ]
    arrival_to_paid = [a.sample.paid - a.scheduled for a in paid if a.sample.paid is not None]
    lateness = [a.started - a.scheduled for a in loop.arrivals if a.started is not None]
    starts = [a.started for a in loop.arrivals if a.started is not None]
    done = max(len(paid), 1)
    return {
        **benchlib.versions(),
        "emulator": args.emulator,
        "load_average_before": loop.load_average_before,
        "load_average_at_end": os.getloadavg(),
        "saturation": None
        if saturation is None
        else {
            "orders": saturation.count,
            "paid": saturation.completed,
            "concurrency": args.concurrency,
            "per_s": saturation.rate,
            "wall_s": saturation.wall_s,
            "timed_out": saturation.timed_out,
        },
        "open_loop": {
            "rate_per_s": loop.rate,
            "rate_from": "--rate" if saturation is None else f"{args.fraction:g} × saturation",
            "duration_s": args.duration,
            "arrivals": len(loop.arrivals),
            "arrival_rate_achieved_per_s": (len(starts) - 1) / (max(starts) - min(starts)) if len(starts) > 1 else None,
            "paid": len(paid),
            "failed": len(samples) - len(paid),
            "wall_s": loop.wall_s,
            "max_in_flight": loop.max_in_flight,
            "cpu_bench_process_ms_per_order": 1000 * loop.cpu_self_s / done,
            "cpu_dev_server_ms_per_order": None if loop.cpu_server_s is None else 1000 * loop.cpu_server_s / done,
        },
        "latency": {
            "webhook_receipt_to_paid_query": latency_ms(receipt_to_paid),
            "webhook_receipt_to_paid_event": latency_ms(receipt_to_event),
            "scheduled_arrival_to_paid": latency_ms(arrival_to_paid),
            "arrival_lateness": latency_ms(lateness),
        },
        "failed_orders": len(samples) - len(paid),
        "errors": sorted({s.error for s in samples if s.error})[:10],
    }


def print_report(data: dict[str, Any], console: Console) -> None:
    loop, latency, saturation = data["open_loop"], data["latency"], data["saturation"]
    table = Table(title="Order load at a fixed arrival rate (in-memory Temporal dev server)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("note")
    table.add_row(
        "versions",
        f"Python {data['python']} · temporalio {data['temporalio']}",
        f"{data['cpus']} CPUs, load {data['load_average_before'][0]:.2f} before, "
        f"{data['load_average_at_end'][0]:.2f} at end",
    )
    if saturation is not None:
        table.add_row(
            "saturation (closed loop), orders PAID/s",
            f"{_num(saturation['per_s'])}/s",
            f"{saturation['paid']}/{saturation['orders']} paid, concurrency {saturation['concurrency']}",
        )
    table.add_section()
    table.add_row(
        "open loop: arrival rate",
        f"{loop['rate_per_s']:.2f}/s",
        f"{loop['rate_from']}, achieved {_num(loop['arrival_rate_achieved_per_s'], 2)}/s",
    )
    table.add_row(
        "arrivals PAID", f"{loop['paid']}/{loop['arrivals']}", f"{loop['duration_s']:g} s, {loop['wall_s']:.1f} s wall"
    )
    table.add_row("orders in flight, max", str(loop["max_in_flight"]), "")
    for label, key in (
        ("webhook receipt → PAID query answer", "webhook_receipt_to_paid_query"),
        ("webhook receipt → PAID event recorded", "webhook_receipt_to_paid_event"),
        ("scheduled arrival → PAID query answer", "scheduled_arrival_to_paid"),
        ("arrival lateness (started − scheduled)", "arrival_lateness"),
    ):
        figures = latency[key]
        table.add_row(
            f"{label}, p50 / p95 / p99",
            f"{_ms(figures['p50_ms'])} / {_ms(figures['p95_ms'])} / {_ms(figures['p99_ms'])}",
            f"max {_ms(figures['max_ms'])}",
        )
    table.add_row(
        "CPU per order: bench process / dev server",
        f"{_num(loop['cpu_bench_process_ms_per_order'])} / {_num(loop['cpu_dev_server_ms_per_order'])} ms",
        "",
    )
    console.print(table)
    if data["failed_orders"]:
        console.print(f"[red]{data['failed_orders']} orders not paid.[/] Errors: {data['errors']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure the closed-loop saturation rate of one-time orders, then run orders arriving at a fixed "
            "rate (a fraction of it, or --rate) for --duration seconds; report webhook receipt → PAID "
            "p50/p95/p99 under that load."
        )
    )
    parser.add_argument("--rate", type=float, default=None, help="arrivals per second (default: measure saturation)")
    parser.add_argument("--fraction", type=float, default=0.5, help="share of the saturation rate to run at")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of arrivals in the open loop")
    parser.add_argument("--saturation-orders", type=int, default=300, help="orders of the closed-loop phase")
    parser.add_argument("--concurrency", "-c", type=int, default=20, help="orders in flight in the closed loop")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured orders run first, one at a time")
    benchlib.add_process_options(parser)
    parser.add_argument("--order-timeout", type=float, default=60.0, help="seconds one order may take")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds the whole run may take")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    if not 0 < args.fraction <= 1 or args.duration <= 0:
        parser.error("--fraction must be in (0, 1] and --duration positive")
    if args.saturation_orders < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--saturation-orders and --concurrency must be positive, --warmup non-negative")
    args.baseline_module = "passthrough"  # order_stack also starts the (idle) baseline worker
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = benchlib.run_benchmark(args, benchmark, print_report, width=130)
    return 1 if data["failed_orders"] else 0


if __name__ == "__main__":
    benchlib.exit_now(main())
