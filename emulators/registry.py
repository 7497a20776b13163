"""The one list of emulators: each provider's :class:`~emulators.common.local.LocalEmulator`, declared in
``emulators/<name>/local.py``. The hub mounts, persists and closes each one it lists; the local stack
(``starter/stackbuilder.py``) registers the merchant at each and points the engine at it."""

from __future__ import annotations

from emulators.common.local import LocalEmulator
from emulators.kess.local import LOCAL as KESS
from emulators.waafipay.local import LOCAL as WAAFIPAY
from emulators.waffo.local import LOCAL as WAFFO

EMULATORS: tuple[LocalEmulator, ...] = (WAFFO, KESS, WAAFIPAY)

#: Every emulator's name (its provider's), in order.
EMULATOR_NAMES: tuple[str, ...] = tuple(emulator.name for emulator in EMULATORS)
