"""``billing emulators ...``: serve the provider emulators and act as the customer (or the provider's
scheduler) through their control APIs. Fault commands: :mod:`starter.cli_faults`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from billing import errors
from host.settings import EmulatorSettings
from starter import cli_faults
from starter.cli_common import (
    JsonOption,
    console,
    emit,
    err_console,
    fail,
    run,
    serve_until_interrupted,
)
from starter.cli_common import billing_client as _billing

emulators_app = typer.Typer(help="Offline provider emulators.", no_args_is_help=True)


@emulators_app.command("serve")
def emulators_serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless in a container)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8070,
    data_dir: Annotated[Path, typer.Option(help="Where the dev keys live")] = Path("var/dev"),
    notify_time_scale: Annotated[float, typer.Option(help="Multiplier of webhook retry delays")] = 1.0,
    public_url: Annotated[str | None, typer.Option(help="URL browsers reach the emulators at (checkout links)")] = None,
    unpaid_lifetime: Annotated[
        float | None,
        typer.Option(
            "--kess-qr-lifetime",
            help="Seconds an unpaid KESS QR code stays payable (default 7200; give the worker the same "
            "in BILLING_KESS_QR_LIFETIME_S)",
        ),
    ] = None,
) -> None:
    """Serve every provider emulator on one port (Waffo under /waffo)."""
    from host.serving import AppServer
    from starter.devstack import build_dev_hub

    base = public_url or f"http://{host}:{port}"
    hub = build_dev_hub(data_dir, base, notify_time_scale, unpaid_lifetime)

    async def serve() -> None:
        server = AppServer(hub.app, host=host, port=port)
        await server.start()
        from emulators.registry import EMULATOR_NAMES

        mounts = ", ".join(f"/{name}" for name in EMULATOR_NAMES)
        console.print(f"Emulators on {base}: {mounts}. Ctrl-C stops.")
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    serve_until_interrupted(serve)


# -- emulator customer actions ----------------------------------------------------------------------


def _control_call(provider: str, path: str, body: dict[str, Any] | None, subject: str) -> dict[str, Any]:
    """One call to an emulator's control API: POST ``body``, or GET without one. A 404 names ``subject``
    ("the waffo emulator has no order ORD-1"), any other refusal the emulator's own words."""
    url = f"{EmulatorSettings().url.rstrip('/')}/{provider}/control/{path}"

    async def call() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await (http.get(url) if body is None else http.post(url, json=body))
        if response.status_code == 404:
            raise errors.NotFoundError(f"the {provider} emulator has no {subject}")
        if response.status_code >= 400:
            raise errors.InvalidStateError(f"the {provider} emulator refused: {_emulator_error(response)}")
        answer: dict[str, Any] = response.json()
        return answer

    return run(call)


def _emulator_control(
    provider: str, path: str, body: dict[str, Any] | None, subject: str, done: str, as_json: bool
) -> None:
    """POST to an emulator's control API, as the customer (or the provider's scheduler) would act.

    ``subject`` names what is acted on ("order ORD-1"), ``done`` what happened ("the customer paid order
    ORD-1"): the answer reads ``waffo emulator: the customer paid order ORD-1``, a miss ``the waffo
    emulator has no order ORD-1``.
    """
    from emulators.registry import EMULATOR_NAMES

    if provider not in EMULATOR_NAMES:
        raise fail(f"provider: no emulator for {provider!r}; expected {_one_of(EMULATOR_NAMES)}", 2)
    result = _control_call(provider, path, body or {}, subject)
    returned = _customer_returns(result)
    if returned:
        done += f"; {returned}"
    emit(result, as_json, lambda: console.print(f"{provider} emulator: {done}", highlight=False, soft_wrap=True))


def _one_of(names: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def _customer_returns(answer: dict[str, Any]) -> str | None:
    """Follow the customer's browser back from the provider's page, as after a real checkout: the merchant's
    return URL (the HTTP service's redirect callback) makes the order ask the provider at once instead of
    at its next scheduled inquiry. What happened, in words; None when the answer names no return."""
    redirect = answer.get("redirect")
    fields: dict[str, str]
    if isinstance(answer.get("returnUrl"), str):
        method, url, fields = "GET", answer["returnUrl"], {}
    elif isinstance(redirect, dict) and isinstance(redirect.get("url"), str):
        method, url, fields = str(redirect.get("method", "GET")), redirect["url"], redirect.get("fields") or {}
    else:
        return None

    async def back() -> int:
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
            if method.upper() == "POST":
                response = await http.post(url, data=fields)
            else:
                response = await http.get(url)
        return response.status_code

    try:
        status = asyncio.run(back())
    except httpx.HTTPError as exc:
        err_console.print(f"the customer's return to {url} failed: {exc}", highlight=False, soft_wrap=True)
        return None
    if status >= 400:
        err_console.print(f"the customer's return to {url} answered HTTP {status}", highlight=False, soft_wrap=True)
        return None
    return "the customer returned to the merchant (the order asks the provider now)"


def _emulator_error(response: httpx.Response) -> str:
    """The emulator's own words (its ``{"error": ...}``), else the body as it came."""
    try:
        answer = response.json()
    except ValueError:
        return response.text
    return str(answer.get("error") or answer) if isinstance(answer, dict) else response.text


_CUSTOMER_DID = {
    "pay": "the customer paid {}",
    "fail": "the customer's payment of {} failed",
    "abandon": "the customer left the checkout of {} without paying",
}


def _subscription_awaiting_customer(subscription_id: str) -> tuple[str, str]:
    """The provider request id of what the customer of ``subscription_id`` acts on, and how to name it: a
    plan change waiting for authorization (a new subscription at the provider) if there is one, else the
    subscription's current generation. Without the engine (the emulators alone) the first generation."""
    from billing.idempotency import subscription_key

    subject = f"subscription {subscription_id}"

    async def look_up() -> Any:
        return await (await _billing()).get_subscription(subscription_id)

    try:
        current = asyncio.run(look_up())
    except (errors.BillingError, OSError, RuntimeError):
        return subscription_key(subscription_id), subject
    change = current.pending_change
    if change is not None and not change.scheduled:
        return change.request_key, f"the plan change of {subject} (to plan {change.plan.plan_id})"
    return current.request_key, subject


def _customer_action(action: str, provider: str, reference: str, subscription: bool, as_json: bool) -> None:
    from billing.idempotency import payment_key

    if subscription:
        key, subject = _subscription_awaiting_customer(reference)
        path = f"subscriptions/{key}/{action}"
    else:
        from emulators.registry import EMULATORS

        local = next((local for local in EMULATORS if local.name == provider), None)
        customer_path = local.customer_path if local else EMULATORS[0].customer_path
        path, subject = customer_path(action, payment_key(reference)), f"order {reference}"
    did = _CUSTOMER_DID[action].format(subject)
    if subject.startswith("the plan change"):
        authorized = {"pay": "the customer authorized {}", "fail": "the customer's authorization of {} failed"}
        did = authorized[action].format(subject)
    _emulator_control(provider, path, None, subject, did, as_json)


SubscriptionFlag = Annotated[
    bool,
    typer.Option(
        "--subscription",
        help="ID is a subscription: act on its first payment, or on its plan change waiting for the customer",
        metavar="",
    ),
]


@emulators_app.command("pay")
def emulators_pay(
    provider: str, reference: str, subscription: SubscriptionFlag = False, as_json: JsonOption = False
) -> None:
    """Act as the customer: pay the order (or authorize the subscription) on the emulator's checkout."""
    _customer_action("pay", provider, reference, subscription, as_json)


@emulators_app.command("fail")
def emulators_fail(
    provider: str, reference: str, subscription: SubscriptionFlag = False, as_json: JsonOption = False
) -> None:
    """Act as the customer: the payment fails on the emulator's checkout."""
    _customer_action("fail", provider, reference, subscription, as_json)


@emulators_app.command("abandon")
def emulators_abandon(provider: str, order_id: str, as_json: JsonOption = False) -> None:
    """Act as the customer: leave the emulator's checkout without paying."""
    _customer_action("abandon", provider, order_id, False, as_json)


@emulators_app.command("renew")
def emulators_renew(
    provider: str,
    subscription_id: str,
    fail_renewal: Annotated[bool, typer.Option("--fail", help="The renewal charge fails", metavar="")] = False,
    as_json: JsonOption = False,
) -> None:
    """Act as the provider's scheduler: charge the subscription's next period (or fail to)."""
    from billing.idempotency import subscription_key

    outcome = "failed" if fail_renewal else "succeeded"
    _emulator_control(
        provider,
        f"subscriptions/{subscription_key(subscription_id)}/renew",
        {"succeed": not fail_renewal},
        f"subscription {subscription_id}",
        f"the next period of subscription {subscription_id} {outcome}",
        as_json,
    )


WALLET_ANSWERS = ("approve", "reject", "insufficient", "wrong_pin", "timeout", "not_found", "no_route")


@emulators_app.command("wallet")
def emulators_wallet(
    number: Annotated[str, typer.Argument(help="The WaafiPay wallet, digits, e.g. 252611111111")],
    balance: Annotated[str | None, typer.Option(help="Set its balance, e.g. 500.00")] = None,
    answers: Annotated[
        str | None,
        typer.Option(
            help="How the customer answers the next pushes, one per push, comma-separated, the last one staying: "
            + ", ".join(WALLET_ANSWERS)
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Act as a WaafiPay wallet's owner: show the wallet, or set its balance and its answers to the next
    pushes (creating it), e.g. --answers approve,insufficient,approve for a declined renewal."""
    steps = [answer.strip() for answer in answers.split(",")] if answers is not None else None
    if steps is not None and (unknown := [a for a in steps if a not in WALLET_ANSWERS]):
        raise fail(f"answers: {', '.join(unknown) or 'empty'} is not one of {', '.join(WALLET_ANSWERS)}", 2)
    body: dict[str, Any] | None = None
    if balance is not None or steps is not None:
        body = {"number": number}
        if balance is not None:
            body["balance"] = balance
        if steps is not None:
            body["behaviour"] = steps
    from emulators.registry import EMULATORS

    owner = next((emulator for emulator in EMULATORS if emulator.wallet_path is not None), None)
    if owner is None or owner.wallet_path is None:
        raise fail("no emulator has payer wallets", 2)
    path = owner.wallet_path(number if body is None else None)
    wallet = _control_call(owner.name, path, body, f"wallet {number}")
    pushes = ", ".join(step["action"] for step in wallet["behaviour"])
    emit(
        wallet,
        as_json,
        lambda: console.print(
            f"{owner.name} emulator: wallet {wallet['number']} · balance {wallet['balance']} · next pushes: {pushes} "
            "(the last one stays)",
            highlight=False,
            soft_wrap=True,
        ),
    )


cli_faults.register(emulators_app)
