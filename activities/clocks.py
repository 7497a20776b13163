"""Test clocks: whether this worker allows them (``BILLING_TEST_CLOCKS=enabled`` where it runs).

The worker is the one process that knows its providers; a test clock asks it once, when it starts
(``workflows.clocks``), so a client configured for test clocks cannot use them against a worker that talks
to real providers.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from billing.clocks import clocks_enabled


class ClockActivities:
    def all(self) -> list[Callable[..., object]]:
        return [self.permitted]

    @activity.defn(name="clocks.permitted")
    async def permitted(self) -> bool:
        """True when this worker's process has ``BILLING_TEST_CLOCKS=enabled``."""
        return clocks_enabled()
