"""How one provider's emulator joins the hub and a local stack: one :class:`LocalEmulator` per provider, in
``emulators/<name>/local.py``, listed once in :mod:`emulators.registry`.

A declaration says how to build the emulator and its app (mounted by the hub under ``/<name>``), how it
learns the local merchant's account, which account ``billing dev`` registers (its secrets from the data
directory), and which of the engine's provider settings (the fields of ``providers.<name>.settings``) point
the engine at it. Nothing here imports the engine: the settings are plain values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from starlette.types import ASGIApp


class DevSecrets(Protocol):
    """The local stack's secrets, generated once into its data directory (``starter.devkeys``)."""

    def secret(self, name: str) -> str:
        """A random secret called ``name``."""
        ...

    def key_pair(self, name: str) -> tuple[bytes, bytes]:
        """The RSA key pair ``name`` (private and public PEM), kept as ``<key dir>/name.key`` and ``.pub``."""
        ...

    @property
    def key_dir(self) -> Path:
        """Where the key pairs are kept."""
        ...


@dataclass(frozen=True)
class LocalEmulator:
    """One provider's emulator in the hub and in a local stack."""

    #: The provider's name: the hub mounts the emulator under ``/<name>``.
    name: str
    #: How people write it.
    title: str
    #: The emulator serving at ``public_base_url`` (ends with ``/<name>``), for the merchant ``account`` (None:
    #: none yet); ``time_scale`` multiplies its own delays (a payer's approval), ``notify_time_scale`` its
    #: notification retries. Only what the provider has applies.
    build: Callable[[str, Any, float, float], Any]
    #: The emulator's ASGI app.
    app: Callable[[Any], ASGIApp]
    #: Registers the merchant ``account`` at the emulator.
    register: Callable[[Any, Any], None]
    #: The account ``billing dev`` registers, from its secrets and the merchant's site (the HTTP service's URL,
    #: None when not known).
    dev_account: Callable[[DevSecrets, str | None], Any]
    #: The engine's settings for this provider (the field names of its settings class) that point it at the
    #: emulators served at the hub's URL, as ``account``.
    settings: Callable[[Any, str], dict[str, Any]]
    #: The path of the provider's API below the hub's URL (shown on the hub's index page).
    api_path: str
    #: The field of the emulator's ledger entries that holds the merchant's payment reference.
    ledger_reference: str
    #: Shortens how long an unpaid payment stays payable at the emulator (seconds), and the engine's setting
    #: that must then be told the same; None: the provider has no such lifetime.
    set_unpaid_lifetime: Callable[[Any, float], None] | None = None
    unpaid_lifetime_setting: str | None = None
    #: The control API path where the customer acts on the checkout of the payment ``key``: ``action`` is
    #: ``pay``, ``fail`` or ``abandon``.
    customer_path: Callable[[str, str], str] = lambda action, key: f"orders/{key}/{action}"
    #: The control API path of the payer's wallet ``number``, or of the wallets (``None``: where one is set);
    #: None: the provider has no payer wallets.
    wallet_path: Callable[[str | None], str] | None = None
    #: It sends signed notifications, and its control API drains them (``POST control/notifications/drain``).
    sends_notifications: bool = False
    #: Starts the emulator's background work when its state was restored (what it owes goes out without
    #: waiting for a request); None: it has none to resume.
    resume: Callable[[Any], None] | None = None
