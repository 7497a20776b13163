"""``billing`` commands find the running ``billing dev`` stack by themselves.

``billing dev`` writes ``<data dir>/env`` (mode 0600) with the address of its Temporal server and the URL
of its emulators, whatever ports it was given. A command run without ``BILLING_TEMPORAL_ADDRESS`` or
``BILLING_EMULATORS_URL`` reads them from there: the data directory is ``BILLING_DEV_DATA_DIR`` or
``var/dev`` under the working directory, as for ``billing dev`` itself. An explicit variable always wins.

The file is only trusted when it is this user's alone and the stack that wrote it still runs (it is in the
registry of running stacks, :func:`host.devstacks.dev_stack_registry`); otherwise the defaults apply.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import MutableMapping
from pathlib import Path

from host.devstacks import dev_stack_registry

#: What a command takes from the stack's ``env`` file when the variable is not set.
FOUND_VARIABLES = ("BILLING_TEMPORAL_ADDRESS", "BILLING_EMULATORS_URL")
#: Taken too, but only by a command that talks to that stack's Temporal server: test clocks are allowed
#: (``billing.clocks``) because its worker's providers are the emulators.
STACK_ONLY_VARIABLES = ("BILLING_TEST_CLOCKS",)


def read_env_file(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of a file written by ``billing dev`` (shell quoting); {} when untrusted."""
    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return {}
        text = path.read_text()
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, equals, raw = line.partition("=")
        if line.startswith("#") or not equals:
            continue
        with contextlib.suppress(ValueError):
            words = shlex.split(raw)
            values[name.strip()] = words[0] if words else ""
    return values


def stack_running(address: str, data_dir: Path) -> bool:
    """Whether a ``billing dev`` for ``address`` with this data directory is registered and alive."""
    registry = dev_stack_registry()
    try:
        info = registry.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return False
        entries = list(registry.glob("stack-*.json"))
    except OSError:
        return False
    wanted = str(data_dir.resolve())
    for entry in entries:
        try:
            record = json.loads(entry.read_text())
            if record.get("address") != address or record.get("data_dir") != wanted:
                continue
            os.kill(int(record["pid"]), 0)
            return True
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return False


def running_stack_environment(data_dir: Path) -> dict[str, str]:
    """:data:`FOUND_VARIABLES` of the stack running from ``data_dir``; {} when none runs there."""
    values = read_env_file(data_dir / "env")
    address = values.get("BILLING_TEMPORAL_ADDRESS")
    if not address or not stack_running(address, data_dir):
        return {}
    return {name: values[name] for name in (*FOUND_VARIABLES, *STACK_ONLY_VARIABLES) if values.get(name)}


def use_running_dev_stack(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Fill the unset :data:`FOUND_VARIABLES` of ``environ`` (``os.environ``) from the running dev stack.

    Returns what was filled in.
    """
    from billing.settings import load
    from host.settings import DevSettings

    environ = os.environ if environ is None else environ
    if all(environ.get(name) for name in (*FOUND_VARIABLES, *STACK_ONLY_VARIABLES)):
        return {}
    try:
        data_dir = load(DevSettings).data_dir
    except Exception:  # a bad BILLING_DEV_* value is reported by `billing dev`, not by every command
        return {}
    stack = running_stack_environment(data_dir)
    found = {name: value for name, value in stack.items() if not environ.get(name) and name in FOUND_VARIABLES}
    environ.update(found)
    if stack and environ.get("BILLING_TEMPORAL_ADDRESS") == stack.get("BILLING_TEMPORAL_ADDRESS"):
        found |= {name: stack[name] for name in STACK_ONLY_VARIABLES if name in stack and not environ.get(name)}
        environ.update(found)
    return found
