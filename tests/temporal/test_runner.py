"""The worker's workflow runner (workflows.runner) and what passing workflow code through the sandbox requires."""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib
import inspect
import os
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import temporalio.converter
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.common.v1.message_pb2 import Payloads
from temporalio.api.failure.v1.message_pb2 import Failure
from temporalio.common import RetryPolicy
from temporalio.converter import (
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxRestrictions, _runner

from billing.settings import CodecSettings
from billing.temporal import data_converter, plain_data_converter
from worker import SANDBOX_PASSTHROUGH_MODULES, WORKFLOWS, workflow_runner
from workflows import runner
from workflows.runner import BillingSandboxRunner, context_free
from workflows.subscription import SubscriptionWorkflow

ROOT = Path(__file__).resolve().parents[2]

#: Every module of ours that runs as workflow code, all passed through the sandbox.
WORKFLOW_CODE = (
    "workflows.common",
    "workflows.events",
    "workflows.invoice_sequence",
    "workflows.order",
    "workflows.order_flow",
    "workflows.subscription",
    "workflows.subscription_logic",
)


def _details(cls: type, converter: temporalio.converter.DataConverter) -> WorkflowInstanceDetails:
    return WorkflowInstanceDetails(
        payload_converter_factory=converter._new_payload_converter,
        failure_converter_class=converter.failure_converter_class,
        interceptor_classes=[],
        defn=workflow._Definition.must_from_class(cls),
        info=_runner._fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )


# -- what the runner changes -------------------------------------------------------------------------------


def test_the_engines_converters_do_not_read_serialization_contexts() -> None:
    assert context_free(plain_data_converter)
    key = base64.b64encode(os.urandom(32)).decode()
    assert context_free(data_converter(CodecSettings(keys=f"k1:{key}")))


@dataclasses.dataclass(frozen=True)
class ContextRecordingCodec(PayloadCodec, WithSerializationContext):
    """A codec that reads serialization contexts: it records each one it is given."""

    seen: list[SerializationContext] = dataclasses.field(default_factory=list)
    context: SerializationContext | None = None

    def with_context(self, context: SerializationContext) -> ContextRecordingCodec:
        self.seen.append(context)
        return dataclasses.replace(self, context=context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_a_converter_that_reads_contexts_is_recognised() -> None:
    converter = dataclasses.replace(plain_data_converter, payload_codec=ContextRecordingCodec())
    assert not context_free(converter)


async def test_context_questions_skip_the_sandbox_only_when_the_answer_cannot_matter() -> None:
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH_MODULES)
    free = BillingSandboxRunner.for_converter(plain_data_converter, restrictions)
    aware = BillingSandboxRunner.for_converter(
        dataclasses.replace(plain_data_converter, payload_codec=ContextRecordingCodec()), restrictions
    )
    free_instance = cast(runner._Instance, free.create_instance(_details(SubscriptionWorkflow, plain_data_converter)))
    aware_instance = cast(runner._Instance, aware.create_instance(_details(SubscriptionWorkflow, plain_data_converter)))

    entered: list[str] = []
    for instance in (free_instance, aware_instance):
        original = instance._run_code

        def spy(code: str, _original: Any = original, **extra: Any) -> None:
            entered.append(code)
            _original(code, **extra)

        instance._run_code = spy  # type: ignore[method-assign]

    assert free_instance.get_serialization_context(None) is None
    assert free_instance.get_external_store_context(None).target is None
    assert entered == []
    context = aware_instance.get_serialization_context(None)
    assert isinstance(context, WorkflowSerializationContext)
    assert context.workflow_id == _runner._fake_info.workflow_id
    assert len(entered) == 1 and "get_serialization_context" in entered[0]


def test_sandbox_source_is_compiled_once() -> None:
    source = "__compiled_probe = 1\n"
    assert runner._compiled(source) is runner._compiled(source)
    flags = runner._compiled("x: int = 1\n").co_flags
    assert not flags & 0x1000000  # CO_FUTURE_ANNOTATIONS: not inherited from runner.py's own __future__ import


def test_the_sdk_still_has_the_hooks_the_runner_overrides() -> None:
    """temporalio is pinned; this fails, naming the hook, if an upgrade moves what workflows.runner relies on."""
    base = _runner._Instance
    for name, parameters in (
        ("__init__", ["self", "instance_details", "runner_class", "restrictions"]),
        ("_run_code", ["self", "code", "extra_globals"]),
        ("get_serialization_context", ["self", "command_info"]),
        ("get_external_store_context", ["self", "command_info"]),
    ):
        assert name in vars(base), f"temporalio's sandbox _Instance no longer defines {name}"
        assert list(inspect.signature(getattr(base, name)).parameters) == parameters, name
    assert "create_instance" in vars(_runner.SandboxedWorkflowRunner)


@workflow.defn(name="RunnerContextProbe", sandboxed=True)
class ContextProbeWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        await workflow.sleep(timedelta(milliseconds=1))
        return value.upper()


async def test_a_context_reading_codec_gets_contexts_on_a_real_worker(time_skipping_env: WorkflowEnvironment) -> None:
    codec = ContextRecordingCodec()
    converter = dataclasses.replace(plain_data_converter, payload_codec=codec)
    client_config = time_skipping_env.client.config()
    client_config["data_converter"] = converter
    client = type(time_skipping_env.client)(**client_config)
    task_queue = f"runner-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ContextProbeWorkflow],
        workflow_runner=workflow_runner(converter, __name__),
    ):
        result = await client.execute_workflow(
            ContextProbeWorkflow.run, "paid", id=f"runner-probe-{task_queue}", task_queue=task_queue
        )
    assert result == "PAID"
    assert any(
        isinstance(context, WorkflowSerializationContext) and context.workflow_id == f"runner-probe-{task_queue}"
        for context in codec.seen
    )


# -- workflow code passed through: one module and class for every run, so it must hold no state -------------


def test_every_workflow_module_is_passed_through() -> None:
    for cls in WORKFLOWS:
        assert cls.__module__ in WORKFLOW_CODE
    for module in WORKFLOW_CODE:
        assert module in SANDBOX_PASSTHROUGH_MODULES, f"{module} would be re-executed for every run"


async def test_runs_share_the_workers_workflow_class() -> None:
    converter = plain_data_converter
    first = workflow_runner(converter).create_instance(_details(SubscriptionWorkflow, converter))
    second = workflow_runner(converter).create_instance(_details(SubscriptionWorkflow, converter))
    for instance in (first, second):
        assert isinstance(instance, runner._Instance)
        shared: object = instance.globals_and_locals["__temporal_workflow_class"]
        assert shared is SubscriptionWorkflow


def _module_tree(module: str) -> ast.Module:
    return ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())


@pytest.mark.parametrize("module", WORKFLOW_CODE)
def test_workflow_code_holds_no_state(module: str) -> None:
    """What a passed-through module assigns at module or class level is shared by every run: immutable only."""
    tree, loaded = _module_tree(module), importlib.import_module(module)
    # Retry policies are constants: workflows hand them to the SDK, which copies them into commands.
    immutable = (int, str, bytes, float, bool, frozenset, tuple, timedelta, RetryPolicy, type(None))
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and not target.id.startswith("__") and hasattr(loaded, target.id):
                    value = getattr(loaded, target.id)
                    if not isinstance(value, (type, *immutable)) and not callable(value):
                        pytest.fail(f"{module}.{target.id} is state shared by every run: {value!r}")
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Assign | ast.AnnAssign) and getattr(item, "value", None) is not None:
                    value = item.value
                    if isinstance(value, ast.List | ast.Dict | ast.Set | ast.Call) and not _frozen(value):
                        pytest.fail(f"{module}.{node.name} has a mutable class attribute (line {item.lineno})")


def _frozen(value: ast.expr) -> bool:
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in {"frozenset", "tuple"}


#: Calls workflow code must not make: the sandbox would have refused them; passed through, this test does.
FORBIDDEN = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "sleep"),
    ("asyncio", "sleep"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
    ("os", "environ"),
    ("os", "getenv"),
    ("os", "urandom"),
    ("secrets", "token_hex"),
    ("secrets", "token_bytes"),
}
FORBIDDEN_MODULES = {"random", "socket", "threading", "subprocess", "httpx", "requests", "os", "time", "secrets"}
FORBIDDEN_BUILTINS = {"open", "input", "print"}


def nondeterministic_calls(tree: ast.Module) -> list[str]:
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN_MODULES:
            problems.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in FORBIDDEN:
                problems.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_BUILTINS:
            problems.append(f"line {node.lineno}: {node.func.id}()")
    return problems


@pytest.mark.parametrize("module", WORKFLOW_CODE)
def test_workflow_code_makes_no_nondeterministic_calls(module: str) -> None:
    problems = nondeterministic_calls(_module_tree(module))
    assert not problems, f"{module} is workflow code; use workflow.now(), workflow.random(), workflow.uuid4(): " + (
        "; ".join(problems)
    )


def test_the_determinism_check_catches_what_it_names() -> None:
    bad = "import random\nfrom time import sleep\nx = datetime.now()\ny = uuid.uuid4()\nopen('f')\n"
    assert len(nondeterministic_calls(ast.parse(bad))) == 5
