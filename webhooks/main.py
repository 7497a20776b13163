"""Run the HTTP service from ``BILLING_*`` settings: ``billing serve``."""

from __future__ import annotations

import asyncio
import logging
import signal

from billing.settings import CodecSettings, HttpServiceSettings, TemporalSettings, load
from host.logs import run_process
from host.serving import AppServer
from host.telemetry import configure
from host.temporal import connect
from providers.base import NotificationVerifier
from providers.registry import PROVIDERS
from webhooks.app import WebhookService, create_app
from webhooks.codec import CodecServer

log = logging.getLogger("billing.webhooks")


def build_verifiers() -> dict[str, NotificationVerifier]:
    """A notification verifier for every configured provider that signs its notifications
    (``ProviderSpec.build_verifier``). Bad keys fail here, at start-up."""
    verifiers: dict[str, NotificationVerifier] = {}
    for spec in PROVIDERS:
        verifier = spec.build_verifier()
        if verifier is not None:
            verifiers[spec.name] = verifier
    return verifiers


async def serve(stop: asyncio.Event | None = None) -> None:
    configure("billing-http")  # now, not at the first signal: every request gets its server span
    # Every setting is read and checked before the service starts: a bad one stops it, named.
    http = load(HttpServiceSettings)
    temporal = load(TemporalSettings)
    codec_settings = load(CodecSettings)
    verifiers = build_verifiers()
    if not verifiers:
        log.warning(
            "no provider that sends notifications is configured (%s): every notification will get 404",
            ", ".join(f"{spec.settings_prefix}*" for spec in PROVIDERS),
        )

    async def lazy_client():  # type: ignore[no-untyped-def]
        # Connect on first use, so the service starts (and answers /healthz) while Temporal is down.
        return await connect(temporal)

    codec = CodecServer.from_settings(codec_settings)
    if codec is None:
        log.info("codec server disabled (set BILLING_CODEC_KEYS and BILLING_CODEC_AUTH_TOKEN to enable it)")
    service = WebhookService(
        lazy_client, verifiers, max_body_bytes=http.max_body_bytes, hint_window_seconds=http.hint_window_seconds
    )
    server = AppServer(create_app(service, codec), host=http.host, port=http.port)
    await server.start()
    log.info(
        "HTTP service on %s (providers: %s; codec server: %s)",
        server.url,
        ", ".join(sorted(verifiers)) or "none",
        f"{server.url}/codec" if codec is not None else "off",
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main() -> None:
    """``billing serve``: exit 78 on a configuration error."""
    run_process("billing-http", serve)
