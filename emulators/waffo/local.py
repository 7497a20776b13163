"""The Waffo emulator in the hub and in a local stack (see :mod:`emulators.common.local`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.common.local import DevSecrets, LocalEmulator
from emulators.waffo.app import create_app
from emulators.waffo.config import WaffoEmulatorConfig
from emulators.waffo.emulator import WaffoEmulator

#: Fixed, non-secret identifiers of the local merchant. The API key only means something to the emulator.
DEV_API_KEY = "dev-waffo-api-key"
DEV_MERCHANT_ID = "DEV-MERCHANT-001"


@dataclass(frozen=True)
class WaffoAccount:
    """The merchant at the Waffo emulator: its API key and id, its own key pair (PEM: it signs requests and
    notification replies), the emulator's key pair (the emulator signs answers and notifications), and the
    product page every order names. With ``key_dir`` (holding ``merchant.key`` and ``waffo-emulator.pub``)
    the engine reads the keys from those files. Without an emulator key (empty) the emulator makes one."""

    api_key: str
    merchant_id: str
    merchant_private_pem: bytes
    merchant_public_pem: bytes
    emulator_private_pem: bytes
    emulator_public_pem: bytes
    goods_url: str | None = None
    key_dir: Path | None = None


def _build(public_base_url: str, account: WaffoAccount | None, time_scale: float, notify_time_scale: float) -> Any:
    return WaffoEmulator(
        WaffoEmulatorConfig(
            public_base_url=public_base_url,
            waffo_private_key_pem=(account.emulator_private_pem or None) if account else None,
            notify_time_scale=notify_time_scale,
        )
    )


def _register(emulator: WaffoEmulator, account: WaffoAccount) -> None:
    emulator.register_merchant(account.api_key, account.merchant_id, account.merchant_public_pem)


def _dev_account(secrets: DevSecrets, site_url: str | None) -> WaffoAccount:
    merchant, emulator = secrets.key_pair("merchant"), secrets.key_pair("waffo-emulator")
    return WaffoAccount(
        DEV_API_KEY,
        DEV_MERCHANT_ID,
        *merchant,
        *emulator,
        goods_url=f"{site_url}/shop" if site_url else None,
        key_dir=secrets.key_dir,
    )


def _settings(account: WaffoAccount, hub_url: str) -> dict[str, Any]:
    keys: dict[str, Any]
    if account.key_dir is not None:
        keys = {
            "private_key_file": account.key_dir / "merchant.key",
            "public_key_file": account.key_dir / "waffo-emulator.pub",
        }
    else:
        keys = {
            "private_key": account.merchant_private_pem.decode(),
            "public_key": account.emulator_public_pem.decode(),
        }
    goods = {"goods_url": account.goods_url} if account.goods_url else {}
    return {
        "base_url": f"{hub_url}/waffo/api/v1",
        "api_key": account.api_key,
        "merchant_id": account.merchant_id,
        **keys,
        **goods,
    }


LOCAL = LocalEmulator(
    name="waffo",
    title="Waffo",
    build=_build,
    app=create_app,
    register=_register,
    dev_account=_dev_account,
    settings=_settings,
    api_path="/waffo/api/v1",
    ledger_reference="paymentRequestId",
    sends_notifications=True,
    resume=WaffoEmulator.ensure_background,
)
