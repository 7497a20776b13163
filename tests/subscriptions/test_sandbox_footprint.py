"""What each SubscriptionWorkflow run costs in the sandbox, and what it must not share."""

from __future__ import annotations

import ast
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import temporalio.converter
from temporalio import workflow
from temporalio.api.common.v1.message_pb2 import Payloads
from temporalio.api.failure.v1.message_pb2 import Failure
from temporalio.worker._workflow_instance import WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox._runner import _fake_info

import workflows.subscription_logic as logic
from worker import SANDBOX_PASSTHROUGH_MODULES, workflow_runner
from workflows.subscription import SubscriptionWorkflow

SANDBOXED = "workflows.subscription"
LOGIC = "workflows.subscription_logic"


def _instance() -> Any:
    details = WorkflowInstanceDetails(
        payload_converter_factory=temporalio.converter.DataConverter.default._new_payload_converter,
        failure_converter_class=temporalio.converter.DataConverter.default.failure_converter_class,
        interceptor_classes=[],
        defn=workflow._Definition.must_from_class(SubscriptionWorkflow),
        info=_fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )
    return workflow_runner().create_instance(details)


async def test_each_run_has_its_own_module_and_class_from_shared_code() -> None:
    first, second = _instance(), _instance()
    one, two = first.importer.new_modules[SANDBOXED], second.importer.new_modules[SANDBOXED]
    assert one is not two and one is not sys.modules[SANDBOXED]
    assert one.SubscriptionWorkflow is not two.SubscriptionWorkflow
    assert one.SubscriptionWorkflow.run is not two.SubscriptionWorkflow.run
    # The compiled code is immutable: read and unmarshalled once, not once per cached run.
    assert one.SubscriptionWorkflow.run.__code__ is two.SubscriptionWorkflow.run.__code__


async def test_the_logic_is_passed_through_not_reexecuted() -> None:
    assert LOGIC in SANDBOX_PASSTHROUGH_MODULES
    assert SANDBOXED not in SANDBOX_PASSTHROUGH_MODULES
    instance = _instance()
    assert instance.importer.new_modules[LOGIC] is sys.modules[LOGIC]


def test_the_logic_module_holds_no_state() -> None:
    """Passed through, it is shared by every run: what it assigns at module level must be immutable."""
    tree = ast.parse(Path(logic.__file__).read_text())
    assigned = [
        target.id
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    ]
    assert assigned, "the module's constants were not found"
    immutable = (int, str, bytes, float, bool, frozenset, tuple, timedelta, type(None))
    for name in assigned:
        value = getattr(logic, name)
        assert isinstance(value, immutable), f"{LOGIC}.{name} is state shared by every run: {value!r}"
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    for node in classes:
        class_level = [item for item in node.body if isinstance(item, (ast.Assign, ast.AnnAssign))]
        assert not class_level, f"{LOGIC}.{node.name} has class-level attributes, shared by every run"
