"""Every `billing` command docs/runbook.md tells an operator to run exists, with the options it uses."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
WORD = re.compile(r"[a-z][a-z-]*")


def command_lines(text: str) -> list[str]:
    """Each `billing ...` in inline code or after a ``$`` prompt in a console block."""
    inline = re.findall(r"`(billing [^`]+)`", text)
    console = [line.strip().removeprefix("$ ") for line in text.splitlines() if line.strip().startswith("$ billing ")]
    return inline + console


def parse(line: str) -> tuple[tuple[str, ...], set[str]]:
    """(the command path, the options used): ``billing order resolve X --status PAID`` gives
    (("order", "resolve"), {"--status"})."""
    words = shlex.split(line.replace("\\\n", " "), posix=True)[1:]
    path: list[str] = []
    for word in words:
        if not WORD.fullmatch(word) or len(path) == 2:
            break
        path.append(word)
    options = {word.split("=")[0] for word in words if word.startswith("--")}
    return tuple(path), options


def documented_commands() -> dict[tuple[str, ...], set[str]]:
    commands: dict[tuple[str, ...], set[str]] = {}
    for line in command_lines(RUNBOOK.read_text()):
        path, options = parse(line)
        commands.setdefault(path, set()).update(options)
    return commands


def help_text(path: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *path, "--help"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip


def test_the_runbook_covers_what_operators_need() -> None:
    commands = documented_commands()
    for needed in [("review",), ("order", "resolve"), ("order", "check"), ("replay",), ("order", "list")]:
        assert needed in commands, f"docs/runbook.md does not use billing {' '.join(needed)}"
    titles = re.findall(r"^## (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    for topic in ["NEEDS_REVIEW", "outage", "webhook", "Key rotation", "Replaying"]:
        assert any(topic in title for title in titles), f"no section on {topic}"


@pytest.mark.parametrize("path", sorted(documented_commands()), ids=" ".join)
def test_each_command_exists_with_its_options(path: tuple[str, ...]) -> None:
    result = help_text(path)
    assert result.returncode == 0, f"billing {' '.join(path)} --help: {result.stderr}"
    usage = re.search(r"Usage: \S+ -m starter\.cli ((?:[a-z-]+ )*)", result.stdout)
    assert usage and tuple(usage.group(1).split()) == path, f"billing {' '.join(path)} is not a command"
    for option in documented_commands()[path]:
        assert option in result.stdout, f"billing {' '.join(path)} has no {option}"


def test_the_parser_finds_a_made_up_command_or_option() -> None:
    """The check above can fail: a command or an option the CLI lacks is reported."""
    assert help_text(("order", "reconcile")).returncode != 0
    path, options = parse("billing order resolve ORD-1 --status PAID --approver bob")
    assert path == ("order", "resolve") and "--approver" not in help_text(path).stdout
    assert "--approver" in options
