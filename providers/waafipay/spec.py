"""WaafiPay's declaration for the engine (see :mod:`providers.spec`): pure data; factories import lazily."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from providers.spec import ENGINE_CHARGED, ENGINE_INVOICED, ProviderSpec, Requirement
from providers.waafipay.timing import HPP_PAYER_WINDOW, LONGEST_WAIT

if TYPE_CHECKING:
    from providers.base import PaymentProvider

NAME = "waafipay"
#: The payment method of the hosted payment page (``HPP`` or ``HPP:<method>``); anything else is a wallet push.
HPP = "HPP"


def _push(method: str) -> bool:
    """A wallet push (API_PURCHASE / API_PREAUTHORIZE) blocks until the payer enters the PIN or refuses."""
    return not method.startswith(HPP)


def _requirements(method: str) -> tuple[Requirement, ...]:
    if _push(method):
        return (Requirement("phone", "the wallet number to push the payment to (or pay by HPP)"),)
    if method == "HPP:MWALLET_ACCOUNT":
        # Seed 002: HPP_PURCHASE payerInfo.subscriptionId, "Required for MWALLET_ACCOUNT".
        return (Requirement("phone", "the wallet number the hosted page is for (MWALLET_ACCOUNT)"),)
    return ()


def _checkout_lifetime(method: str) -> timedelta | None:
    """A hosted page lapses 5 minutes after it was made (5309 RCS_HPP_USERACTION_TIMEOUT), with no
    transaction until paid; a push has no page."""
    return None if _push(method) else HPP_PAYER_WINDOW


def _subscription_requirements(mode: str) -> tuple[Requirement, ...]:
    if mode == ENGINE_CHARGED:
        return (Requirement("phone", "the wallet number each period is charged to"),)
    if mode == ENGINE_INVOICED:
        # Each period is an HPP order; the hosted page's method is BILLING_WAAFIPAY_HPP_PAYMENT_METHOD,
        # MWALLET_ACCOUNT by default, for which seed 002 requires payerInfo.subscriptionId.
        return (Requirement("phone", "the wallet number each period's hosted page is for (MWALLET_ACCOUNT)"),)
    return ()


def _redirect_token(url: str) -> str | None:
    from providers.waafipay.callbacks import parse_hpp_callback

    # WaafiPay appends ``?hppResultToken=...`` literally, even to a URL that already has a query.
    return parse_hpp_callback(url).result_token


def _client_from(values: Mapping[str, Any]) -> PaymentProvider:
    from providers.waafipay.client import WaafiPayClient
    from providers.waafipay.settings import WaafiPaySettings

    return WaafiPayClient.from_settings(WaafiPaySettings(**values))


def _client() -> PaymentProvider | None:
    from billing.settings import load
    from providers.waafipay.client import WaafiPayClient
    from providers.waafipay.settings import WaafiPaySettings

    settings = load(WaafiPaySettings)
    return WaafiPayClient.from_settings(settings) if settings.configured() else None


def _settings() -> tuple[type, ...]:
    from providers.waafipay.settings import WaafiPaySettings

    return (WaafiPaySettings,)


SPEC = ProviderSpec(
    name=NAME,
    title="WaafiPay",
    settings_prefix="BILLING_WAAFIPAY_",
    longest_wait=LONGEST_WAIT,
    # No signed notifications (its redirects are unsigned hints).
    polled=True,
    # HPP_REFUNDPURCHASE and API_REFUND have no key of their own and repeat money on a repeat.
    single_shot_refunds=True,
    # Never create_resend: a repeated push asks the payer again and may charge twice.
    # The hosted page lapses after 5 minutes (RCS_HPP_USERACTION_TIMEOUT), with no transaction until paid.
    lapsing_checkout=True,
    # A wallet push per period (engine-charged), or the hosted payment page per period (invoiced).
    default_billing_mode=ENGINE_CHARGED,
    billing_modes=frozenset({ENGINE_CHARGED, ENGINE_INVOICED}),
    invoice_payment_method=HPP,
    requirements=_requirements,
    checkout_lifetime=_checkout_lifetime,
    subscription_requirements=_subscription_requirements,
    waits_for_payer=_push,
    redirect_token=_redirect_token,
    build_client=_client,
    client_from_settings=_client_from,
    settings=_settings,
)
