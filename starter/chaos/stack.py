"""The chaos run's own stack, every part a separate process on free loopback ports.

The Temporal dev server (its SQLite file in the run's data directory, so a restart keeps every workflow),
the provider emulators (``billing emulators serve``), the HTTP service and the worker are child processes
in their own sessions: the run SIGKILLs the worker and the HTTP service by process id and starts them
again, and restarts the dev server on the same port and file. The merchant events receiver runs in this
process, so the run sees every event the worker delivers.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from billing.settings import TemporalSettings
from host.serving import AppServer, ChildProcess, free_port, wait_for_port
from host.settings import DevSettings
from host.temporal import connect
from starter import devkeys, stackbuilder
from starter.devstack import start_temporal_dev_server
from starter.events import SIGNATURE_HEADER, EventReceiver, MerchantEvent, SignatureError, construct_event

TASK_QUEUE = "billing"
#: Mounted on the receiver's own server; the worker's ``BILLING_EVENTS_URL`` points here.
EVENTS_PATH = "/merchant/events"
#: An unpaid payment stays payable this long where the provider limits it (a KESS QR code: about 2 hours): 15 s
#: past the orders' 30 s deadline, so late payments happen and every such unpaid order still concludes
#: (EXPIRED) while the run settles.
UNPAID_LIFETIME_S = 45.0


class RecordingReceiver(EventReceiver):
    """The merchant's endpoint: keeps every verified delivery, repeats included, in arrival order."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret, self._ignore)
        self.deliveries: list[MerchantEvent] = []

    @staticmethod
    async def _ignore(_: MerchantEvent) -> None:
        return None

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event = construct_event(body, request.headers.get(SIGNATURE_HEADER), self.secrets)
        except SignatureError as exc:
            self.rejected += 1
            return JSONResponse({"error": exc.reason, "field": exc.field}, status_code=400)
        self.deliveries.append(event)
        return JSONResponse({"received": event.id})


@dataclass
class ChaosStack:
    """Start, kill, restart and stop the parts of one chaos run's stack."""

    data_dir: Path
    host: str = "127.0.0.1"
    temporal: ChildProcess | None = None
    emulators: ChildProcess | None = None
    http: ChildProcess | None = None
    worker: ChildProcess | None = None
    receiver_server: AppServer | None = None
    receiver: RecordingReceiver | None = None
    settings: DevSettings = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.settings = DevSettings(
            data_dir=self.data_dir,
            host=self.host,
            temporal_port=free_port(self.host),
            emulator_port=free_port(self.host),
            http_port=free_port(self.host),
        )

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.settings.temporal_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://{self.host}:{self.settings.emulator_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.settings.http_port}"

    def log(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    async def start(self, *, notify_time_scale: float = 0.01) -> Client:
        """Start everything; returns a client of the dev server (payloads in plain JSON: no codec keys)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stackbuilder.LocalMerchant.dev(self.data_dir)  # its keys and secrets, before any child reads them
        self.receiver = RecordingReceiver(devkeys.dev_secret(self.data_dir, "merchant-events.secret"))
        self.receiver_server = AppServer(self.receiver.app(EVENTS_PATH), host=self.host)
        await self.receiver_server.start()

        await self.start_temporal()
        self.emulators = self._child(
            "emulators",
            stackbuilder.emulators_argv(
                self.host,
                self.settings.emulator_port,
                self.data_dir,
                "--notify-time-scale",
                str(notify_time_scale),
                "--kess-qr-lifetime",
                str(UNPAID_LIFETIME_S),
            ),
            env=dict(os.environ),
        )
        await wait_for_port(self.host, self.settings.emulator_port, timeout=60)
        await self._ours_on_port(self.emulators, f"{self.emulator_url}/healthz")

        # Plain payloads (no BILLING_CODEC_*): this process reads every order's state without the codec.
        env = stackbuilder.service_environment(
            stackbuilder.LocalMerchant.dev(self.data_dir, site_url=self.http_url),
            temporal_address=self.temporal_address,
            emulator_url=self.emulator_url,
            http_url=self.http_url,
            base={name: value for name, value in os.environ.items() if not name.startswith("BILLING_CODEC_")},
            # Some providers cannot close a payment: an unpaid order waits out its life, shortened here.
            unpaid_lifetime_s=UNPAID_LIFETIME_S,
            BILLING_EVENTS_URL=f"{self.receiver_server.url}{EVENTS_PATH}",
            BILLING_EVENTS_SECRETS=devkeys.dev_secret(self.data_dir, "merchant-events.secret"),
            BILLING_WORKER_GRACE_SECONDS="0",
            BILLING_TEMPORAL_TASK_QUEUE=TASK_QUEUE,
        )
        self.env = env
        self.start_http()
        self.start_worker()
        await wait_for_port(self.host, self.settings.http_port, timeout=60)
        client = await connect(TemporalSettings(address=self.temporal_address))
        await self.wait_for_worker(client)
        return client

    async def _ours_on_port(self, child: ChildProcess, probe_url: str) -> None:
        """The port answers, and it is this child that answers: another process that took the free port first
        would otherwise receive every fault and control call of the run."""
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(40):
                if not child.running():
                    raise RuntimeError(f"{child.name} exited at start; see {self.log(child.name)}")
                try:
                    if (await http.get(probe_url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        raise RuntimeError(f"{probe_url} does not answer as {child.name} would; see {self.log(child.name)}")

    def _child(self, name: str, argv: list[str], env: dict[str, str]) -> ChildProcess:
        self.starts[name] = self.starts.get(name, 0) + 1
        child = ChildProcess(name, argv, log_path=self.log(name), env=env)
        child.start()
        return child

    async def start_temporal(self) -> None:
        self.starts["temporal"] = self.starts.get("temporal", 0) + 1
        self.temporal, _ = await start_temporal_dev_server(self.settings, self.data_dir, log_path=self.log("temporal"))

    def start_http(self) -> None:
        self.http = self._child("http", list(stackbuilder.HTTP_ARGV), env=self.env)

    def start_worker(self) -> None:
        self.worker = self._child("worker", list(stackbuilder.WORKER_ARGV), env=self.env)

    @staticmethod
    async def sigkill(child: ChildProcess | None) -> None:
        """SIGKILL the child's process group (by its pid) and reap it."""
        if child is None or not child.running():
            return
        os.killpg(child.pid, signal.SIGKILL)
        await asyncio.to_thread(child.stop)

    async def kill_worker(self) -> None:
        await self.sigkill(self.worker)
        self.start_worker()

    async def kill_http(self) -> None:
        await self.sigkill(self.http)
        self.start_http()
        await wait_for_port(self.host, self.settings.http_port, timeout=60)

    async def restart_temporal(self) -> None:
        """Stop the dev server (SIGTERM, as an operator would) and start it again on the same SQLite file."""
        if self.temporal is not None:
            await asyncio.to_thread(self.temporal.stop)
        await self.start_temporal()

    async def wait_for_worker(self, client: Client, timeout: float = 90.0) -> None:
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (await client.workflow_service.describe_task_queue(request)).pollers:
            if self.worker is not None and not self.worker.running():
                raise RuntimeError(f"the worker exited; see {self.log('worker')}")
            if loop.time() > deadline:
                raise TimeoutError("no worker polls the billing task queue")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        for child in (self.worker, self.http, self.emulators, self.temporal):
            if child is not None:
                await asyncio.to_thread(child.stop)
        if self.receiver_server is not None:
            await self.receiver_server.stop()
