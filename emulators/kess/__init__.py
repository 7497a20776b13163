"""An offline emulator of KESS Pay, the Cambodian WeChat Pay / Alipay aggregator (seed 004).

An independent implementation of the wire protocol in `reference/kesspay.md`: HS256 API tokens that
expire after a minute, native pay (dynamic QR), quick pay (the merchant scans the buyer's code, the
request blocks while the buyer enters the PIN), JSAPI pay, refunds, status checks, close and revoke,
the fee_rate buyer surcharge, plus a control API for tests (buyer actions, faults, ledger, clock).

    emulator = KessEmulator(KessEmulatorConfig(public_base_url="http://127.0.0.1:8070/kess"))
    emulator.register_merchant("user", "password", store_id="109038")
    app = create_app(emulator)
"""

from emulators.kess.app import create_app
from emulators.kess.config import DEFAULT_PATHS, KessEmulatorConfig
from emulators.kess.emulator import KessEmulator

__all__ = ["DEFAULT_PATHS", "KessEmulator", "KessEmulatorConfig", "create_app"]
