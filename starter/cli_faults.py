"""``billing emulators fault`` and ``billing emulators faults``: inject a provider fault for one order or
subscription, list the queued faults, clear them. Over the emulators' control API (``/<provider>/control/
faults``): a fault is *scoped* by the provider request ids the engine derives from the order or subscription
id, so it hits the calls (and webhooks) about that one and no other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from billing import errors
from host.settings import EmulatorSettings
from starter.cli_common import EXIT_INPUT, JsonOption, console, emit, fail, run
from starter.render import print_table

PROVIDERS = ("waffo", "kess", "waafipay")
#: Plan generations a subscription-scoped fault covers (each plan change is a new provider request id).
SUBSCRIPTION_GENERATIONS = 10


@dataclass(frozen=True)
class FaultKind:
    """One kind the CLI offers: the emulator's fault kind, the operation it applies to by default, which
    providers have it, and what it does (for --help and the answer)."""

    emulator_kind: str
    operation: str
    providers: tuple[str, ...]
    does: str


KINDS: dict[str, FaultKind] = {
    "e0001": FaultKind("e0001", "*", ("waffo",), "answers E0001 (system error) after handling the call"),
    "system-error": FaultKind("system_error", "*", ("kess",), "answers a system error after handling the call"),
    "timeout-after-commit": FaultKind(
        "timeout_after_commit", "*", PROVIDERS, "handles the call, then answers too late (--ms, default 30000)"
    ),
    "http-500": FaultKind("http_500", "*", PROVIDERS, "answers HTTP 500 without handling the call"),
    "drop-webhook": FaultKind("drop", "notify", ("waffo",), "never sends the next webhook"),
    "duplicate-webhook": FaultKind("duplicate", "notify", ("waffo",), "sends the next webhook twice"),
    "delay-webhook": FaultKind("delay", "notify", ("waffo",), "sends the next webhook late (--ms, default 5000)"),
}
#: The emulator's kind -> the name `billing emulators fault` takes (what the list shows).
CLI_KIND = {kind.emulator_kind: name for name, kind in KINDS.items()}
DECLINE = "decline"
KIND_HELP = (
    "; ".join(f"{name}: {kind.does} ({', '.join(kind.providers)})" for name, kind in KINDS.items())
    + "; decline: the customer's payment is declined now, with --code (Waffo: also a subscription's next renewal)"
)


def _base() -> str:
    return EmulatorSettings().url.rstrip("/")


def scope_of(reference: str, subscription: bool) -> list[str]:
    """The provider request ids of an order's payment (or a subscription's generations), and the id itself."""
    from billing.idempotency import payment_key, subscription_key

    if subscription:
        keys = [subscription_key(reference, generation) for generation in range(1, SUBSCRIPTION_GENERATIONS + 1)]
    else:
        keys = [payment_key(reference)]
    return [*keys, reference]


async def _request(method: str, provider: str, path: str, body: dict[str, Any] | None = None, subject: str = "") -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(method, f"{_base()}/{provider}/control/{path}", json=body)
    if response.status_code >= 400:
        try:
            answer = response.json()
            reason = answer.get("error") if isinstance(answer, dict) else None
        except ValueError:
            reason = None
        if response.status_code == 404 and subject:
            raise errors.NotFoundError(f"the {provider} emulator has no {subject}")
        raise errors.InvalidStateError(f"the {provider} emulator refused: {reason or response.text}")
    return response.json()


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise fail(f"provider: no emulator for {provider!r}; expected {', '.join(PROVIDERS)}", EXIT_INPUT)


def emulators_fault(
    provider: Annotated[str, typer.Argument(help="waffo, kess or waafipay")],
    reference: Annotated[str, typer.Argument(help="The order id (or subscription id, with --subscription)")],
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    subscription: Annotated[
        bool, typer.Option("--subscription", help="REFERENCE is a subscription id", metavar="")
    ] = False,
    operation: Annotated[
        str | None,
        typer.Option(help="Only this provider operation, e.g. order/inquiry (default: every call about it)"),
    ] = None,
    count: Annotated[int, typer.Option(min=1, help="How many calls (or webhooks) it hits")] = 1,
    ms: Annotated[
        int | None, typer.Option(min=0, help="Delay in milliseconds (timeout-after-commit, delay-webhook)")
    ] = None,
    code: Annotated[str | None, typer.Option(help="The decline code (decline), e.g. C0005")] = None,
    as_json: JsonOption = False,
) -> None:
    """Make the provider misbehave for one order or subscription (the emulator's fault injection).

    The fault hits only the calls and webhooks about REFERENCE, the next COUNT of them; `billing emulators
    faults` lists what is queued and clears it.
    """
    _check_provider(provider)
    subject = f"{'subscription' if subscription else 'order'} {reference}"
    if kind == DECLINE:
        _decline(provider, reference, subscription, subject, code, as_json)
        return
    chosen = KINDS.get(kind)
    if chosen is None:
        raise fail(f"kind: must be one of {', '.join([*KINDS, DECLINE])}", EXIT_INPUT)
    if provider not in chosen.providers:
        raise fail(f"kind: {kind} is for {', '.join(chosen.providers)}, not {provider}", EXIT_INPUT)
    if code is not None:
        raise fail("code: only a decline takes a code", EXIT_INPUT)
    params: dict[str, Any] = {"about": subject}
    if ms is not None:
        params["ms"] = ms
    body = {
        "operation": operation or chosen.operation,
        "kind": chosen.emulator_kind,
        "count": count,
        "params": params,
        "scope": scope_of(reference, subscription),
    }
    fault = run(lambda: _request("POST", provider, "faults", body))
    calls = "webhooks" if chosen.operation == "notify" else "calls"
    where = "every call" if body["operation"] == "*" else f"{body['operation']} {calls}"
    emit(
        fault,
        as_json,
        lambda: console.print(
            f"{provider} emulator: fault {fault['id']} queued: {kind} on {where} about {subject} "
            f"(the next {count}); it {chosen.does}",
            highlight=False,
            soft_wrap=True,
        ),
    )


def _decline(provider: str, reference: str, subscription: bool, subject: str, code: str | None, as_json: bool) -> None:
    from billing.idempotency import payment_key, subscription_key

    failed: dict[str, Any] = {"orderFailedCode": code} if code else {}
    if provider == "waffo" and subscription:
        path, body, done = f"subscriptions/{subscription_key(reference)}/renew", {"succeed": False, **failed}, "renewal"
    elif subscription:
        raise fail(f"kind: a declined renewal is for waffo subscriptions, not {provider}", EXIT_INPUT)
    elif code is not None and provider != "waffo":
        raise fail(f"code: the {provider} emulator declines without a code", EXIT_INPUT)
    elif provider == "waafipay":
        path, body, done = f"hpp/{payment_key(reference)}/decline", {}, "payment"
    else:
        path, body, done = f"orders/{payment_key(reference)}/fail", failed, "payment"
    answer = run(lambda: _request("POST", provider, path, body, subject))
    with_code = f" with {code}" if code else ""
    emit(
        answer,
        as_json,
        lambda: console.print(
            f"{provider} emulator: the {done} of {subject} was declined{with_code}", highlight=False, soft_wrap=True
        ),
    )


def emulators_faults(
    provider: Annotated[str | None, typer.Argument(help="Only this emulator (default: all)")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the queued faults", metavar="")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the faults queued in the emulators (or clear them with --clear)."""
    if provider is not None:
        _check_provider(provider)
    providers = [provider] if provider else list(PROVIDERS)

    async def action() -> dict[str, list[dict[str, Any]]]:
        method = "DELETE" if clear else "GET"
        return {name: (await _request(method, name, "faults"))["faults"] for name in providers}

    faults = run(action)
    if clear:
        emit(
            {"cleared": providers},
            as_json,
            lambda: console.print(f"faults cleared: {', '.join(providers)}", highlight=False),
        )
        return

    def human() -> None:
        rows = [(name, fault) for name, queued in faults.items() for fault in queued]
        if not rows:
            console.print("no fault queued", highlight=False)
            return
        table = Table("Provider", "Id", "Kind", "Operation", "Left", "About", "Params")
        for name, fault in rows:
            params = {key: value for key, value in fault["params"].items() if key != "about"}
            about = fault["params"].get("about") or ("every call" if not fault.get("scope") else "scoped")
            shown = ", ".join(f"{key}={value}" for key, value in params.items())
            kind = CLI_KIND.get(fault["kind"], fault["kind"])
            table.add_row(name, str(fault["id"]), kind, fault["operation"], str(fault["count"]), about, shown)
        print_table(console, table)

    emit(faults, as_json, human)


def register(emulators_app: typer.Typer) -> None:
    emulators_app.command("fault")(emulators_fault)
    emulators_app.command("faults")(emulators_faults)
