"""Waffo settings, from environment variables prefixed ``BILLING_WAFFO_``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.errors import ConfigurationError, MoneyError
from billing.money import Money
from billing.settings import read_setting_file


class WaffoSettings(BaseSettings):
    """Waffo merchant credentials. Keys are Base64 DER (PKCS#8 private, SPKI public) or PEM text."""

    model_config = SettingsConfigDict(env_prefix="BILLING_WAFFO_", extra="ignore")

    base_url: str = Field(default="https://api-sandbox.waffo.com/api/v1", description="ends with /api/v1")
    api_key: SecretStr | None = None
    merchant_id: str | None = None
    private_key: SecretStr | None = Field(default=None, description="merchant private key")
    #: Alternatively, a file holding the merchant private key (mounted secret).
    private_key_file: Path | None = None
    public_key: str | None = Field(default=None, description="Waffo's public key (not secret)")
    public_key_file: Path | None = None
    #: Seconds. Waffo's SDK uses 10 s connect / 30 s read.
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: Require X-SIGNATURE on every API response. Waffo's own SDKs skip verification when the header is
    #: absent; a missing signature on a response is then treated as an unknown outcome.
    require_response_signature: bool = True
    #: Where Waffo should POST notifications for orders and subscriptions (our HTTP service).
    notify_url: str | None = None
    refund_notify_url: str | None = None
    #: ``goodsInfo.goodsUrl`` / ``goodsInfo.appName`` on every order, subscription and plan change: the
    #: merchant's product page (≤128) and app or store name (≤32). Waffo requires one of them in practice
    #: (reference §3.1; its SDK's order model requires both keys), so at least one must be set.
    goods_url: str | None = Field(default=None, max_length=128)
    app_name: str | None = Field(default=None, max_length=32)
    #: Pay methods the engine offers (payMethodType or payMethodName, comma-separated, e.g.
    #: ``CREDITCARD,DANA``). The worker checks at start that each is in the contract and available.
    pay_methods: str | None = None
    #: An order amount each listed pay method that takes its currency must accept, e.g. ``USD 1.00``.
    min_order_amount: str | None = None
    #: What the start-up check does with a problem: ``warn`` (log and start), ``fail`` (refuse to start) or
    #: ``off``. An unreachable Waffo is only logged, whatever the mode.
    startup_check: Literal["off", "warn", "fail"] = "warn"

    def wanted_pay_methods(self) -> list[str]:
        return [item.strip() for item in (self.pay_methods or "").split(",") if item.strip()]

    def check_amount(self) -> Money | None:
        """``min_order_amount`` as Money; a value that is not ``CUR 0.00`` is a ConfigurationError."""
        if not self.min_order_amount:
            return None
        parts = self.min_order_amount.split()
        try:
            currency, text = (parts[0], parts[1]) if len(parts) == 2 else ("", "")
            return Money.parse(text, currency.upper())
        except (ValueError, MoneyError) as exc:
            raise ConfigurationError(
                "must be a currency and an amount, e.g. USD 1.00", setting="BILLING_WAFFO_MIN_ORDER_AMOUNT"
            ) from exc

    @model_validator(mode="after")
    def _read_key_files(self) -> WaffoSettings:
        if self.private_key is None and self.private_key_file is not None:
            self.private_key = SecretStr(read_setting_file(self.private_key_file, "BILLING_WAFFO_PRIVATE_KEY_FILE"))
        if self.public_key is None and self.public_key_file is not None:
            self.public_key = read_setting_file(self.public_key_file, "BILLING_WAFFO_PUBLIC_KEY_FILE")
        return self

    def configured(self) -> bool:
        return bool(self.api_key and self.merchant_id and self.private_key and self.public_key)
