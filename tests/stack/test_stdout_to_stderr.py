"""``stdout_to_stderr``: children started inside print to stderr, so a --json stdout stays parseable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from host.serving import stdout_to_stderr


def test_children_started_inside_print_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with stdout_to_stderr():
        subprocess.run([sys.executable, "-c", "print('banner')"], check=True)
    subprocess.run([sys.executable, "-c", "print('{}')"], check=True)
    out, err = capfd.readouterr()
    assert out == "{}\n"
    assert "banner" in err
