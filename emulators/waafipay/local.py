"""The WaafiPay emulator in the hub and in a local stack (see :mod:`emulators.common.local`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulators.common.local import DevSecrets, LocalEmulator
from emulators.waafipay.app import create_app
from emulators.waafipay.config import WaafiPayEmulatorConfig
from emulators.waafipay.emulator import WaafiPayEmulator

DEV_MERCHANT_UID = "M0910291"
DEV_API_USER_ID = "1000416"
DEV_STORE_ID = "1000200"


@dataclass(frozen=True)
class WaafiPayAccount:
    """The merchant at the WaafiPay emulator: API credentials and its hosted-payment-page store."""

    merchant_uid: str
    api_user_id: str
    api_key: str
    store_id: str
    hpp_key: str


def _build(public_base_url: str, account: WaafiPayAccount | None, time_scale: float, notify_time_scale: float) -> Any:
    return WaafiPayEmulator(WaafiPayEmulatorConfig(public_base_url=public_base_url, time_scale=time_scale))


def _register(emulator: WaafiPayEmulator, account: WaafiPayAccount) -> None:
    emulator.register_merchant(account.merchant_uid, account.api_user_id, account.api_key, account.store_id,
                               account.hpp_key)  # fmt: skip


def _dev_account(secrets: DevSecrets, site_url: str | None) -> WaafiPayAccount:
    return WaafiPayAccount(
        DEV_MERCHANT_UID,
        DEV_API_USER_ID,
        secrets.secret("waafipay.api-key"),
        DEV_STORE_ID,
        secrets.secret("waafipay.hpp-key"),
    )


def _customer_path(action: str, key: str) -> str:
    # The customer acts on the hosted payment page (a wallet push is approved on the phone).
    verb = {"pay": "approve", "fail": "decline", "abandon": "cancel"}[action]
    return f"hpp/{key}/{verb}"


def _settings(account: WaafiPayAccount, hub_url: str) -> dict[str, Any]:
    return {
        "base_url": f"{hub_url}/waafipay",
        "merchant_uid": account.merchant_uid,
        "api_user_id": account.api_user_id,
        "api_key": account.api_key,
        "store_id": account.store_id,
        "hpp_key": account.hpp_key,
    }


LOCAL = LocalEmulator(
    name="waafipay",
    title="WaafiPay",
    build=_build,
    app=create_app,
    register=_register,
    dev_account=_dev_account,
    settings=_settings,
    api_path="/waafipay/asm",
    ledger_reference="referenceId",
    customer_path=_customer_path,
    wallet_path=lambda number: "wallets" if number is None else f"wallets/{number}",
)
