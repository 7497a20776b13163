"""`billing ... --help` reads as prose: a flag shows no `<bool>` type, and a paragraph is wrapped to the
terminal (80 or 200 columns, or piped) rather than broken where the source code's lines end.
The real CLI as a subprocess; no stack needed."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from typing import Any

import pytest
import typer.main

from starter.cli import app
from tests.cli.conftest import REPO, clean_environment

#: Commands whose help has several paragraphs or flags: looked at in every width.
RICH_HELP = [
    [],
    ["dev"],
    ["review"],
    ["trace"],
    ["replay"],
    ["emulators", "fault"],
    ["emulators", "faults"],
    ["events", "listen"],
    ["order", "show"],
    ["subscription", "cancel"],
]
WIDTHS = [80, 200, None]  # None: piped, no COLUMNS (rich's default, 80)
#: Not a typer command: its help is argparse's own.
ARGPARSE = {"chaos"}


def every_command() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            if name not in ARGPARSE:
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def command_at(path: list[str]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def python_output(argv: list[str], columns: int | None, timeout: float = 60) -> str:
    """The standard output of ``python argv`` run from the repository with a clean environment, at ``columns``
    (None: piped, no COLUMNS); it must exit 0."""
    env = clean_environment()
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    result = subprocess.run(
        [sys.executable, *argv], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def help_of(path: list[str], columns: int | None) -> str:
    return python_output(["-m", "starter.cli", *path, "--help"], columns)


#: Renders ``--help`` of each command path in argv[1] (JSON) in one process, piped (no COLUMNS): a JSON
#: object of outputs by path. One interpreter start for every command instead of one each.
EVERY_HELP = """
import contextlib, io, json, sys
import typer.main
from starter.cli import app
command = typer.main.get_command(app)
shown = {}
for path in json.loads(sys.argv[1]):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = command.main(args=[*path, "--help"], prog_name="billing", standalone_mode=False)
    assert code in (0, None), (path, code)
    shown[" ".join(path)] = buffer.getvalue()
print(json.dumps(shown))
"""


def helps_of(paths: list[list[str]]) -> dict[str, str]:
    shown: dict[str, str] = json.loads(python_output(["-c", EVERY_HELP, json.dumps(paths)], None, timeout=120))
    return shown


def prose_lines(output: str) -> list[list[str]]:
    """The paragraphs of help text outside the usage line and the option panels, as rendered lines."""
    paragraphs: list[list[str]] = [[]]
    in_usage = False
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("Usage:"):
            in_usage = True
            continue
        if in_usage and line.startswith(" " * 10) and stripped:
            continue  # the usage line's continuation
        in_usage = False
        if not stripped or stripped[0] in "│╭╰":
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        paragraphs[-1].append(line.rstrip())
    return [paragraph for paragraph in paragraphs if paragraph]


def assert_wrapped_to(output: str, width: int) -> None:
    """Every line of a paragraph but its last is as full as the terminal allows: the next word did not fit."""
    for paragraph in prose_lines(output):
        for line, following in itertools.pairwise(paragraph):
            next_word = following.split()[0]
            assert len(line) + 1 + len(next_word) > width - 2, (
                f"a line broken short of the width ({width}):\n{line}\n{following}\nin:\n{output}"
            )


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("path", RICH_HELP, ids=lambda path: " ".join(path) or "billing")
def test_help_is_prose_at_every_width(path: list[str], columns: int | None) -> None:
    shown = help_of(path, columns)
    assert "<bool>" not in shown, shown
    assert_wrapped_to(shown, columns or 80)


def test_no_command_shows_a_bool_type_on_a_flag() -> None:
    paths = every_command()
    shown = helps_of(paths)
    assert sorted(shown) == sorted(" ".join(path) for path in paths)
    for path, text in shown.items():
        assert "Usage:" in text, f"billing {path} --help:\n{text}"
        assert "<bool>" not in text, f"billing {path} --help:\n{text}"


def test_the_command_list_keeps_a_description_on_one_line_when_it_fits() -> None:
    shown = help_of([], 200)
    assert any("refunds in review, subscriptions past due or unpaid" in line for line in shown.splitlines()), shown


@pytest.mark.parametrize("path", [["emulators", "renew"], ["emulators", "fault"], ["subscription", "preview-change"]])
def test_the_usage_line_uses_the_terminal_width(path: list[str]) -> None:
    shown = help_of(path, 200)
    usage = next(line for line in shown.splitlines() if "Usage:" in line)
    arguments = [param.name for param in command_at(path).params if param.param_type_name == "argument"]
    assert arguments, path
    for name in arguments:
        assert name in usage, f"the usage line is wrapped short of 200 columns:\n{shown}"
