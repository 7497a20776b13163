"""The one place that builds the Temporal client and its data converter.

Worker, starter, HTTP service, replay tests and the test suites all connect through :func:`connect`, so
they share one converter: pydantic models in, pydantic models out, and, when ``BILLING_CODEC_KEYS`` is
set, every payload encrypted with AES-256-GCM (:mod:`billing.codec`).

Where the codec keys come from, first match wins:

1. ``BILLING_CODEC_KEYS`` (with ``BILLING_CODEC_ACTIVE_KEY``), when the variable is set at all; set but
   empty means "no encryption";
2. for :func:`connect` only: a ``billing dev`` stack running on this machine for the same Temporal
   address (``BILLING_TEMPORAL_ADDRESS``) lends its generated keys from its data directory, so a second
   terminal needs no setup;
3. otherwise no codec: payloads are plain JSON.

Workflow modules never import this module (nor :mod:`billing.codec`, which needs ``cryptography``); the
codec runs outside the workflow sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus as RawStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import CompositePayloadConverter, DataConverter, DefaultFailureConverterWithEncodedAttributes

from billing.errors import ConfigurationError, TemporalUnreachableError
from billing.settings import CodecSettings, TemporalSettings

#: Where ``billing dev`` keeps its codec keys and token, relative to its data directory (mode 0600).
DEV_CODEC_FILE = Path("keys") / "codec.json"

#: The ``encoding`` metadata of a payload encrypted by :class:`billing.codec.AesGcmCodec`.
ENCRYPTED_ENCODING = b"binary/encrypted"


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """Temporal's pydantic payload converter, with one set of encoders per process.

    The worker makes a payload converter for every workflow run. The stock pydantic converter builds a
    pydantic ``TypeAdapter`` (a compiled validator) for each type it decodes and keeps it in a cache of its
    own; every cached run would build and hold its own adapters for the same types. Instances of this
    class share the encoders of one converter, so adapters are built once per type. The encoders hold
    nothing else (the cache is thread-safe), and the bytes on the wire are the same.
    """

    _shared: ClassVar[PydanticPayloadConverter | None] = None

    def __init__(self) -> None:
        shared = SharedPydanticPayloadConverter._shared
        if shared is None:
            shared = SharedPydanticPayloadConverter._shared = PydanticPayloadConverter()
        CompositePayloadConverter.__init__(self, *shared.converters.values())

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        """Payloads as values; an encrypted payload reaching it means this process has no codec keys.

        The stock converter fails then with ``KeyError: 'Unknown payload encoding binary/encrypted'``; this
        names the missing setting instead (the CLI exits 78 on it).
        """
        try:
            return super().from_payloads(payloads, type_hints)
        except KeyError:
            if any(payload.metadata.get("encoding") == ENCRYPTED_ENCODING for payload in payloads):
                raise ConfigurationError(
                    "payloads are encrypted but no codec keys are configured; set it to the keyring they were "
                    "written with (a `billing dev` stack on this machine lends its own)",
                    setting="BILLING_CODEC_KEYS",
                ) from None
            raise


#: Pydantic models in, pydantic models out; no encryption.
plain_data_converter = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)


def data_converter(codec: CodecSettings | None = None) -> DataConverter:
    """The converter every client, worker and replayer uses: encrypted when codec keys are configured.

    With encryption on, failure messages and stack traces move into the failure's encoded attributes, so
    they are encrypted too (an error text may quote customer data).
    """
    codec = codec if codec is not None else CodecSettings()
    if not codec.enabled():
        return plain_data_converter
    from billing.codec import AesGcmCodec  # cryptography: imported only where a codec is wanted

    return dataclasses.replace(
        plain_data_converter,
        payload_codec=AesGcmCodec.from_settings(codec),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def codec_settings(temporal: TemporalSettings) -> CodecSettings:
    """The codec settings a client of ``temporal`` uses (see the module docstring for the order)."""
    codec = CodecSettings()
    if codec.keys is not None:
        return codec
    return dev_codec_settings(temporal.address) or codec


def interceptors() -> list[Interceptor]:
    """Temporal's tracing interceptor when ``OTEL_TRACES_EXPORTER`` turns tracing on (see billing.telemetry)."""
    from billing.telemetry import configure_tracing

    if not configure_tracing():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


async def connect(settings: TemporalSettings | None = None) -> Client:
    """Connect to the Temporal frontend named by ``BILLING_TEMPORAL_*``, with tracing and metrics from ``OTEL_*``."""
    from billing.metrics import configure_metrics

    settings = settings or TemporalSettings()
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=data_converter(codec_settings(settings)),
        interceptors=interceptors(),
        api_key=api_key,
        tls=settings.tls_config(),
        runtime=configure_metrics(),  # the SDK's and the workflows' metrics, when OTEL_METRICS_EXPORTER is set
    )


async def connect_or_explain(settings: TemporalSettings, wait: float | None = None) -> Client:
    """:func:`connect`, retried for ``wait`` seconds (default: the setting; a cluster's frontend may still
    be starting); then a :class:`~billing.errors.TemporalUnreachableError` that says where it tried."""
    import asyncio
    import logging

    loop = asyncio.get_running_loop()
    deadline = loop.time() + (settings.connect_wait_seconds if wait is None else wait)
    delay = 0.5
    while True:
        try:
            return await connect(settings)
        except RuntimeError as exc:
            if loop.time() + delay > deadline:
                tls = "TLS" if settings.tls_enabled() else "plaintext"
                raise TemporalUnreachableError(
                    f"cannot reach Temporal at {settings.address} (namespace {settings.namespace}, {tls}); "
                    f"set BILLING_TEMPORAL_ADDRESS: {str(exc).splitlines()[0]}"
                ) from None
            logging.getLogger("billing.temporal").warning(
                "Temporal at %s not reachable yet; retrying in %.1fs", settings.address, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


# -- running `billing dev` stacks ---------------------------------------------------------------------


#: How long a read waits for a pending workflow task before it gives up without querying.
QUERY_SETTLE_SECONDS = 30.0


async def await_quiet(client: Client, workflow_id: str, *, within: float = QUERY_SETTLE_SECONDS) -> bool:
    """Wait until the workflow has no workflow task pending: True once it has none (or is closed), False
    if one is still pending after ``within`` seconds. Call it before a query.

    A worker that takes over a workflow task after the one holding it died, or a query that reaches a
    worker without the workflow in its cache while a task is pending, may apply that task's events in two
    activations where a later replay folds them into one and orders the commands otherwise; every later
    workflow task of the run then fails with a nondeterminism error (docs/architecture.md, "Queries and
    cold workers"). With no task pending there is nothing new to fold: the query replays exactly the
    workflow tasks already completed. What is left is the few milliseconds between the describe and the
    query. Raises what the describe raises (``RPCError`` NOT_FOUND for no such workflow).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = 0.05
    # The raw describe: only the status and the pending task are read (decoding the search attributes would
    # be wasted work, and fails on a server that returns a Datetime attribute in another form).
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    while True:
        description = await client.workflow_service.describe_workflow_execution(request, retry=True)
        if description.workflow_execution_info.status != RawStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            return True
        if not description.HasField("pending_workflow_task"):
            return True
        if loop.time() + delay > deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


def dev_stack_registry() -> Path:
    """A directory only this user can read, naming the data directory of each running ``billing dev``."""
    return Path(tempfile.gettempdir()) / f"billing-dev-{os.getuid()}"


def _registry_entry(address: str) -> Path:
    return dev_stack_registry() / ("stack-" + address.replace(":", "-").replace("/", "_") + ".json")


def register_dev_stack(address: str, data_dir: Path, children: dict[str, int] | None = None) -> Path:
    """Announce a running ``billing dev`` for ``address``, with the process ids of its children by name;
    :func:`unregister_dev_stack` removes it."""
    registry = dev_stack_registry()
    registry.mkdir(mode=0o700, exist_ok=True)
    entry = _registry_entry(address)
    body = json.dumps(
        {"address": address, "data_dir": str(data_dir.resolve()), "pid": os.getpid(), "children": children or {}}
    )
    staging = entry.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
    staging.replace(entry)  # a reader sees the old entry or the new one, never half of one
    return entry


def unregister_dev_stack(address: str) -> None:
    entry = _registry_entry(address)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(entry.read_text()).get("pid") == os.getpid():
            entry.unlink()


def dev_codec_settings(address: str) -> CodecSettings | None:
    """The codec keys of the ``billing dev`` stack running for ``address``, if there is one."""
    registry, entry = dev_stack_registry(), _registry_entry(address)
    try:
        info = registry.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None  # not ours alone: never trust it
        record = json.loads(entry.read_text())
        os.kill(int(record["pid"]), 0)  # the stack is still running
        if record.get("address") != address:
            return None
        stored = json.loads((Path(record["data_dir"]) / DEV_CODEC_FILE).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CodecSettings(keys=stored["keys"], active_key=stored["active_key"])
