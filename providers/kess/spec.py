"""KESS's declaration for the engine (see :mod:`providers.spec`): pure data; factories import lazily."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from providers.kess.timing import LONGEST_WAIT, QUICK_PAY_WINDOW
from providers.spec import ENGINE_INVOICED, ProviderSpec

if TYPE_CHECKING:
    from providers.base import PaymentProvider

NAME = "kess"


def _quick_pay(method: str) -> bool:
    return method.startswith("QUICKPAY")


def _window_limit(method: str) -> timedelta | None:
    # The buyer is at the counter: quick pay is held up to 45 s for the PIN, then revoked (seed 004).
    return QUICK_PAY_WINDOW if _quick_pay(method) else None


def _client_from(values: Mapping[str, Any]) -> PaymentProvider:
    from providers.kess.client import KessClient
    from providers.kess.settings import KessSettings

    return KessClient.from_settings(KessSettings(**values))


def _client() -> PaymentProvider | None:
    from billing.settings import load
    from providers.kess.client import KessClient
    from providers.kess.settings import KessSettings

    settings = load(KessSettings)
    return KessClient.from_settings(settings) if settings.configured() else None


def _settings() -> tuple[type, ...]:
    from providers.kess.settings import KessSettings

    return (KessSettings,)


SPEC = ProviderSpec(
    name=NAME,
    title="KESS",
    settings_prefix="BILLING_KESS_",
    longest_wait=LONGEST_WAIT,
    # No notifications: polled every 3 s while the buyer may be paying, as WeChat Pay recommends.
    polled=True,
    # WeChat semantics: a create is retried with the same out_trade_no.
    create_resend=True,
    # Seed 004 documents no close, no code lifetime and no notification: a code may be paid after the engine
    # saw the order closed.
    late_paying=True,
    # A QR payment request per period.
    default_billing_mode=ENGINE_INVOICED,
    billing_modes=frozenset({ENGINE_INVOICED}),
    waits_for_payer=_quick_pay,
    payment_window_limit=_window_limit,
    build_client=_client,
    client_from_settings=_client_from,
    settings=_settings,
)
