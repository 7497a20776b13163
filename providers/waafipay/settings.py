"""WaafiPay settings, from environment variables prefixed ``BILLING_WAAFIPAY_``.

Two credential sets exist (reference A2): the API set (``merchantUid``, ``apiUserId``, ``apiKey``) for
wallet pushes, pre-authorizations, reversals and refunds, and the HPP set (``merchantUid``, ``storeId``,
``hppKey``) for the hosted payment page, its refunds and the only status query (``HPP_GETTRANINFO``).
Either set may be configured alone; keys are ``SecretStr`` and never print.

Hosts (reference A1): the documented production host is ``https://api.waafipay.com`` while plugins and
apps use ``https://api.waafipay.net``; both are accepted through ``BILLING_WAAFIPAY_PRODUCTION_URL``.
``BILLING_WAAFIPAY_BASE_URL`` overrides both (an emulator, a proxy). The path ``/asm`` is appended by the
client when the URL does not already end with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.settings import read_setting_file

SANDBOX_URL = "https://sandbox.waafipay.net"
PRODUCTION_URL = "https://api.waafipay.net"
#: Above the payer's approval time on the handset (reference A7 recommends at least 90-120 s).
DEFAULT_PUSH_TIMEOUT = 120.0
#: The vendor's WooCommerce plugin waits 45 s for HPP calls (reference A7).
DEFAULT_READ_TIMEOUT = 45.0
DEFAULT_CONNECT_TIMEOUT = 10.0


class WaafiPaySettings(BaseSettings):
    """WaafiPay merchant credentials, hosts, timeouts and hosted-payment-page defaults."""

    model_config = SettingsConfigDict(env_prefix="BILLING_WAAFIPAY_", extra="ignore")

    environment: Literal["sandbox", "production"] = "sandbox"
    sandbox_url: str = Field(default=SANDBOX_URL, description="sandbox host; /asm is appended")
    production_url: str = Field(default=PRODUCTION_URL, description="production host (.net or .com)")
    #: Overrides the environment's host (an emulator or a proxy).
    base_url: str | None = None

    merchant_uid: str | None = None
    # API credentials (API_PURCHASE, API_PREAUTHORIZE*, API_CANCELPURCHASE, API_REFUND)
    api_user_id: str | None = None
    api_key: SecretStr | None = None
    #: Alternatively, files holding the keys (mounted secrets); the key itself wins when both are set.
    api_key_file: Path | None = None
    # HPP credentials (HPP_PURCHASE, HPP_GETTRANINFO, HPP_GETRESULTINFO, HPP_REFUNDPURCHASE)
    store_id: str | None = None
    hpp_key: SecretStr | None = None
    hpp_key_file: Path | None = None

    #: Seconds. The read timeout of wallet pushes (API_PURCHASE, API_PREAUTHORIZE), which block until the
    #: payer approves or declines on the handset.
    push_timeout: float = Field(default=DEFAULT_PUSH_TIMEOUT, gt=0)
    #: Seconds. The read timeout of every other call.
    read_timeout: float = Field(default=DEFAULT_READ_TIMEOUT, gt=0)
    connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT, gt=0)
    #: Ask ``HPP_GETTRANINFO`` about wallet pushes whose answer was lost. No WaafiPay source documents that
    #: it finds ``API_PURCHASE`` / ``API_PREAUTHORIZE`` transactions (reference A7: "no documented status
    #: query for API payments"), so it is off: such a push goes to review with what to check in the portal.
    #: Turn it on only after confirming with WaafiPay that the merchant's pushes are found by it.
    tran_info_for_pushes: bool = False

    #: Where the payer's browser returns after the hosted payment page, unless the request says otherwise.
    hpp_success_url: str | None = None
    hpp_failure_url: str | None = None
    #: The HPP payment method when the request gives plain ``HPP``.
    hpp_payment_method: Literal["MWALLET_ACCOUNT", "CREDIT_CARD", "MWALLET_BANKACCOUNT"] = "MWALLET_ACCOUNT"
    #: 1 = POST, 2 = GET, 4 = result token (the callback then carries only ``hppResultToken``).
    hpp_response_format: Literal[1, 2, 4] = 4

    @model_validator(mode="after")
    def _read_key_files(self) -> WaafiPaySettings:
        if self.api_key is None and self.api_key_file is not None:
            self.api_key = SecretStr(read_setting_file(self.api_key_file, "BILLING_WAAFIPAY_API_KEY_FILE").strip())
        if self.hpp_key is None and self.hpp_key_file is not None:
            self.hpp_key = SecretStr(read_setting_file(self.hpp_key_file, "BILLING_WAAFIPAY_HPP_KEY_FILE").strip())
        return self

    def resolved_base_url(self) -> str:
        if self.base_url:
            return self.base_url
        return self.production_url if self.environment == "production" else self.sandbox_url

    def api_configured(self) -> bool:
        return bool(self.merchant_uid and self.api_user_id and self.api_key and self.api_key.get_secret_value())

    def hpp_configured(self) -> bool:
        return bool(self.merchant_uid and self.store_id and self.hpp_key and self.hpp_key.get_secret_value())

    def configured(self) -> bool:
        return self.api_configured() or self.hpp_configured()
