"""Moved to :mod:`host.serving`; these names stay importable from here for the starter's own modules."""

from host.serving import AppServer, ChildProcess, free_port, stdout_to_stderr, wait_for_port

__all__ = ["AppServer", "ChildProcess", "free_port", "stdout_to_stderr", "wait_for_port"]
