"""``billing/`` is the pure domain: it never reaches up into the processes that host it.

A check over the source (every module of the package, its imports at any depth, lazy ones included):
nothing from ``starter``, ``webhooks``, ``worker`` or ``host`` (the host side: serving, child processes,
the dev-stack registry, exporter and logging set-up), no process or socket control (``subprocess``,
``socket``, ``signal``, ``os.kill``), no running of an event loop (``asyncio.run``: a process's ``main``), no
log handler or root-logger set-up, no OpenTelemetry SDK or exporter (the process installs those).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.source import parse

BILLING = Path(__file__).resolve().parents[2] / "billing"
UPWARD = ("starter", "webhooks", "worker", "host")
HOST_ONLY_MODULES = ("subprocess", "socket", "signal", "uvicorn")
#: Exporters and SDK providers are installed by the process (host/telemetry.py, host/metrics.py); the
#: domain only counts and opens spans through the OpenTelemetry API.
HOST_ONLY_PACKAGES = ("opentelemetry.sdk", "opentelemetry.exporter")
HOST_ONLY_CALLS = {
    ("os", "kill"),
    ("os", "killpg"),
    ("os", "fork"),
    ("os", "system"),
    # A process's main and where its logs go (host/logs.py); the domain only logs through its loggers.
    ("asyncio", "run"),
    ("logging", "StreamHandler"),
    ("logging", "FileHandler"),
    ("logging", "basicConfig"),
}


def _sources() -> list[Path]:
    return sorted(BILLING.rglob("*.py"))


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append((node.lineno, node.args[0].value))
    return names


def _host_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in HOST_ONLY_CALLS:
                found.append((node.lineno, f"{node.value.id}.{node.attr}"))
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = node.module
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names if (module, a.name) in HOST_ONLY_CALLS]
    return found


def _violations(path: Path) -> list[str]:
    tree = parse(path.read_text(), str(path))
    rel = path.relative_to(BILLING.parent)
    out = []
    for line, name in _imported(tree):
        top = name.split(".")[0]
        host_package = any(name == p or name.startswith(p + ".") for p in HOST_ONLY_PACKAGES)
        if top in UPWARD or top in HOST_ONLY_MODULES or host_package:
            out.append(f"{rel}:{line} imports {name}")
    out += [f"{rel}:{line} uses {call}" for line, call in _host_calls(tree)]
    return out


def test_the_check_sees_every_kind_of_violation() -> None:
    source = (
        "import os\nimport subprocess\nfrom starter.serving import AppServer\n"
        "def f():\n    from host import devstacks\n    import importlib\n"
        "    importlib.import_module('webhooks.main')\n    os.kill(1, 0)\n"
        "import asyncio, logging\nfrom asyncio import run\nasyncio.run(main())\nlogging.StreamHandler()\n"
    )
    tree = parse(source)
    imports = {name for _, name in _imported(tree)}
    assert {"subprocess", "starter.serving", "host", "webhooks.main"} <= imports
    assert sorted(call for _, call in _host_calls(tree)) == [
        "asyncio.run",
        "asyncio.run",
        "logging.StreamHandler",
        "os.kill",
    ]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(BILLING)))
def test_billing_does_not_reach_into_the_host(path: Path) -> None:
    assert _violations(path) == []


#: Below the starter: the HTTP service and the activities share the host side (host/), never the starter's.
LOWER_PACKAGES = {
    "webhooks": ("starter",),
    "activities": ("starter", "webhooks", "host"),
    "host": ("starter", "webhooks"),
}


@pytest.mark.parametrize("package", sorted(LOWER_PACKAGES))
def test_lower_layers_do_not_import_upward(package: str) -> None:
    upward = LOWER_PACKAGES[package]
    found = [
        f"{path.relative_to(BILLING.parent)}:{line} imports {name}"
        for path in sorted((BILLING.parent / package).rglob("*.py"))
        for line, name in _imported(parse(path.read_text()))
        if name.split(".")[0] in upward
    ]
    assert found == []
