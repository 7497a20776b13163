"""The KESS emulator in the hub and in a local stack (see :mod:`emulators.common.local`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulators.common.local import DevSecrets, LocalEmulator
from emulators.kess.app import create_app
from emulators.kess.config import KessEmulatorConfig
from emulators.kess.emulator import KessEmulator

DEV_USER = "dev-kess"
DEV_STORE_ID = "109038"


@dataclass(frozen=True)
class KessAccount:
    """The merchant's API user at the KESS emulator, and its store."""

    username: str
    password: str
    store_id: str


def _build(public_base_url: str, account: KessAccount | None, time_scale: float, notify_time_scale: float) -> Any:
    return KessEmulator(KessEmulatorConfig(public_base_url=public_base_url, time_scale=time_scale))


def _register(emulator: KessEmulator, account: KessAccount) -> None:
    emulator.register_merchant(account.username, account.password, store_id=account.store_id)


def _dev_account(secrets: DevSecrets, site_url: str | None) -> KessAccount:
    return KessAccount(DEV_USER, secrets.secret("kess.password"), DEV_STORE_ID)


def _set_unpaid_lifetime(emulator: KessEmulator, seconds: float) -> None:
    # An unpaid native-pay QR code (KESS: about 2 hours).
    emulator.config.native_order_ttl_s = seconds


def _settings(account: KessAccount, hub_url: str) -> dict[str, Any]:
    return {
        "base_url": f"{hub_url}/kess",
        "user": account.username,
        "password": account.password,
        "store_id": account.store_id,
    }


LOCAL = LocalEmulator(
    name="kess",
    title="KESS Pay",
    build=_build,
    app=create_app,
    register=_register,
    dev_account=_dev_account,
    settings=_settings,
    api_path="/kess",
    ledger_reference="out_trade_no",
    set_unpaid_lifetime=_set_unpaid_lifetime,
    unpaid_lifetime_setting="qr_lifetime_s",
)
