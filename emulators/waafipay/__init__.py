"""An offline emulator of the WaafiPay payment gateway (EVCPlus, ZAAD, SAHAL, WAAFI, cards).

An independent implementation of the wire protocol in `reference/waafipay.md`: the single
`POST /asm` envelope, blocking PIN pushes with scripted payers, pre-authorizations, reversals,
refunds, the hosted payment page with its redirect quirks, plus a control API for tests (wallets,
payer actions, faults, ledger, clock).

    emulator = WaafiPayEmulator(WaafiPayEmulatorConfig(public_base_url="http://127.0.0.1:8090"))
    emulator.register_merchant("M0910291", "1000416", "API-1901083745AHX", store_id="1000297", hpp_key="HPP-...")
    app = create_app(emulator)
"""

from emulators.waafipay.app import create_app
from emulators.waafipay.config import WaafiPayEmulatorConfig
from emulators.waafipay.emulator import WaafiPayEmulator

__all__ = ["WaafiPayEmulator", "WaafiPayEmulatorConfig", "create_app"]
