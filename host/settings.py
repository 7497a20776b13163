"""Settings of the local dev stack: where ``billing dev`` runs its parts and where the CLI finds the emulators.

Host concerns, not the engine's: nothing in ``billing/``, ``workflows/`` or ``activities/`` reads them.
``docs/configuration.md`` lists the variables.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class EmulatorSettings(BaseSettings):
    """Where the CLI finds the emulators' control API (``billing emulators pay ...``)."""

    model_config = SettingsConfigDict(env_prefix="BILLING_EMULATORS_", extra="ignore")

    url: str = "http://127.0.0.1:8070"


class DevSettings(BaseSettings):
    """The local stack started by ``billing dev``."""

    model_config = SettingsConfigDict(env_prefix="BILLING_DEV_", extra="ignore")

    data_dir: Path = Path("var/dev")
    temporal_port: int = 7233
    ui_port: int = 8233
    emulator_port: int = 8070
    http_port: int = 8000
    host: str = "127.0.0.1"
