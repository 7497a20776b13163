"""All provider emulators behind one ASGI app, each under its own prefix (``/<name>/...``).

The emulators are those of :mod:`emulators.registry`, each declared in ``emulators/<name>/local.py``.

``billing emulators serve`` and ``billing dev`` serve this on one loopback port; tests can mount it
in-process through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.common.persistence import EmulatorStates, Persisted, StateFile
from emulators.registry import EMULATOR_NAMES, EMULATORS

log = logging.getLogger(__name__)


@dataclass
class EmulatorHub:
    """The emulators by provider name (``hub.emulators["<name>"]``, or ``hub.<name>``) behind one app."""

    emulators: dict[str, Any]
    app: Starlette
    #: Where the emulators keep their state, when they keep it (``billing dev``).
    states: EmulatorStates | None = None
    #: The emulators whose saved state was loaded at start.
    restored: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        emulators = self.__dict__.get("emulators", {})
        if name in emulators:
            return emulators[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def save_state(self) -> None:
        """Write the emulators' state if it changed since the last save (no-op without a state file)."""
        if self.states is not None:
            try:
                self.states.save_if_changed()
            except Exception:  # a full disk must not take the emulators down
                log.exception("the emulators' state could not be saved")

    async def aclose(self) -> None:
        for emulator in self.emulators.values():
            await emulator.aclose()
        if self.states is not None:
            self.save_state()
            self.states.close()
            self.states = None


#: How often background changes (deliveries, expiries, delayed completions) are saved, in seconds.
SAVE_INTERVAL_S = 0.5


def _persist(hub: EmulatorHub, state_file: Path, fresh: bool) -> None:
    """Keep the hub's state in ``state_file``: restore it now (unless ``fresh``), save it after every
    request and every :data:`SAVE_INTERVAL_S` while serving."""
    if fresh:
        for path in (state_file, *state_file.parent.glob(state_file.name + "-*")):
            path.unlink(missing_ok=True)
    hub.states = EmulatorStates(
        StateFile(state_file),
        {name: Persisted(emulator.export_state, emulator.restore_state) for name, emulator in hub.emulators.items()},
    )
    hub.restored = tuple(hub.states.restore())
    hub.save_state()

    class SaveAfterRequest:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return

            async def send_after_saving(message: Message) -> None:
                # The change is on disk before the caller sees the answer: a kill right after loses nothing.
                if message["type"] == "http.response.start":
                    hub.save_state()
                await send(message)

            try:
                await self.app(scope, receive, send_after_saving)
            finally:
                hub.save_state()

    hub.app.add_middleware(SaveAfterRequest)


def build_hub(
    *,
    public_base_url: str,
    accounts: Mapping[str, Any] | None = None,
    notify_time_scale: float = 1.0,
    time_scales: Mapping[str, float] | None = None,
    state_file: Path | None = None,
    fresh: bool = False,
) -> EmulatorHub:
    """Every emulator of :data:`emulators.registry.EMULATORS` behind one app, each under ``/<name>``, with
    the merchant's account at each (``accounts``, by name: see each ``emulators/<name>/local.py``)
    registered. ``time_scales`` (by name) multiply an emulator's own delays, ``notify_time_scale`` the
    notification retries. With ``state_file`` their state survives a restart (see
    :mod:`emulators.common.persistence`); ``fresh`` deletes it first."""
    base = public_base_url.rstrip("/")
    accounts, time_scales = accounts or {}, time_scales or {}
    unknown = sorted(set(accounts) - set(EMULATOR_NAMES))
    if unknown:
        raise ValueError(f"accounts: no emulator for {', '.join(unknown)}; expected {', '.join(EMULATOR_NAMES)}")
    emulators: dict[str, Any] = {}
    for local in EMULATORS:
        account = accounts.get(local.name)
        emulator = local.build(f"{base}/{local.name}", account, time_scales.get(local.name, 1.0), notify_time_scale)
        if account is not None:
            local.register(emulator, account)
        emulators[local.name] = emulator

    async def index(_: Request) -> HTMLResponse:
        items = "".join(
            f"<li>{local.title}: API <code>{base}{local.api_path}</code>, ledger "
            f'<a href="{base}/{local.name}/control/ledger">/{local.name}/control/ledger</a></li>'
            for local in EMULATORS
        )
        return HTMLResponse(f"<h1>Payment provider emulators</h1><ul>{items}</ul>")

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "emulators": list(EMULATOR_NAMES)})

    async def save_periodically() -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL_S)
            hub.save_state()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        saver = None
        if hub.states is not None:
            for local in EMULATORS:  # restored notifications and completions go out without a request
                if local.resume is not None:
                    local.resume(emulators[local.name])
            saver = asyncio.get_running_loop().create_task(save_periodically(), name="emulator-state-saver")
        try:
            yield
        finally:
            if saver is not None:
                saver.cancel()
                await asyncio.wait({saver}, timeout=5)
            await hub.aclose()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            *(Mount(f"/{local.name}", app=local.app(emulators[local.name])) for local in EMULATORS),
        ],
        lifespan=lifespan,
    )
    hub = EmulatorHub(emulators=emulators, app=app)
    if state_file is not None:
        _persist(hub, state_file, fresh)
    return hub
