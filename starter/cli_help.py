"""How ``billing ... --help`` reads: prose wrapped to the terminal, flags without a type.

Typer's rich help keeps the line breaks of a docstring's later paragraphs (and of a command's summary in
its group's list), so a paragraph written over several source lines came out broken short at every width;
it shows ``<bool>`` after every flag (``--help``, ``--json``), which takes no value; and it wraps the usage
line at 80 columns whatever the terminal's width. :func:`tidy_help` fixes them once, for every command of
the app: each paragraph of a command's help becomes one line (a paragraph starting with ``\\b`` is kept
as written, as click does), a flag shows no type, and the usage line is as wide as the terminal (``COLUMNS``;
80 when piped).
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperOption
from typer.models import CommandInfo


def reflow(text: str) -> str:
    """Each paragraph (blank-line separated) on one line; a ``\\b`` paragraph as written."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        paragraph if paragraph.startswith("\b") else " ".join(paragraph.split()) for paragraph in paragraphs
    )


def _command_help(info: CommandInfo) -> str | None:
    text = info.help if isinstance(info.help, str) else inspect.getdoc(info.callback) if info.callback else None
    return reflow(text) if text else None


def _tidy_commands(app: typer.Typer) -> None:
    for command in app.registered_commands:
        command.help = _command_help(command)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _tidy_commands(group.typer_instance)


#: The usage line follows the terminal up to this width.
USAGE_MAX_WIDTH = 1000

_type_of_option = TyperOption.display_type_rich


def _no_type_on_a_flag(self: TyperOption, ctx: Any) -> str | None:
    """A flag takes no value: nothing in the type column (other options as typer shows them)."""
    return None if self.is_flag else _type_of_option(self, ctx)


def tidy_help(app: typer.Typer) -> None:
    """Reflow the help of every command registered on ``app`` (and its groups); flags show no type."""
    _tidy_commands(app)
    # Click caps its formatter (the usage line) at 80 columns unless told a maximum; subcommands inherit it.
    app.info.context_settings = {**(app.info.context_settings or {}), "max_content_width": USAGE_MAX_WIDTH}
    TyperOption.display_type_rich = _no_type_on_a_flag  # type: ignore[method-assign]
