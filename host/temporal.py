"""The one place that connects to Temporal.

Worker, starter, HTTP service, replay tests and the test suites all connect through :func:`connect`, so
they share one converter (:func:`billing.temporal.data_converter`): pydantic models in, pydantic models
out, and, when codec keys are configured, every payload encrypted with AES-256-GCM (:mod:`billing.codec`).

Where the codec keys come from, first match wins:

1. ``BILLING_CODEC_KEYS`` (with ``BILLING_CODEC_ACTIVE_KEY``), when the variable is set at all; set but
   empty means "no encryption";
2. for :func:`connect` only: a ``billing dev`` stack running on this machine for the same Temporal
   address (``BILLING_TEMPORAL_ADDRESS``) lends its generated keys from its data directory
   (:mod:`host.devstacks`), so a second terminal needs no setup;
3. otherwise no codec: payloads are plain JSON.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus as RawStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, Interceptor

from billing.errors import TemporalUnreachableError
from billing.settings import CodecSettings, TemporalSettings
from billing.temporal import data_converter
from host.devstacks import dev_codec_settings


def codec_settings(temporal: TemporalSettings) -> CodecSettings:
    """The codec settings a client of ``temporal`` uses (see the module docstring for the order)."""
    codec = CodecSettings()
    if codec.keys is not None:
        return codec
    return dev_codec_settings(temporal.address) or codec


def interceptors() -> list[Interceptor]:
    """Temporal's tracing interceptor when ``OTEL_TRACES_EXPORTER`` turns tracing on (see host.telemetry)."""
    from host.telemetry import configure_tracing

    if not configure_tracing():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


async def connect(settings: TemporalSettings | None = None) -> Client:
    """Connect to the Temporal frontend named by ``BILLING_TEMPORAL_*``, with tracing and metrics from ``OTEL_*``."""
    from host.metrics import configure_metrics

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
            logging.getLogger("host.temporal").warning(
                "Temporal at %s not reachable yet; retrying in %.1fs", settings.address, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


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
