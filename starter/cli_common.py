"""What every ``billing`` command group shares: the consoles, errors as exit codes, ``--json`` output.

Exit codes (also in ``billing --help`` and the README):

==  ==========================================================================================
0   done (an order cancelled again is done too)
1   error: the command did not conclude (Temporal or the emulators refused, a bug)
2   bad input: nothing was sent
3   the provider refused the money operation: the order or refund is FAILED
4   the outcome is unknown or waits for an operator: UNKNOWN, NEEDS_REVIEW, or a wait timed out
78  configuration: a BILLING_* setting is wrong or Temporal cannot be reached
==  ==========================================================================================
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import httpx
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape

from billing import errors

if TYPE_CHECKING:
    from starter.client import BillingClient

T = TypeVar("T")

EXIT_ERROR = 1
EXIT_INPUT = 2
EXIT_REFUSED = 3
EXIT_UNKNOWN = 4
EXIT_CONFIGURATION = 78

EXIT_CODES_HELP = (
    "Exit codes: 0 done · 1 error · 2 bad input (nothing sent) · 3 the provider refused the money operation "
    "(FAILED) · 4 outcome unknown or in review (UNKNOWN, NEEDS_REVIEW, a wait timed out) · 78 configuration "
    "(a BILLING_* setting, Temporal unreachable)."
)

console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (a flag)", metavar="")]


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def serve_until_interrupted(server: Callable[[], Awaitable[None]]) -> None:
    """Run a foreground server until Ctrl-C, which is the normal way to stop it; the engine's errors (a port
    in use, a child that would not start) become a message and a non-zero exit, as in :func:`run`."""
    try:
        run(server)
    except KeyboardInterrupt:
        pass


#: The command-line option that gives an input field, named in an error about that field.
OPTION_FOR_FIELD = {
    "customer.phone": "--customer-phone",
    "customer.email": "--customer-email",
    "customer.customer_id": "--customer-id",
    "coupon": "--coupon",
    "percent_off": "--percent-off",
    "amount_off": "--amount-off",
    "redeem_by": "--redeem-by",
    "max_redemptions": "--max-redemptions",
}


def with_option_hint(message: str) -> str:
    """``message`` with the option that gives its field, when it names a field the CLI has an option for."""
    field = message.partition(":")[0]
    option = OPTION_FOR_FIELD.get(field)
    return f"{message} (give it with {option})" if option and option not in message else message


def run(action: Callable[[], Awaitable[T]]) -> T:
    """Run an async CLI action; the engine's errors become a message and a non-zero exit."""
    try:
        return asyncio.run(action())  # type: ignore[arg-type]
    except errors.InputError as exc:
        raise fail(with_option_hint(str(exc)), EXIT_INPUT) from None
    except errors.ConfigurationError as exc:
        raise fail(str(exc), EXIT_CONFIGURATION) from None
    except errors.BillingError as exc:
        raise fail(str(exc), EXIT_ERROR) from None
    except ValidationError as exc:
        from starter.client import input_error_from_validation

        raise fail(with_option_hint(str(input_error_from_validation(exc))), EXIT_INPUT) from None
    except TimeoutError as exc:
        raise fail(f"timed out: {exc}", EXIT_UNKNOWN) from None
    except httpx.HTTPError as exc:
        raise fail(f"HTTP error: {exc}", EXIT_ERROR) from None


def emit(value: BaseModel | dict[str, Any], as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        human()


async def billing_client() -> BillingClient:
    from host.telemetry import configure
    from starter.client import BillingClient

    configure("billing-cli")
    return await BillingClient.connect()


def exit_for_outcome(status: str, what: str, why: str = "the provider refused") -> None:
    """Leave with 3 or 4 when a money operation ended FAILED, UNKNOWN or NEEDS_REVIEW (see the codes above);
    ``why``: what made it FAILED (:func:`starter.render.why_failed`)."""
    if status == "FAILED":
        err_console.print(f"[bold red]{what} FAILED[/]: {escape(why)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_REFUSED)
    if status in ("UNKNOWN", "NEEDS_REVIEW"):
        err_console.print(
            f"[bold yellow]{what} {status}[/]: the outcome is not known yet (billing review lists it)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_UNKNOWN)
