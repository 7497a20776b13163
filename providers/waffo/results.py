"""Results of Waffo's configuration look-ups, which have no counterpart in the normalized protocol."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from billing.money import Money
from providers.base import ProviderFailure


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MerchantConfig(_Result):
    """``merchantconfig/inquiry``: limits per currency. An empty mapping means no limit is set.

    ``failure`` is set (and everything else empty) when Waffo refused the look-up.
    """

    merchant_id: str | None = None
    total_daily_limit: dict[str, Money] = {}
    remaining_daily_limit: dict[str, Money] = {}
    transaction_limit: dict[str, Money] = {}
    failure: ProviderFailure | None = None


class MaintenanceWindow(_Result):
    """A recurring maintenance window as two Quartz cron expressions (e.g. ``0 30 1 * * ?``)."""

    start_rule: str
    end_rule: str


class PayMethodAvailability(_Result):
    product_name: str | None = None
    pay_method_name: str | None = None
    country: str | None = None
    #: Waffo's ``currentStatus`` "1".
    available: bool
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    #: e.g. "UTC+08:00", the zone the maintenance rules are written in.
    maintenance_timezone: str | None = None


class PayMethodConfig(_Result):
    """``paymethodconfig/inquiry``: which payment methods the merchant can offer right now."""

    merchant_id: str | None = None
    pay_methods: tuple[PayMethodAvailability, ...] = ()
    failure: ProviderFailure | None = None
