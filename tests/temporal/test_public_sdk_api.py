"""The engine uses only temporalio's public API: no module, class or function whose dotted path has a
component starting with ``_`` (``temporalio.worker._workflow_instance``, ``from temporalio.x import _y``).

A private name can change in any release; ``temporalio`` is a version range in pyproject.toml, and the
replay suite (tests/replay) is what guards an upgrade.
"""

from __future__ import annotations

import ast
import os
import re
import tomllib
from pathlib import Path

import pytest

from tests.support.source import parse

ROOT = Path(__file__).resolve().parents[2]

#: Every Python file of the repository is scanned (tests included: fixtures and helpers are code too), so a
#: new top-level package is covered without being listed; these directories are not ours or not code.
NOT_SOURCES = {"var", "build", "dist", "node_modules"}

#: This file names private paths on purpose, as examples the scan must catch.
EXEMPT = {Path(__file__).resolve()}


def _private(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "temporalio" and any(part.startswith("_") and not part.startswith("__") for part in parts)


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for an attribute chain on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def private_temporalio_uses(source: str) -> list[str]:
    """Each use of a private temporalio path in ``source``: imports, imported names, attribute access."""
    tree = parse(source)
    found: list[str] = []
    # Local names bound to temporalio modules or objects: `import temporalio.worker as tw`,
    # `from temporalio import worker`.
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "temporalio":
                    continue
                if _private(alias.name):
                    found.append(f"line {node.lineno}: import {alias.name}")
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else "temporalio"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "temporalio":
                continue
            for alias in node.names:
                path = f"{node.module}.{alias.name}"
                if _private(path):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                aliases[alias.asname or alias.name] = path
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            if head in aliases:
                full = f"{aliases[head]}.{rest}"
                if _private(full) and not _private(aliases[head]):
                    found.append(f"line {node.lineno}: {dotted}")
    return sorted(set(found))


def _sources() -> list[Path]:
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(ROOT):
        subdirectories[:] = sorted(
            d for d in subdirectories if not d.startswith(".") and d not in NOT_SOURCES and not d.endswith(".egg-info")
        )
        files += [Path(directory) / name for name in sorted(names) if name.endswith(".py")]
    return [f for f in files if f.resolve() not in EXEMPT]


def test_the_scan_covers_the_code() -> None:
    names = {f.relative_to(ROOT).as_posix() for f in _sources()}
    assert {
        "worker.py",
        "workflows/order.py",
        "host/temporal.py",
        "tests/support/stack.py",
        "scripts/bench_orders.py",
    } <= names


@pytest.mark.parametrize(
    "source",
    [
        "from temporalio.worker.workflow_sandbox import _runner",
        "from temporalio.converter._extstore import StorageDriverStoreContext",
        "import temporalio.worker._workflow_instance",
        "import temporalio.worker\ntemporalio.worker._workflow_instance.UnsandboxedWorkflowRunner",
        "import temporalio.worker as tw\ntw._workflow_instance",
        "from temporalio import workflow\nworkflow._Definition.must_from_class(object)",
        "from temporalio import workflow as w\nw.unsafe._set_in_sandbox(True)",
        "from temporalio.converter import DataConverter\nDataConverter.default._new_payload_converter",
    ],
)
def test_the_scan_catches_private_paths(source: str) -> None:
    assert private_temporalio_uses(source), source


@pytest.mark.parametrize(
    "source",
    [
        "from temporalio.worker import UnsandboxedWorkflowRunner",
        "from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner",
        "import temporalio.converter\ntemporalio.converter.DataConverter.default",
        "from temporalio import workflow\nworkflow.unsafe.imports_passed_through()",
        "class A:\n    def __init__(self) -> None:\n        self._private = 1\n",
        "from billing import _helpers",
    ],
)
def test_the_scan_passes_public_paths(source: str) -> None:
    assert not private_temporalio_uses(source), source


def test_no_private_temporalio_api_is_used() -> None:
    problems = {
        f.relative_to(ROOT).as_posix(): uses for f in _sources() if (uses := private_temporalio_uses(f.read_text()))
    }
    assert not problems, f"private temporalio API (use its public API instead): {problems}"


def test_temporalio_is_a_version_range() -> None:
    """Public API only is what lets the dependency take a range: a pin would hide a private use again."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = [d for d in project["dependencies"] if re.match(r"temporalio\b(?![-_])", d)]
    assert len(specs) == 1, specs
    spec = specs[0].removeprefix("temporalio").replace(" ", "")
    assert "==" not in spec and "~=" not in spec, spec
    assert re.search(r">=\d", spec) and re.search(r"<\d", spec), f"temporalio needs a lower and an upper bound: {spec}"
