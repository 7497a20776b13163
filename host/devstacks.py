"""The registry of ``billing dev`` stacks running on this machine, for this user.

``billing dev`` announces itself here (:func:`register_dev_stack`) with its data directory and the process
ids of its children; a client of the same Temporal address borrows the stack's generated codec keys from
there (:func:`dev_codec_settings`, used by :func:`host.temporal.connect`), and ``starter.devenv`` finds the
stack's ports. An entry counts only while its process is alive and the registry directory is this user's
alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from billing.settings import CodecSettings

#: Where ``billing dev`` keeps its codec keys and token, relative to its data directory (mode 0600).
DEV_CODEC_FILE = Path("keys") / "codec.json"


def dev_stack_registry() -> Path:
    """A directory only this user can read, naming the data directory of each running ``billing dev``."""
    return Path(tempfile.gettempdir()) / f"billing-dev-{os.getuid()}"


def _registry_entry(address: str) -> Path:
    return dev_stack_registry() / ("stack-" + address.replace(":", "-").replace("/", "_") + ".json")


def register_dev_stack(address: str, data_dir: Path, children: dict[str, int] | None = None) -> Path:
    """Announce a running ``billing dev`` for ``address``, with the process ids of its children by name;
    :func:`unregister_dev_stack` removes it."""
    registry = dev_stack_registry()
    registry.mkdir(mode=0o700, exist_ok=True)
    entry = _registry_entry(address)
    body = json.dumps(
        {"address": address, "data_dir": str(data_dir.resolve()), "pid": os.getpid(), "children": children or {}}
    )
    staging = entry.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
    staging.replace(entry)  # a reader sees the old entry or the new one, never half of one
    return entry


def unregister_dev_stack(address: str) -> None:
    entry = _registry_entry(address)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(entry.read_text()).get("pid") == os.getpid():
            entry.unlink()


def dev_codec_settings(address: str) -> CodecSettings | None:
    """The codec keys of the ``billing dev`` stack running for ``address``, if there is one."""
    registry, entry = dev_stack_registry(), _registry_entry(address)
    try:
        info = registry.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None  # not ours alone: never trust it
        record = json.loads(entry.read_text())
        os.kill(int(record["pid"]), 0)  # the stack is still running
        if record.get("address") != address:
            return None
        stored = json.loads((Path(record["data_dir"]) / DEV_CODEC_FILE).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CodecSettings(keys=stored["keys"], active_key=stored["active_key"])
