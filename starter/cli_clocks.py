"""``billing clock create|show|advance``: test clocks for engine-billed subscriptions on the emulators.

A subscription is attached when it is created (``billing subscription create ... --test-clock CLOCK``);
``advance`` lives every attached subscription through what falls due up to the target time, in order, and
returns once all of them are idle at it. Only where ``BILLING_TEST_CLOCKS=enabled`` (``billing dev`` sets it).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer

from billing import errors
from billing.clocks import ClockState, ClockStep, parse_duration, parse_instant
from starter.cli_common import JsonOption, billing_client, console, emit, run

app = typer.Typer(help="Test clocks: simulated time for subscriptions on the emulators.", no_args_is_help=True)


def _print_clock(state: ClockState) -> None:
    console.print(f"[bold]{state.clock_id}[/] at {state.now.isoformat()}", highlight=False)
    for workflow_id in state.attached:
        console.print(f"  {workflow_id}", highlight=False)
    if not state.attached:
        console.print("  no subscription attached", style="dim")


@app.command("create")
def clock_create(
    clock_id: Annotated[str | None, typer.Option("--id", help="Clock id (default: generated)")] = None,
    start: Annotated[str | None, typer.Option("--start", help="Simulated start, ISO (default: now)")] = None,
    as_json: JsonOption = False,
) -> None:
    """A new test clock; attach subscriptions with `billing subscription create --test-clock ID`."""

    async def action() -> ClockState:
        begin = parse_instant(start, field="start") if start else None
        return await (await billing_client()).create_test_clock(clock_id=clock_id, start=begin)

    state = run(action)
    emit(state, as_json, lambda: _print_clock(state))


@app.command("show")
def clock_show(clock_id: Annotated[str, typer.Argument(help="Clock id")], as_json: JsonOption = False) -> None:
    """The clock's simulated time and its subscriptions."""

    async def action() -> ClockState:
        return await (await billing_client()).get_test_clock(clock_id)

    state = run(action)
    emit(state, as_json, lambda: _print_clock(state))


@app.command("advance")
def clock_advance(
    clock_id: Annotated[str, typer.Argument(help="Clock id")],
    to: Annotated[str | None, typer.Option("--to", help="Target time, ISO (2027-06-01)")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Or a duration: 90d, 2w, 12h, 30m")] = None,
    as_json: JsonOption = False,
) -> None:
    """Move the clock; every attached subscription lives through each due time in order. Waits until all are
    idle at the target; prints each step."""
    steps: list[ClockStep] = []

    def show(step: ClockStep) -> None:
        steps.append(step)
        if as_json:
            return
        upcoming = [when for when in step.due.values() if when is not None]
        nxt = f" · next due {min(upcoming).isoformat()}" if upcoming else ""
        console.print(f"{step.now.isoformat()}: {len(step.due)} subscription(s) idle{nxt}", highlight=False)
        for workflow_id, order_id in step.awaiting.items():
            until = step.due.get(workflow_id)
            closes = f" until {until.isoformat()}" if until is not None else ""
            console.print(
                f"  {workflow_id}: invoice order {order_id} awaits the customer's payment{closes}", highlight=False
            )

    async def action() -> ClockState:
        if (to is None) == (by is None):
            raise errors.InputError("give exactly one of --to and --by", field="to")
        billing = await billing_client()
        target: datetime
        if to is not None:
            target = parse_instant(to, field="to")
        else:
            assert by is not None
            target = (await billing.get_test_clock(clock_id)).now + parse_duration(by)
        return await billing.advance_test_clock(clock_id, target, progress=show)

    state = run(action)
    if as_json:
        body = {"clock": state.model_dump(mode="json"), "steps": [s.model_dump(mode="json") for s in steps]}
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        _print_clock(state)
