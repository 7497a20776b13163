"""``billing trace``, ``billing replay`` and ``billing events listen``: tools around the engine."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from billing import errors
from starter.cli_common import JsonOption, console, emit, err_console, fail, run, serve_until_interrupted


def trace_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Output of processes run with OTEL_TRACES_EXPORTER=console (other lines are skipped); "
            "none or - reads stdin"
        ),
    ] = None,
    workflow_id: Annotated[
        str | None, typer.Option("--workflow-id", help="Only trees that reach this workflow, e.g. order-ORD-1")
    ] = None,
    trace_id: Annotated[str | None, typer.Option("--trace-id", help="Only this trace (a prefix is enough)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Join the console spans of the CLI, HTTP service and worker into one tree per trace.

    With `billing dev`, the HTTP service and worker print theirs into http.log and worker.log in its data
    directory: billing trace var/dev/worker.log var/dev/http.log create.out --workflow-id order-ORD-1
    """  # fmt: skip
    from starter import traces

    texts: list[str] = []
    for path in files or [Path("-")]:
        if str(path) == "-":
            texts.append(sys.stdin.read())
            continue
        try:
            texts.append(path.read_text(errors="replace"))
        except OSError as exc:
            raise fail(f"{path}: {exc.strerror or exc}", 2) from None
    spans = [span for text in texts for span in traces.read_spans(text)]
    if not spans:
        raise fail("no spans found (run the processes with OTEL_TRACES_EXPORTER=console)")
    roots = traces.build_forest(spans)
    if trace_id:
        wanted = trace_id.lower().removeprefix("0x")
        roots = [root for root in roots if root.trace_id.lower().removeprefix("0x").startswith(wanted)]
    if workflow_id:
        roots = [
            root
            for root in roots
            if traces.contains(root, lambda span: span.attributes.get("temporalWorkflowID") == workflow_id)
        ]
    if not roots:
        raise fail("no trace matches")
    if as_json:
        sys.stdout.write(json.dumps([traces.to_json(root) for root in roots], indent=2) + "\n")
    else:
        sys.stdout.write(traces.render(roots) + "\n")


def replay_command(
    query: Annotated[
        str | None,
        typer.Option(
            help='Visibility query of the workflows to replay, e.g. \'WorkflowType="OrderWorkflow" AND '
            'ExecutionStatus="Running"\' (namespace BILLING_TEMPORAL_NAMESPACE)'
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many workflows from --query")] = 1000,
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            help="An exported history (temporal workflow show --output json) or a directory of them; repeatable",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Replay workflow histories against this checkout's workflow code: run before deploying a new worker.

    Uses the worker's workflows, sandbox and data converter (codec keys from BILLING_CODEC_*). Each
    nondeterminism is reported with the workflow id and the first event that diverges; exit 1 if any
    history fails. Progress goes to stderr.
    """
    from billing.settings import TemporalSettings
    from billing.temporal import data_converter
    from host.temporal import codec_settings
    from starter import replay
    from starter.render import replay_table

    if not query and not files:
        raise fail("give --query, --file or both", 2)

    def progress(count: int, outcome: replay.ReplayOutcome) -> None:
        verdict = "[green]ok[/]" if outcome.ok else f"[bold red]FAILED[/] {replay.describe_failure(outcome)}"
        err_console.print(f"{count:>5} {outcome.workflow_id}: {verdict}", highlight=False, soft_wrap=True)

    async def action() -> list[replay.ReplayOutcome]:
        settings = TemporalSettings()
        replayer = replay.HistoryReplayer(data_converter(codec_settings(settings)), quiet=True)
        outcomes: list[replay.ReplayOutcome] = []
        if files:
            loaded = [(path, replay.load_history_file(path)) for path in replay.history_files(files)]
            outcomes += await replay.replay_all(replayer, replay.histories_from_files(loaded), progress)
        if query:
            from temporalio.service import RPCError, RPCStatusCode

            from starter.client import BillingClient

            client = (await BillingClient.connect(settings)).temporal
            try:
                outcomes += await replay.replay_all(
                    replayer,
                    replay.histories_from_query(client, query, limit),
                    lambda count, outcome: progress(len(outcomes) + count, outcome),
                )
            except RPCError as exc:
                if exc.status == RPCStatusCode.INVALID_ARGUMENT:
                    raise errors.InputError(exc.message, field="query") from None
                raise errors.BillingError(f"Temporal refused: {exc.message}") from None
        return outcomes

    outcomes = run(action)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    summary = {"replayed": len(outcomes), "failed": len(failed), "results": [o.to_json() for o in outcomes]}
    emit(summary, as_json, lambda: console.print(replay_table(outcomes)))
    if not outcomes:
        err_console.print("[yellow]no workflow history matched: nothing was replayed[/]")
    elif failed:
        raise fail(f"{len(failed)} of {len(outcomes)} histories do not replay on this code")
    else:
        err_console.print(f"{len(outcomes)} histories replay on this code", highlight=False)


def events_listen(
    secrets: Annotated[
        str,
        typer.Option(
            "--secret",
            envvar="BILLING_EVENTS_SECRETS",
            help="Signing secret(s), comma-separated",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8090,
    path: Annotated[str, typer.Option(help="URL path of the endpoint")] = "/events",
    as_json: JsonOption = False,
) -> None:
    """Be a merchant endpoint: verify each event's signature and print it (one JSON line each with --json).

    Point a worker at it: BILLING_EVENTS_URL=http://HOST:PORT/PATH and BILLING_EVENTS_SECRETS=the same secret.

    Forged, stale or unsigned requests get 400 and are reported on stderr. Ctrl-C stops.
    """
    from billing.events import split_secrets
    from host.serving import AppServer
    from starter.events import EventReceiver, MerchantEvent
    from starter.render import event_line

    keys = split_secrets(secrets)
    if not keys:
        raise fail("--secret: at least one non-empty secret is needed", 2)

    async def received(event: MerchantEvent) -> None:
        if as_json:
            sys.stdout.write(event.model_dump_json() + "\n")
            sys.stdout.flush()
        else:
            console.print(event_line(event))

    receiver = EventReceiver(keys, received)

    async def serve() -> None:
        server = AppServer(receiver.app(path), host=host, port=port)
        await server.start()
        err_console.print(f"Listening for merchant events on {server.url}{path}. Ctrl-C stops.", highlight=False)
        rejected = 0
        try:
            while True:
                await asyncio.sleep(0.5)
                if receiver.rejected != rejected:
                    err_console.print(f"[yellow]rejected[/] {receiver.rejected - rejected} request(s): bad signature")
                    rejected = receiver.rejected
        finally:
            await server.stop()

    serve_until_interrupted(serve)


def register(app: typer.Typer, events_app: typer.Typer) -> None:
    app.command("trace")(trace_command)
    app.command("replay")(replay_command)
    events_app.command("listen")(events_listen)
