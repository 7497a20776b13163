"""An offline emulator of the Waffo payment provider's PSP API (`/api/v1`).

An independent implementation of the wire protocol in `reference/waffo.md`: signed requests and
responses (SHA256withRSA over the raw body), orders with hosted checkout, manual capture, refunds,
subscriptions with renewals and plan changes, signed notifications retried on Waffo's schedule, plus
a control API for tests (customer actions, faults, ledger, delivery log, clock).

    emulator = WaffoEmulator(WaffoEmulatorConfig(public_base_url="http://127.0.0.1:8090"))
    emulator.register_merchant("api-key", "MID-1", merchant_public_key_b64)
    app = create_app(emulator)
"""

from emulators.waffo.app import create_app
from emulators.waffo.config import WaffoEmulatorConfig
from emulators.waffo.emulator import WaffoEmulator

__all__ = ["WaffoEmulator", "WaffoEmulatorConfig", "create_app"]
