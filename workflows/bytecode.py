"""One compiled copy of each workflow module's code, shared by every sandboxed run.

The workflow sandbox re-executes a workflow's module for every run so that each run has its own module,
class and functions. Python's import machinery would also read and unmarshal the module's bytecode again
each time, so every cached run would hold its own copy of the same immutable code objects. The finder
here hands the sandbox the code object compiled once (recompiled when the file changes on disk); the
module body still runs afresh in a new namespace for each run, so the sandbox's isolation is unchanged.

Only the host process uses this module (``worker.workflow_runner`` installs it); workflow code never
imports it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from types import CodeType, ModuleType
from typing import ClassVar

_lock = threading.Lock()


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose compiled code is kept per file, keyed by its modification time and size."""

    codes: ClassVar[dict[str, tuple[tuple[int, int], CodeType]]] = {}

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self.codes.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        code = super().get_code(fullname)
        if code is None:  # pragma: no cover - a source file always compiles to code or raises
            raise ImportError(f"no code for {fullname}", name=fullname)
        self.codes[path] = (stamp, code)
        return code


class SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the named modules as usual, then loads them through :class:`_SharedCodeLoader`."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = _SharedCodeLoader(spec.loader.name, spec.loader.path)
        return spec


def share_workflow_code(modules: Iterable[str]) -> None:
    """Install (once per process) a finder that shares the compiled code of ``modules`` across runs."""
    wanted = frozenset(modules)
    with _lock:
        for finder in sys.meta_path:
            if isinstance(finder, SharedCodeFinder) and wanted <= finder.names:
                return
        sys.meta_path.insert(0, SharedCodeFinder(wanted))
