"""The workflow sandbox the worker runs: the SDK's, without two costs it pays on every payload.

For every activation, temporalio 1.35 walks the activation three times and the completion three times
(codec, external storage, storage references) and, for each payload list it meets, asks the workflow
instance for the payload's serialization context. In the sandbox each such question is a string of
Python source that ``exec`` compiles anew and runs under the sandbox's importer: about half the CPU
the worker spent on an order's activations, for an answer no component of this engine's converter
reads.

:class:`BillingSandboxRunner` is :class:`SandboxedWorkflowRunner` with the same restrictions and the
same per-run isolation (module, class and globals re-created for each run), and two changes:

* the source strings the sandbox executes (one per kind of call) are compiled once per process;
* when the worker's data converter does not use serialization contexts (nothing in it implements
  ``WithSerializationContext``) and has no external storage, the context questions are answered
  without entering the sandbox: the answer could not change what the converter does.

It subclasses the SDK's private ``_runner._Instance``; ``temporalio`` is pinned to an exact version and
``tests/temporal/test_runner.py`` fails if that class stops having the hooks used here.

Only the host process uses this module (``worker.workflow_runner`` builds it); workflow code never
imports it.
"""

from __future__ import annotations

import dataclasses
import functools
from types import CodeType
from typing import Any, cast

from temporalio.converter import DataConverter, WorkflowSerializationContext
from temporalio.converter._extstore import StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions, _runner

#: A context no converter in this engine could have seen before: used to ask a converter whether it reads contexts.
_PROBE = WorkflowSerializationContext(namespace="billing-probe", workflow_id="billing-probe")


def context_free(converter: DataConverter) -> bool:
    """True if ``converter`` encodes and decodes the same whatever the serialization context."""
    return converter.external_storage is None and converter.with_context(_PROBE) is converter


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> CodeType:
    # dont_inherit: compiled exactly as exec() compiles a string, without this module's __future__ flags.
    return compile(source, "<string>", "exec", dont_inherit=True)


class _Instance(_runner._Instance):
    """The SDK's sandboxed instance; see the module docstring for what differs."""

    def __init__(
        self,
        details: WorkflowInstanceDetails,
        runner_class: type[WorkflowRunner],
        restrictions: SandboxRestrictions,
        *,
        context_free: bool,
    ) -> None:
        self._context_free = context_free  # set first: the base class runs sandbox code in __init__
        super().__init__(details, runner_class, restrictions)

    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec() takes a code object as readily as a string; the SDK only ever passes constant strings here.
        super()._run_code(cast(str, _compiled(code)), **extra_globals)

    def get_serialization_context(self, command_info: Any) -> Any:
        if self._context_free:
            return None  # the worker then uses its converter as it is, which is what any context would give
        return super().get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        if self._context_free:
            return StorageDriverStoreContext(target=None)  # no external storage: nothing reads it
        return super().get_external_store_context(command_info)


@dataclasses.dataclass(frozen=True)
class BillingSandboxRunner(SandboxedWorkflowRunner):
    """:class:`SandboxedWorkflowRunner` for a worker whose data converter is ``converter``."""

    converter_context_free: bool = False

    @classmethod
    def for_converter(cls, converter: DataConverter, restrictions: SandboxRestrictions) -> BillingSandboxRunner:
        return cls(restrictions=restrictions, converter_context_free=context_free(converter))

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _Instance(det, self.runner_class, self.restrictions, context_free=self.converter_context_free)
