"""The ``billing`` command line: the local stack, the worker and the HTTP service; the command groups are in
``cli_orders.py``, ``cli_subscriptions.py``, ``cli_balance.py`` (customers' credit balance), ``cli_emulators.py``
(with ``cli_faults.py``), ``cli_find.py`` (lists and review), ``cli_tools.py`` (trace, replay, events) and
``provider_cli.py``.

Human-readable output by default, ``--json`` for scripts, non-zero exit codes on errors. Settings come
from ``BILLING_*`` environment variables (see docs/configuration.md).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from host.settings import DevSettings
from starter import cli_balance, cli_clocks, cli_coupons, cli_find, cli_invoices, cli_tools, provider_cli
from starter.cli_common import (
    EXIT_CODES_HELP,
    console,
    serve_until_interrupted,
)
from starter.cli_emulators import emulators_app
from starter.cli_help import tidy_help
from starter.cli_orders import order_app
from starter.cli_subscriptions import subscription_app

app = typer.Typer(
    name="billing",
    help="Workflow-as-code payment and subscription billing engine on Temporal.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(emulators_app, name="emulators")
app.add_typer(order_app, name="order")
app.add_typer(subscription_app, name="subscription")
events_app = typer.Typer(help="Merchant events: what the engine POSTs to your endpoint.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(provider_cli.app, name="provider")
app.add_typer(cli_invoices.app, name="invoice")
app.add_typer(cli_coupons.app, name="coupon")
app.add_typer(cli_clocks.app, name="clock")
app.add_typer(cli_balance.app, name="customer")


@app.callback()
def find_dev_stack(context: typer.Context) -> None:
    """Commands without BILLING_TEMPORAL_ADDRESS / BILLING_EMULATORS_URL use the running `billing dev` stack."""
    if context.invoked_subcommand != "dev":
        from starter.devenv import use_running_dev_stack

        use_running_dev_stack()


@app.command()
def dev(
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default var/dev) [BILLING_DEV_DATA_DIR]")
    ] = None,
    temporal_port: Annotated[int | None, typer.Option(help="Temporal gRPC port [BILLING_DEV_TEMPORAL_PORT]")] = None,
    ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port [BILLING_DEV_UI_PORT]")] = None,
    emulator_port: Annotated[int | None, typer.Option(help="Emulators port [BILLING_DEV_EMULATOR_PORT]")] = None,
    http_port: Annotated[
        int | None, typer.Option(help="HTTP service port: webhooks, health [BILLING_DEV_HTTP_PORT]")
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start the emulators from nothing: forget their orders, subscriptions, ledgers and queued faults "
            "(<data dir>/emulators.db)",
        ),
    ] = False,
) -> None:
    """Run the whole local stack in the foreground; Ctrl-C stops everything.

    Other `billing` commands run from the same directory (or with the same BILLING_DEV_DATA_DIR) find this
    stack by themselves, whatever its ports: they read the file env in the data directory. The emulators keep
    their state in emulators.db there, so orders made before a restart can still be paid, refunded and
    renewed.
    """
    from starter.devstack import run_dev_stack

    overrides = {
        key: value
        for key, value in {
            "data_dir": data_dir,
            "temporal_port": temporal_port,
            "ui_port": ui_port,
            "emulator_port": emulator_port,
            "http_port": http_port,
        }.items()
        if value is not None
    }
    settings = DevSettings(**overrides)  # type: ignore[arg-type]
    serve_until_interrupted(lambda: run_dev_stack(settings, console, fresh=fresh))


@app.command()
def worker() -> None:
    """Run a worker: every workflow and activity, settings from BILLING_* variables."""
    import worker as worker_module

    worker_module.main()


@app.command()
def serve() -> None:
    """Run the HTTP service: provider webhooks and health, settings from BILLING_HTTP_*."""
    from webhooks.main import main as serve_http

    serve_http()


@app.command(
    "chaos",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def chaos_command(ctx: typer.Context) -> None:
    """The chaos suite on its own stack (options: billing chaos --help; same as scripts/chaos.py)."""
    from starter.chaos.main import main as chaos_main

    raise typer.Exit(chaos_main(list(ctx.args)))


cli_find.register(app, order_app, subscription_app)
cli_tools.register(app, events_app)
tidy_help(app)  # last: every command is registered


def main() -> None:
    """Run the CLI and leave without interpreter finalization.

    The Temporal client's native runtime keeps threads that can abort a finalizing Python 3.11
    interpreter ("PyGILState_Release ... finalizing"), turning a successful command into exit code -6.
    Everything the command does is finished and flushed here, so the process ends with its real code.
    """
    import logging
    import os

    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if "billing.telemetry" in sys.modules:
        from billing.telemetry import shutdown

        shutdown()  # export the spans still buffered: os._exit runs no exit hooks
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
