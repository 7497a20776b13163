"""The worker's workflow runners (worker.workflow_runner, worker.checking_workflow_runner).

Production runs workflows unsandboxed; the suites that drive every workflow through its main paths
(``order_stack(checked=True)``, tests/support/stack.py) and the replay suite run them in the checking
runner: the SDK's sandbox with the engine's code re-imported for each run under its restrictions. These
tests show that the checking runner refuses a nondeterministic call wherever it sits in the code a
workflow calls, and that what production shares between runs holds no state.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError, SandboxedWorkflowRunner

from tests.support.source import parse
from worker import ENGINE_PACKAGES, WORKFLOWS, build_worker, checking_workflow_runner, workflow_runner

ROOT = Path(__file__).resolve().parents[2]

#: Every module of ours that runs as workflow code.
WORKFLOW_CODE = (
    "workflows.clocks",
    "workflows.balance",
    "workflows.common",
    "workflows.coupons",
    "workflows.credit_notes",
    "workflows.events",
    "workflows.invoice_sequence",
    "workflows.order",
    "workflows.order_flow",
    "workflows.order_run",
    "workflows.order_inquiry",
    "workflows.order_capture",
    "workflows.order_refunds",
    "workflows.refund_reports",
    "workflows.subscription",
    "workflows.subscription_coupons",
    "workflows.subscription_balance",
    "workflows.subscription_engine",
    "workflows.subscription_invoicing",
    "workflows.subscription_logic",
    "workflows.subscription_mirror",
    "workflows.subscription_run",
)


def test_every_module_of_the_workflows_package_is_checked_as_workflow_code() -> None:
    assert set(WORKFLOW_CODE) == _submodules("workflows") - {"workflows"}


def test_production_runs_workflows_unsandboxed() -> None:
    assert isinstance(workflow_runner(), UnsandboxedWorkflowRunner)


def test_the_checking_runner_passes_none_of_the_engines_code_through() -> None:
    runner = checking_workflow_runner()
    assert type(runner) is SandboxedWorkflowRunner
    restrictions = runner.restrictions
    assert not restrictions.passthrough_all_modules
    engine_modules = {name for package in ENGINE_PACKAGES for name in _submodules(package)}
    assert {"billing.orders", "billing.subscriptions", "activities.payments", "workflows.order_flow"} <= engine_modules
    passed = {
        name
        for name in engine_modules
        if any(name == p or name.startswith(p + ".") for p in restrictions.passthrough_modules)
    }
    assert not passed, f"the checking sandbox would not check these modules: {sorted(passed)}"


def test_every_workflow_module_imports_the_engine_without_passing_it_through() -> None:
    """An import inside ``workflow.unsafe.imports_passed_through()`` would hand the checking sandbox the host's
    module unchecked: workflow code imports the engine's modules plainly."""
    for module in WORKFLOW_CODE:
        tree = _module_tree(module)
        for node in ast.walk(tree):
            if isinstance(node, ast.With):
                for item in node.items:
                    used = ast.unparse(item.context_expr)
                    assert "imports_passed_through" not in used, f"{module}: line {node.lineno}"


def _submodules(package: str) -> set[str]:
    loaded = importlib.import_module(package)
    names = {package}
    for info in pkgutil.walk_packages(loaded.__path__, prefix=package + "."):
        names.add(info.name)
    return names


# -- a nondeterministic call anywhere a workflow calls fails the checking runner ---------------------------

#: What a careless change could put into any module a workflow calls (billing, activities, workflows).
NONDETERMINISTIC = {
    "datetime.datetime.now": "import datetime\n\ndef stamp():\n    return datetime.datetime.now().isoformat()\n",
    "aliased datetime class": "from datetime import datetime as D\n\ndef stamp():\n    return D.now().isoformat()\n",
    "datetime.date.today": "from datetime import date\n\ndef stamp():\n    return date.today().isoformat()\n",
    "time.time": "import time\n\ndef stamp():\n    return str(time.time())\n",
    "random": "import random\n\ndef stamp():\n    return str(random.random())\n",
    "uuid4": "from uuid import uuid4\n\ndef stamp():\n    return str(uuid4())\n",
    "environment": "import os\n\ndef stamp():\n    return os.getenv('HOME', '')\n",
}

WORKFLOW_MODULE = """
from datetime import timedelta

from temporalio import workflow

import {helper}


@workflow.defn(name="{name}")
class ClockProbeWorkflow:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(seconds=1))
        return {helper}.stamp()
"""


def _throwaway_workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper_source: str) -> type:
    """A workflow module and the helper module it calls, on disk: the sandbox imports both by name."""
    suffix = uuid.uuid4().hex[:10]
    helper, module = f"probe_helper_{suffix}", f"probe_workflow_{suffix}"
    (tmp_path / f"{helper}.py").write_text(helper_source)
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(WORKFLOW_MODULE.format(helper=helper, name=module)))
    monkeypatch.syspath_prepend(str(tmp_path))
    cls: type = importlib.import_module(module).ClockProbeWorkflow
    return cls


async def _run(env: WorkflowEnvironment, cls: type, runner: WorkflowRunner) -> str:
    task_queue = f"runner-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[cls],
        workflow_runner=runner,
        # The refusal fails the run instead of retrying its workflow task for ever.
        workflow_failure_exception_types=[RestrictedWorkflowAccessError],
    ):
        result: str = await env.client.execute_workflow(
            cls.run,  # type: ignore[attr-defined]
            id=f"probe-{task_queue}",
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=5),
        )
        return result


@pytest.mark.parametrize("call", sorted(NONDETERMINISTIC))
async def test_the_checking_runner_fails_a_nondeterministic_call_in_a_module_a_workflow_calls(
    call: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, time_skipping_env: WorkflowEnvironment
) -> None:
    cls = _throwaway_workflow(tmp_path, monkeypatch, NONDETERMINISTIC[call])
    # Unsandboxed, as in production, the call goes through: the checking runner is what catches it.
    assert await _run(time_skipping_env, cls, workflow_runner()) is not None
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(time_skipping_env, cls, checking_workflow_runner())
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "RestrictedWorkflowAccessError", cause


async def test_the_checking_runner_runs_deterministic_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, time_skipping_env: WorkflowEnvironment
) -> None:
    cls = _throwaway_workflow(tmp_path, monkeypatch, "def stamp():\n    return 'paid'\n")
    assert await _run(time_skipping_env, cls, checking_workflow_runner()) == "paid"


async def test_the_engines_workflows_load_in_the_checking_runner(time_skipping_env: WorkflowEnvironment) -> None:
    """Each workflow module imports, with all it calls, under the sandbox's restrictions (the worker checks
    every workflow class in its runner when it is built)."""
    from activities.payments import ProviderRegistry
    from billing.callbacks import CallbackUrls

    worker = build_worker(
        time_skipping_env.client,
        task_queue=f"runner-{uuid.uuid4().hex[:8]}",
        providers=ProviderRegistry({}),
        callbacks=CallbackUrls("http://127.0.0.1:9"),
        runner=checking_workflow_runner(),
    )
    assert {cls.__name__ for cls in WORKFLOWS} == {
        "OrderWorkflow",
        "SubscriptionWorkflow",
        "InvoiceSequenceWorkflow",
        "CouponWorkflow",
        "SimulatedClockWorkflow",
        "CustomerBalanceWorkflow",
    }
    # A refused call fails the run at once, naming the call, rather than retrying its task until the test times out.
    for each in (worker.main, worker.ledger):
        assert RestrictedWorkflowAccessError in each.config()["workflow_failure_exception_types"]
    assert worker.ledger.config()["task_queue"] == worker.main.config()["task_queue"] + "-ledger"
    assert {cls.__name__ for cls in worker.ledger.config()["workflows"]} == {
        "InvoiceSequenceWorkflow",
        "CustomerBalanceWorkflow",
    }
    production = build_worker(
        time_skipping_env.client,
        task_queue=f"runner-{uuid.uuid4().hex[:8]}",
        providers=ProviderRegistry({}),
        callbacks=CallbackUrls("http://127.0.0.1:9"),
    )
    assert not production.main.config()["workflow_failure_exception_types"]
    assert not production.ledger.config()["workflow_failure_exception_types"]


# -- production shares the workflow modules between runs: they must hold no state ----------------------------


def _module_tree(module: str) -> ast.Module:
    return parse((ROOT / (module.replace(".", "/") + ".py")).read_text())


@pytest.mark.parametrize("module", WORKFLOW_CODE)
def test_workflow_code_holds_no_state(module: str) -> None:
    """What a workflow module assigns at module or class level is shared by every run: immutable only."""
    tree, loaded = _module_tree(module), importlib.import_module(module)
    # Retry policies are constants: workflows hand them to the SDK, which copies them into commands. Type
    # variables only name types for mypy.
    immutable = (int, str, bytes, float, bool, frozenset, tuple, timedelta, RetryPolicy, TypeVar, type(None))
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


# -- every workflow test runs checked ----------------------------------------------------------------------

#: Where a test stack runs production's runner on purpose, and why.
PRODUCTION_RUNNER_STACKS = {
    "tests/replay/record.py": "records the histories production's runner writes",
}


def test_test_stacks_run_workflows_in_the_checking_runner_unless_they_say_why() -> None:
    """A path only an unchecked suite reaches (a late-paying provider's watch after the close, a refund's
    'no such refund') would keep a clock call there from failing any test: test stacks are checked."""
    from tests.support.stack import order_stack

    assert inspect.signature(order_stack).parameters["checked"].default is True
    unchecked = set()
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "order_stack":
                for keyword in node.keywords:
                    opts_out = keyword.arg == "checked" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is True
                    )
                    if opts_out:
                        unchecked.add(path.relative_to(ROOT).as_posix())
    assert unchecked == set(PRODUCTION_RUNNER_STACKS), unchecked
