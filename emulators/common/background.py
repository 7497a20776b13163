"""Stopping an emulator's background tasks, from whatever context a shutdown runs in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None], timeout_s: float = 5.0) -> None:
    """Cancel ``tasks`` and wait (up to ``timeout_s``) for those that run on the current event loop.

    A server's lifespan may be finalised outside any running loop (a server task cancelled while its
    loop closes): then the tasks are only cancelled, which is all that can be done there, and no
    ``RuntimeError`` escapes into the shutdown that called us.
    """
    pending = {task for task in tasks if task is not None and not task.done()}
    for task in pending:
        task.cancel()
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        return
    ours = {task for task in pending if task.get_loop() is current}
    if ours:
        await asyncio.wait(ours, timeout=timeout_s)
