"""Parsing the project's sources in tests that scan them (imports, calls, class trees)."""

from __future__ import annotations

import ast


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, asked once more if CPython 3.11 reports ``AST constructor recursion depth mismatch``.

    In 3.11 the AST constructor keeps its recursion depth in state shared by the interpreter, so a parse
    that runs while another thread parses (a worker thread importing a module) can report that
    ``SystemError`` for a valid source (python/cpython#106905, fixed in 3.12). A second parse is exact.
    """
    try:
        return ast.parse(source, filename)
    except SystemError:
        return ast.parse(source, filename)
