"""``billing dev``: the whole local stack in the foreground, stopped cleanly by Ctrl-C.

It starts the Temporal dev server (SQLite file in the data directory, Web UI, our search attributes
registered) as a child process in its own session, and serves the provider emulators in-process. Every
child is stopped by its process id when the stack stops; nothing is left behind.

Payloads are always encrypted in the local stack: on first run it generates an AES-256 codec key and a
codec server token into ``<data dir>/keys/codec.json`` (mode 0600), hands them to the HTTP service and the
worker through their environment, writes ``<data dir>/env`` for other terminals and announces itself so
that ``billing`` commands in another terminal find the keys without any setup.

No secret is ever on a command line or in a URL the UI publishes: the Temporal UI is served through
:class:`starter.uigateway.UiGateway`, which decodes payloads for a browser holding the session cookie
from the link printed in the terminal. The data directory is the user's alone (0700; files 0600; the
children run with umask 077).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text
from starlette.routing import Route
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client

from billing import errors, search_attributes
from billing.codec import AesGcmCodec
from billing.settings import CodecSettings
from emulators.hub import EmulatorHub
from emulators.registry import EMULATORS
from host.devstacks import DEV_CODEC_FILE, register_dev_stack, unregister_dev_stack
from host.serving import AppServer, ChildProcess, free_port, port_is_free, wait_for_port
from host.settings import DevSettings
from starter import devkeys, stackbuilder
from starter.binaries import temporal_cli
from starter.events import EventReceiver, MerchantEvent
from starter.render import event_line
from starter.uigateway import UiGateway

#: Where the dev stack's stand-in merchant endpoint listens (on the emulators' server) and what it keeps.
MERCHANT_EVENTS_PATH = "/merchant/events"
EVENTS_FILE = "merchant-events.jsonl"
#: How many times the dev server is started on another internal UI port when it finds that port taken.
TEMPORAL_START_ATTEMPTS = 4


@dataclass(frozen=True)
class DevCodec:
    """The local stack's payload encryption key and codec server token."""

    keys: str
    active_key: str
    auth_token: str

    @classmethod
    def load_or_create(cls, data_dir: Path) -> DevCodec:
        """Read ``<data dir>/keys/codec.json``, generating it (mode 0600) on first run."""
        path = data_dir / DEV_CODEC_FILE
        if path.is_file():
            stored = json.loads(path.read_text())
            return cls(stored["keys"], stored["active_key"], stored["auth_token"])
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        codec = cls(
            keys="dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            active_key="dev1",
            auth_token=secrets.token_urlsafe(32),
        )
        _write_private(path, json.dumps({"keys": codec.keys, "active_key": codec.active_key,
                                         "auth_token": codec.auth_token}))  # fmt: skip
        return codec


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def codec_ui_endpoint(settings: DevSettings) -> str:
    """The codec endpoint the dev server's UI calls: the UI gateway on the UI's own public origin. It holds
    no secret (the UI publishes it at ``/api/v1/settings``); the browser's session cookie authorizes."""
    return f"http://{settings.host}:{settings.ui_port}/codec"


#: What the stack keeps at the top of its data directory (the Temporal database with its journal files,
#: logs, the environment file, the stand-in merchant endpoint's events); ``keys/`` is private as a whole.
_DATA_FILES = ("temporal.db*", "emulators.db*", "*.log", "env", EVENTS_FILE)

#: The emulators' orders, subscriptions, ledgers and undelivered notifications (SQLite), kept across restarts.
EMULATORS_STATE_FILE = "emulators.db"


def make_private(data_dir: Path) -> None:
    """The data directory for this user only: it and ``keys/`` 0700, the stack's files 0600. An older data
    directory may hold world-readable logs and database files. Only the stack's own files are touched,
    whatever else the directory holds."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    keys = data_dir / "keys"
    files = [path for pattern in _DATA_FILES for path in data_dir.glob(pattern)]
    if keys.is_dir() and not keys.is_symlink():
        keys.chmod(0o700)
        files += keys.iterdir()
    for path in files:
        if path.is_file() and not path.is_symlink():
            path.chmod(path.stat().st_mode & 0o700)


def temporal_dev_server_argv(
    settings: DevSettings, data_dir: Path, codec_endpoint: str | None = None, ui_port: int | None = None
) -> list[str]:
    argv = [
        str(temporal_cli()),
        "server",
        "start-dev",
        "--ip",
        settings.host,
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(ui_port or settings.ui_port),
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
    ]
    if codec_endpoint:
        argv += ["--ui-codec-endpoint", codec_endpoint]
    for definition in search_attributes.cli_definitions():
        argv += ["--search-attribute", definition]
    return argv


def temporal_dev_server_env() -> dict[str, str]:
    """The dev server's environment: ours without ``OTEL_*``, which configure the engine's processes. The
    server reads them too and refuses to start on values it does not support (``OTEL_TRACES_EXPORTER=console``).
    """
    return {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}


async def start_temporal_dev_server(
    settings: DevSettings,
    data_dir: Path,
    *,
    log_path: Path | None = None,
    codec_endpoint: str | None = None,
    private: bool = False,
    retrying: Callable[[str], object] = lambda said: None,
    timeout: float = 60.0,
) -> tuple[ChildProcess, int]:
    """The dev server started, with its Web UI on a free internal port, once both answer: the child and that
    port. Its log goes to ``log_path`` (default ``<data dir>/temporal.log``), appended.

    The internal port is free when it is picked, but the dev server picks free ports for its own services too
    and can take it first; it then exits at once (``address already in use``) and is started again on another
    port (``retrying`` is told what it said). Any other exit is a BillingError quoting the end of its log."""
    host = settings.host
    log_path = log_path or data_dir / "temporal.log"
    address = f"{host}:{settings.temporal_port}"
    for attempt in range(1, TEMPORAL_START_ATTEMPTS + 1):
        ui_port = free_port(host)
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        child = ChildProcess(
            "temporal",
            temporal_dev_server_argv(settings, data_dir, codec_endpoint, ui_port),
            log_path=log_path,
            env=temporal_dev_server_env(),
            private=private,
        )
        child.start()
        if await _dev_server_answers(child, address, f"http://{host}:{ui_port}/api/v1/settings", timeout):
            return child, ui_port
        child.stop()
        with log_path.open("rb") as log:
            log.seek(log_offset)
            said = log.read().decode("utf-8", "replace").strip()
        last = said.splitlines()[-1] if said else "(nothing in its log)"
        if "address already in use" in said and attempt < TEMPORAL_START_ATTEMPTS:
            retrying(last)
            continue
        raise errors.BillingError(f"the Temporal dev server exited while starting: {last}; see {log_path}")
    raise AssertionError("unreachable")


async def _dev_server_answers(child: ChildProcess, address: str, ui_settings_url: str, timeout: float) -> bool:
    """True once the dev server answers on its frontend and its Web UI's own API answers (not merely something
    on its port), and it is still running then; False if it exits first; TimeoutError after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while child.running():
            # Not up yet, or the UI port answers for another program: asked again.
            with contextlib.suppress(Exception):
                client = await Client.connect(address)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                answer = await http.get(ui_settings_url)
                if answer.status_code == 200 and "Auth" in answer.json():
                    await asyncio.sleep(0.2)
                    return child.running()
            if loop.time() > deadline:
                raise TimeoutError(f"the Temporal dev server did not answer on {address} within {timeout:.0f} s")
            await asyncio.sleep(0.25)
    return False


def build_dev_hub(
    data_dir: Path,
    public_base_url: str,
    notify_time_scale: float = 1.0,
    unpaid_lifetime_s: float | None = None,
    *,
    keep_state: bool = False,
    fresh: bool = False,
) -> EmulatorHub:
    """The emulators with the local merchant registered (keys and passwords from the data directory).

    With ``keep_state`` their state lives in ``<data dir>/emulators.db`` and what an earlier run saved
    there is restored (``fresh``: deleted first). ``unpaid_lifetime_s`` shortens how long an unpaid payment
    stays payable where the provider limits it (a QR code, 2 hours by default); the worker must then be told
    the same (``stackbuilder.service_environment``)."""
    hub = stackbuilder.build_emulators(
        stackbuilder.LocalMerchant.dev(data_dir),
        public_base_url,
        notify_time_scale=notify_time_scale,
        state_file=data_dir / EMULATORS_STATE_FILE if keep_state else None,
        fresh=fresh,
    )
    if unpaid_lifetime_s is not None:
        stackbuilder.shorten_unpaid_lifetime(hub, unpaid_lifetime_s)
    return hub


@dataclass
class DevStack:
    settings: DevSettings
    console: Console = field(default_factory=Console)
    temporal: ChildProcess | None = None
    ui_gateway: UiGateway | None = None
    ui_server: AppServer | None = None
    http: ChildProcess | None = None
    worker: ChildProcess | None = None
    emulators: EmulatorHub | None = None
    emulator_server: AppServer | None = None
    urls: dict[str, str] = field(default_factory=dict)
    codec: DevCodec | None = None
    env_file: Path | None = None
    registered: str | None = None
    #: Start from nothing: the emulators' saved state is deleted (Temporal's history is kept).
    fresh: bool = False

    async def start(self) -> None:
        data_dir = self.settings.data_dir.resolve()
        make_private(data_dir)
        self.codec = DevCodec.load_or_create(data_dir)
        host = self.settings.host

        self.refuse_taken_ports()
        self.console.print("[bold]Starting[/] Temporal dev server ...")
        internal_ui_port = await self._start_temporal(data_dir)
        assert self.temporal is not None
        self.registered = f"{host}:{self.settings.temporal_port}"
        register_dev_stack(self.registered, data_dir, {"temporal": self.temporal.pid})

        ui_url = f"http://{host}:{self.settings.ui_port}"
        self.ui_gateway = UiGateway(
            f"http://{host}:{internal_ui_port}",
            AesGcmCodec.from_settings(CodecSettings(keys=self.codec.keys, active_key=self.codec.active_key)),
            secrets.token_urlsafe(32),
            self.ui_origins(),
        )
        self.ui_server = AppServer(self.ui_gateway.app, host=host, port=self.settings.ui_port)
        await self.ui_server.start()

        self.console.print("[bold]Starting[/] provider emulators ...")
        emulator_url = f"http://{host}:{self.settings.emulator_port}"
        self.emulators = build_dev_hub(data_dir, emulator_url, keep_state=True, fresh=self.fresh)
        state_file = data_dir / EMULATORS_STATE_FILE
        if self.fresh:
            self.console.print(
                f"Emulators start [bold]fresh[/]: no earlier order, subscription or ledger entry ({state_file} "
                "was emptied; Temporal's history is kept).",
                highlight=False,
                soft_wrap=True,
            )
        elif self.emulators.restored:
            self.console.print(
                f"Emulators restored their orders, subscriptions and ledgers from {state_file} "
                "([bold]billing dev --fresh[/] starts from nothing).",
                highlight=False,
                soft_wrap=True,
            )
        self.mount_merchant_endpoint(data_dir)
        self.emulator_server = AppServer(self.emulators.app, host=host, port=self.settings.emulator_port)
        await self.emulator_server.start()

        env = self.service_environment(data_dir, emulator_url)
        http_url = env["BILLING_HTTP_PUBLIC_URL"]
        self.console.print("[bold]Starting[/] HTTP service and worker ...")
        self.http = ChildProcess(
            "http",
            list(stackbuilder.HTTP_ARGV),
            log_path=data_dir / "http.log",
            env=env,
            private=True,
        )
        self.worker = ChildProcess(
            "worker",
            list(stackbuilder.WORKER_ARGV),
            log_path=data_dir / "worker.log",
            env=env,
            private=True,
        )
        self.http.start()
        self.worker.start()
        register_dev_stack(
            self.registered, data_dir, {"temporal": self.temporal.pid, "http": self.http.pid, "worker": self.worker.pid}
        )
        await wait_for_port(host, self.settings.http_port, timeout=30)
        await self._wait_for_worker(f"{host}:{self.settings.temporal_port}")
        self.env_file = self.write_cli_environment(data_dir, env)

        self.urls = {
            "Temporal UI": ui_url,
            "Temporal frontend": f"{host}:{self.settings.temporal_port}",
            "HTTP service (webhooks)": http_url,
            "Codec server (CLI)": f"{http_url}/codec",
            "Emulators": emulator_url,
            "Merchant events (stand-in)": f"{emulator_url}{MERCHANT_EVENTS_PATH}",
            **{f"{local.title} emulator API": f"{emulator_url}{local.api_path}" for local in EMULATORS},
            "Logs and data": str(data_dir),
        }

    def service_environment(self, data_dir: Path, emulator_url: str) -> dict[str, str]:
        """Settings for the HTTP service and the worker, pointing them at the local stack."""
        host = self.settings.host
        http_url = f"http://{host}:{self.settings.http_port}"
        codec = self.codec or DevCodec.load_or_create(data_dir)
        return stackbuilder.service_environment(
            stackbuilder.LocalMerchant.dev(data_dir, site_url=http_url),
            temporal_address=f"{host}:{self.settings.temporal_port}",
            emulator_url=emulator_url,
            http_url=http_url,
            base=os.environ,
            BILLING_CODEC_KEYS=codec.keys,
            BILLING_CODEC_ACTIVE_KEY=codec.active_key,
            BILLING_CODEC_AUTH_TOKEN=codec.auth_token,
            BILLING_EVENTS_URL=f"{emulator_url}{MERCHANT_EVENTS_PATH}",
            BILLING_EVENTS_SECRETS=devkeys.dev_secret(data_dir, "merchant-events.secret"),
        )

    def ui_origins(self) -> list[str]:
        """The origins a browser may open the UI at (the UI port on loopback, by address or name)."""
        names = dict.fromkeys([self.settings.host, "127.0.0.1", "localhost"])
        return [f"http://{name}:{self.settings.ui_port}" for name in names]

    def mount_merchant_endpoint(self, data_dir: Path) -> None:
        """A stand-in for the merchant's endpoint beside the emulators: verifies every event the worker
        sends, prints it, and appends it to ``<data dir>/merchant-events.jsonl``."""
        assert self.emulators is not None
        log = data_dir / EVENTS_FILE

        async def received(event: MerchantEvent) -> None:
            self.console.print(Text("event ").append(event_line(event, short_id=True)), no_wrap=True, crop=False)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(event.model_dump_json() + "\n")

        receiver = EventReceiver(devkeys.dev_secret(data_dir, "merchant-events.secret"), received)
        self.emulators.app.router.routes.append(Route(MERCHANT_EVENTS_PATH, receiver.receive, methods=["POST"]))

    #: What a second terminal needs to talk to the stack (``set -a; . <data dir>/env; set +a``).
    CLI_VARIABLES = (
        "BILLING_TEMPORAL_ADDRESS",
        "BILLING_EMULATORS_URL",
        "BILLING_CODEC_KEYS",
        "BILLING_CODEC_ACTIVE_KEY",
        "BILLING_CODEC_AUTH_TOKEN",
        "BILLING_TEST_CLOCKS",
    )

    def write_cli_environment(self, data_dir: Path, env: dict[str, str]) -> Path:
        """Write ``<data dir>/env`` (mode 0600): the variables of :attr:`CLI_VARIABLES`, shell syntax."""
        values = {**env, "BILLING_EMULATORS_URL": f"http://{self.settings.host}:{self.settings.emulator_port}"}
        lines = [f"{name}={shlex.quote(values[name])}" for name in self.CLI_VARIABLES]
        path = data_dir / "env"
        _write_private(path, "# billing dev: settings for other terminals (secret)\n" + "\n".join(lines) + "\n")
        return path

    async def _wait_for_worker(self, address: str, timeout: float = 60.0) -> None:
        """Wait until a worker polls the task queue, so the first order is picked up at once."""
        client = await Client.connect(address)
        request = DescribeTaskQueueRequest(
            namespace="default",
            task_queue=TaskQueue(name="billing"),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (await client.workflow_service.describe_task_queue(request)).pollers:
            if self.worker is not None and not self.worker.running():
                raise RuntimeError(f"the worker exited; see {self.settings.data_dir / 'worker.log'}")
            if loop.time() > deadline:
                raise TimeoutError("no worker polls the billing task queue")
            await asyncio.sleep(0.2)

    def refuse_taken_ports(self) -> None:
        """ConfigurationError naming the setting of the first of the stack's ports that another program holds
        (another ``billing dev``, a Temporal server), before anything starts."""
        host = self.settings.host
        for name in ("temporal_port", "ui_port", "emulator_port", "http_port"):
            port = getattr(self.settings, name)
            if not port_is_free(host, port):
                raise errors.ConfigurationError(
                    f"BILLING_DEV_{name.upper()}: {host}:{port} is already in use (another billing dev or "
                    "Temporal server?); stop it, or choose another port"
                )

    async def _start_temporal(self, data_dir: Path) -> int:
        """Start the dev server (:func:`start_temporal_dev_server`); its internal Web UI port."""
        self.temporal, internal_ui_port = await start_temporal_dev_server(
            self.settings,
            data_dir,
            codec_endpoint=codec_ui_endpoint(self.settings),
            private=True,
            retrying=lambda said: self.console.print(
                f"The dev server found a port taken ({said}); starting it again.", highlight=False, soft_wrap=True
            ),
        )
        return internal_ui_port

    def print_urls(self) -> None:
        table = Table(title="billing dev: local stack", show_header=False)
        for name, url in self.urls.items():
            table.add_row(name, url)
        self.console.print(table)
        self.console.print(
            "Try: [bold]billing order create --order-id ORD-1 --amount 10.00 --currency USD "
            "--customer-id C1 --customer-email c1@example.com[/], then "
            "[bold]billing emulators pay waffo ORD-1[/] and [bold]billing order show ORD-1[/]."
        )
        if self.ui_gateway is not None:
            ui_url = self.urls["Temporal UI"]
            self.console.print(
                f"Open the Temporal UI: {self.ui_gateway.login_url(ui_url)}", soft_wrap=True, highlight=False
            )
        if self.env_file is not None:
            self.console.print(
                f"Payloads are encrypted; opened with the link above (a secret, new on every start), the UI shows "
                f"them decoded. [bold]billing[/] commands run from this directory (or with BILLING_DEV_DATA_DIR) "
                f"find this stack and its keys by themselves, whatever its ports; other tools: "
                f"[bold]set -a; . {self.env_file}; set +a[/]",
                highlight=False,
            )
        self.console.print("Press [bold]Ctrl-C[/] to stop everything.")

    async def stop(self) -> None:
        if self.registered is not None:
            unregister_dev_stack(self.registered)
            self.registered = None
        for child in (self.worker, self.http):
            if child is not None:
                await asyncio.to_thread(child.stop)
        if self.ui_server is not None:
            await self.ui_server.stop()
        if self.ui_gateway is not None:
            await self.ui_gateway.aclose()
        if self.emulator_server is not None:
            await self.emulator_server.stop()
        if self.emulators is not None:
            await self.emulators.aclose()
        if self.temporal is not None:
            await asyncio.to_thread(self.temporal.stop)
        self.console.print("Stopped.")


async def run_dev_stack(settings: DevSettings, console: Console | None = None, *, fresh: bool = False) -> None:
    """Start the stack, wait for SIGINT/SIGTERM, stop everything. ``fresh``: the emulators start empty."""
    stack = DevStack(settings, console=console or Console(), fresh=fresh)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        start = asyncio.create_task(stack.start())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({start, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            start.result()
            stack.print_urls()
            await stopper
        else:
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await stack.stop()
