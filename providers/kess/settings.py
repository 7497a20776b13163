"""KESS settings, from environment variables prefixed ``BILLING_KESS_``.

KESS does not publish its endpoint paths; the defaults are the emulator's (``emulators/kess``) and
each one is a setting, so a real deployment overrides only what differs.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.settings import read_setting_file


class KessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_KESS_", extra="ignore")

    #: Scheme, host and optional prefix; the paths below are appended to it.
    base_url: str = Field(default="https://apimerchants.kesspay.com", description="KESS API host")
    user: str | None = Field(default=None, description="API user (GET API TOKEN `user`)")
    password: SecretStr | None = Field(default=None, description="API password")
    #: Alternatively, a file holding the password (a mounted secret); ``password`` wins when both are set.
    password_file: Path | None = None
    store_id: str | None = Field(default=None, description="the merchant's KESS store_id")
    #: Optional sub-store reference and the name shown to the payer (KESS defaults to the store name).
    sub_store_id: str | None = None
    sub_store_name: str | None = None
    #: The store's settlement currency; KESS requests carry no currency.
    currency: str = "USD"
    #: Buyer surcharge in percent: 2 charges the buyer amount x 1.02 (KESS ``fee_rate``).
    fee_rate: Decimal = Decimal(0)
    #: Whether KESS's response ``amount`` is the buyer's total rather than the merchant amount.
    amount_includes_fee: bool = False
    #: service_id per wallet (KESS's samples: 30 returns a WeChat code, 2 is Alipay).
    wechat_service_id: int = 30
    alipay_service_id: int = 2
    #: The wallet of a native pay request that does not name one (WECHAT or ALIPAY).
    default_wallet: str = "WECHAT"
    #: The zone of KESS's timestamps without an offset (``time_end``, ``time_expire``): not documented. A
    #: payment's ``time_end`` decides whether it was made before the order's deadline.
    time_zone: str = "UTC"
    #: Seed 004: "Get API token before every requests." 0 (the default) does exactly that. A positive value
    #: reuses a token for at most this many seconds (and at most 80 % of the lifetime it states); a KESS that
    #: takes each token once then answers 401 and the client fetches a fresh one and sends again.
    token_reuse_s: float = 0.0
    #: Sent as ``auth_code`` with NATIVE PAY: seed 004's native pay sample carries one, without saying what it
    #: is (not the buyer's code: the buyer scans our QR). Unset: native pay is sent without it.
    native_auth_code: str | None = None
    #: JSON types of ids. Seed 004 prints store_id as a string in the pay and refund examples and as a number
    #: in the status checks, sub_store_id and the buyer's auth_code as (masked) numbers. By default each id
    #: goes as its section prints it, except auth_code, a string (an 18-digit code is above a double's exact
    #: range; WeChat types it String). ``ids_as_text``: store_id and sub_store_id always strings;
    #: ``auth_code_as_number``: the buyer's code as a JSON number, as the samples print it.
    ids_as_text: bool = False
    auth_code_as_number: bool = False
    #: Seconds. Quick pay may block while the buyer enters the PIN (up to 45 s): its timeout is longer.
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    quick_pay_timeout: float = 60.0
    token_path: str = "/api/mch/token"  # noqa: S105 - a path, not a secret
    native_pay_path: str = "/api/mch/native_pay"
    quick_pay_path: str = "/api/mch/quick_pay"
    jsapi_pay_path: str = "/api/mch/jsapi_pay"
    refund_path: str = "/api/mch/refund"
    payment_status_path: str = "/api/mch/check_payment_status"
    refund_status_path: str = "/api/mch/check_refund_status"
    #: Seed 004 documents no close. False (the default): the engine never calls one; an unpaid order waits
    #: out its payment window at KESS (below) and concludes by status check. True: close_path is called.
    supports_close: bool = False
    close_path: str = "/api/mch/close"
    #: How long KESS may still take the buyer's money after the pay request, when no close exists: a
    #: native / JSAPI code (WeChat's dynamic code: about 2 h, not in seed 004) and quick pay (WeChat revokes
    #: an unpaid quick pay 45 s after creation).
    qr_lifetime_s: float = 7200.0
    quick_pay_window_s: float = 45.0

    @model_validator(mode="after")
    def _read_password_file(self) -> KessSettings:
        if self.password is None and self.password_file is not None:
            self.password = SecretStr(read_setting_file(self.password_file, "BILLING_KESS_PASSWORD_FILE").strip())
        return self

    def configured(self) -> bool:
        return bool(self.user and self.password and self.store_id)
