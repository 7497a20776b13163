"""The one place that builds the Temporal client and its data converter.

Worker, starter, HTTP service, replay tests and the test suites all connect through :func:`connect`, so
they share one converter (pydantic models in, pydantic models out).
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from billing.settings import TemporalSettings


def data_converter() -> DataConverter:
    """The converter every client, worker and replayer uses."""
    return pydantic_data_converter


async def connect(settings: TemporalSettings | None = None) -> Client:
    """Connect to the Temporal frontend named by ``BILLING_TEMPORAL_*``."""
    settings = settings or TemporalSettings()
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=data_converter(),
        api_key=api_key,
        tls=settings.tls or api_key is not None,
    )
