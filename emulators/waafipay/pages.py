"""The hosted payment page for a human in a browser (no JavaScript except the format-1 auto-POST)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from emulators.waafipay.hpp import Redirect, StateConflict
from emulators.waafipay.models import HppOrder
from emulators.waafipay.wire import wire_amount

if TYPE_CHECKING:
    from emulators.waafipay.emulator import WaafiPayEmulator

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:1rem 0}td{padding:.25rem .75rem;border-bottom:1px solid #ddd}"
    "form{display:inline-block;margin-right:.5rem}button{font-size:1rem;padding:.5rem 1rem}"
    ".msg{padding:.75rem;background:#eef;border-radius:.25rem}"
)
ACTIONS = ("approve", "decline", "cancel")


def _html(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


def _error(code: str, message: str, status: int) -> HTMLResponse:
    return _html("WaafiPay", f'<p class="msg">{escape(code)} {escape(message)}</p>', status)


def _prefix(request: Request) -> str:
    """Where this app is mounted (e.g. "/waafipay" inside the hub), so form actions resolve."""
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


def _emu(request: Request) -> WaafiPayEmulator:
    emu: WaafiPayEmulator = request.app.state.emulator
    emu.expire_due()
    return emu


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of an `application/x-www-form-urlencoded` POST (what browsers and the plugins'
    auto-submitted forms send); other bodies are ignored."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method != "POST" or content_type != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def redirect_response(redirect: Redirect) -> Response:
    """A 303 for GET redirects; an auto-submitting form for format 1 (POST)."""
    if redirect.method == "GET":
        return RedirectResponse(redirect.url, status_code=303)
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in redirect.fields.items()
    )
    return _html(
        "Returning to the merchant",
        f'<form id="r" method="post" action="{escape(redirect.url)}">{inputs}'
        '<button type="submit">Continue</button></form><script>document.getElementById("r").submit()</script>',
    )


def _order_page(emu: WaafiPayEmulator, prefix: str, order: HppOrder, message: str = "") -> HTMLResponse:
    rows: list[tuple[str, Any]] = [
        ("Order", order.order_id),
        ("Reference", order.reference_id),
        ("Description", order.description),
        ("Amount", f"{wire_amount(order.amount)} {order.currency}"),
        ("Payment method", order.payment_method),
        ("Status", order.status),
    ]
    table = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in rows)
    note = f'<p class="msg">{escape(message)}</p>' if message else ""
    if order.status == "pending":
        base = f"{prefix}/hpp/token/{order.token}"
        account = order.subscription_id or ""
        field_html = (
            f"<p>Account: <b>{escape(account)}</b></p>"
            if account
            else '<p><label>Account or card number <input name="accountNo" form="approve"></label></p>'
        )
        buttons = "".join(
            f'<form id="{action}" method="post" action="{escape(base)}/{action}">'
            f'<button type="submit">{action.title()}</button></form>'
            for action in ACTIONS
        )
        body = f"{note}<table>{table}</table>{field_html}{buttons}"
    else:
        link = ""
        try:
            redirect = emu.hpp.redirect(order)
        except StateConflict:
            redirect = None
        if redirect is not None and redirect.method == "GET":
            link = f'<p><a href="{escape(redirect.url)}">Return to merchant</a></p>'
        body = f"{note}<table>{table}</table>{link}"
    return _html("WaafiPay checkout (emulator)", body)


async def hpp_page(request: Request) -> Response:
    """GET hppUrl (optionally ?r=<hppRequestId> or ?hppRequestId=..&referenceId=..), or the
    merchant's auto-submitted POST form with hppRequestId and referenceId."""
    emu = _emu(request)
    order = emu.hpp.find_by_token(request.path_params["token"])
    if order is None:
        code = emu.codes["invalid_hpp_token"]
        return _error(code.response_code, code.message, 404)
    fields: dict[str, str] = {k: v for k, v in request.query_params.items()}
    fields.update(await form_fields(request))
    request_id = fields.get("r") or fields.get("hppRequestId")
    if request_id and request_id != order.hpp_request_id:
        code = emu.codes["request_id_mismatch"]
        return _error(code.response_code, code.message, 400)
    reference_id = fields.get("referenceId")
    if reference_id and reference_id != order.reference_id:
        code = emu.codes["reference_mismatch"]
        return _error(code.response_code, code.message, 400)
    message = ""
    if order.status == "timed_out":
        message = emu.codes["user_timeout"].message
    return _order_page(emu, _prefix(request), order, message)


async def hpp_action(request: Request) -> Response:
    emu = _emu(request)
    order = emu.hpp.find_by_token(request.path_params["token"])
    action = request.path_params["action"]
    if order is None:
        code = emu.codes["invalid_hpp_token"]
        return _error(code.response_code, code.message, 404)
    if action not in ACTIONS:
        return _error("", f"unknown action {action}", 404)
    account = (await form_fields(request)).get("accountNo", "").strip()
    try:
        if action == "approve":
            emu.hpp.approve(order, account or None)
        elif action == "decline":
            emu.hpp.decline(order)
        else:
            emu.hpp.cancel(order)
    except StateConflict as exc:
        return _order_page(emu, _prefix(request), order, f"Not possible: {exc}")
    return redirect_response(emu.hpp.redirect(order))


def page_routes() -> list[Route]:
    return [
        Route("/hpp/token/{token}", hpp_page, methods=["GET", "POST"]),
        Route("/hpp/token/{token}/{action}", hpp_action, methods=["POST"]),
    ]
