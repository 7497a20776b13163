"""The emulators' state on disk: one SQLite file, so a restarted local stack still knows its orders.

Each emulator exports its business state (orders, refunds, subscriptions, the ledger, notifications not
yet delivered, its own keys and counters) as plain picklable data; :class:`StateFile` keeps one row per
emulator and replaces it in a single transaction whenever the exported state changed. A process killed at
any moment leaves the last committed state behind, never a half-written one. The file is a local, private
development aid (mode 0600 in the user's data directory); nothing here is meant for a shared server.
"""

from __future__ import annotations

import logging
import os
import pickle
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Bumped when an emulator's exported state changes shape incompatibly: older rows are then ignored.
FORMAT = 1


@dataclass(frozen=True)
class Persisted:
    """How one emulator's state leaves and re-enters it."""

    export: Callable[[], Any]
    restore: Callable[[Any], None]


class StateFile:
    """``<data dir>/emulators.db``: the exported state of each emulator, by name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, format INTEGER NOT NULL, "
            "saved_at REAL NOT NULL, blob BLOB NOT NULL)"
        )
        for extra in path.parent.glob(path.name + "-*"):
            extra.chmod(0o600)

    def load(self) -> dict[str, bytes]:
        rows = self._db.execute("SELECT name, blob FROM state WHERE format = ?", (FORMAT,)).fetchall()
        return {str(name): bytes(blob) for name, blob in rows}

    def save(self, blobs: Mapping[str, bytes]) -> None:
        """Replace the rows of ``blobs`` in one transaction."""
        now = time.time()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO state (name, format, saved_at, blob) VALUES (?, ?, ?, ?)",
                [(name, FORMAT, now, blob) for name, blob in blobs.items()],
            )

    def close(self) -> None:
        self._db.close()


class EmulatorStates:
    """Saves every registered emulator's state when it changed; restores it at start."""

    def __init__(self, state_file: StateFile, parts: Mapping[str, Persisted]) -> None:
        self.file = state_file
        self.parts = dict(parts)
        self._saved: dict[str, bytes] = {}

    def restore(self) -> list[str]:
        """Load the saved state into the emulators; the names of those restored."""
        restored = []
        for name, blob in self.file.load().items():
            part = self.parts.get(name)
            if part is None:
                continue
            try:
                part.restore(pickle.loads(blob))  # noqa: S301 - our own private file
            except Exception:
                log.exception("the saved state of the %s emulator could not be restored; it starts empty", name)
                continue
            self._saved[name] = blob
            restored.append(name)
        return restored

    def save_if_changed(self) -> bool:
        """Write the emulators whose state differs from the last saved; True if anything was written."""
        changed: dict[str, bytes] = {}
        for name, part in self.parts.items():
            blob = pickle.dumps(part.export(), protocol=pickle.HIGHEST_PROTOCOL)
            if self._saved.get(name) != blob:
                changed[name] = blob
        if not changed:
            return False
        self.file.save(changed)
        self._saved.update(changed)
        return True

    def close(self) -> None:
        self.file.close()
