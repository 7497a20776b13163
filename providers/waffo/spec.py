"""Waffo's declaration for the engine (see :mod:`providers.spec`): pure data; factories import lazily."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from providers.spec import ENGINE_INVOICED, PROVIDER_MANAGED, ProviderSpec, Requirement
from providers.waffo.timing import LONGEST_WAIT

if TYPE_CHECKING:
    from providers.base import NotificationVerifier, PaymentProvider

NAME = "waffo"


def _requirements(method: str) -> tuple[Requirement, ...]:
    # order/create userInfo.userEmail.
    return (Requirement("email"),)


def _client() -> PaymentProvider | None:
    from billing.settings import load
    from providers.waffo.client import WaffoClient
    from providers.waffo.settings import WaffoSettings

    settings = load(WaffoSettings)
    return WaffoClient.from_settings(settings) if settings.configured() else None


def _verifier() -> NotificationVerifier | None:
    from billing.settings import load
    from providers.waffo.notifications import WaffoNotifications
    from providers.waffo.settings import WaffoSettings

    settings = load(WaffoSettings)
    return WaffoNotifications.from_settings(settings) if settings.configured() else None


def _client_from(values: Mapping[str, Any]) -> PaymentProvider:
    from providers.waffo.client import WaffoClient
    from providers.waffo.settings import WaffoSettings

    return WaffoClient.from_settings(WaffoSettings(**values))


def _verifier_from(values: Mapping[str, Any]) -> NotificationVerifier:
    from providers.waffo.notifications import WaffoNotifications
    from providers.waffo.settings import WaffoSettings

    return WaffoNotifications.from_settings(WaffoSettings(**values))


async def _startup_check(client: PaymentProvider) -> None:
    from providers.waffo.config_check import check_contract

    await check_contract(client)


def _settings() -> tuple[type, ...]:
    from providers.waffo.settings import WaffoSettings

    return (WaffoSettings,)


SPEC = ProviderSpec(
    name=NAME,
    title="Waffo",
    settings_prefix="BILLING_WAFFO_",
    longest_wait=LONGEST_WAIT,
    # Same paymentRequestId and body: the existing order; another body: A0011.
    create_resend=True,
    # Native subscriptions; the hosted checkout also takes one invoice per period.
    default_billing_mode=PROVIDER_MANAGED,
    billing_modes=frozenset({PROVIDER_MANAGED, ENGINE_INVOICED}),
    requirements=_requirements,
    build_client=_client,
    build_verifier=_verifier,
    client_from_settings=_client_from,
    verifier_from_settings=_verifier_from,
    startup_check=_startup_check,
    settings=_settings,
)
