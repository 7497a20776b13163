"""Waffo (PSP API under ``/api/v1``): client, settings, notifications and signing; the engine reads
:data:`providers.waffo.spec.SPEC`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.spec import lazy_exports

if TYPE_CHECKING:
    from providers.waffo.client import WAFFO_CAPABILITIES, WaffoClient, encode_body
    from providers.waffo.notifications import FAILURE_REPLY_BODY, SUCCESS_REPLY_BODY, WaffoNotifications
    from providers.waffo.results import (
        MaintenanceWindow,
        MerchantConfig,
        PayMethodAvailability,
        PayMethodConfig,
        SubscriptionUpdateOutcome,
        TopUp,
        TopUpOutcome,
        UpdateSubscription,
    )
    from providers.waffo.settings import WaffoSettings
    from providers.waffo.signing import (
        SIGNATURE_HEADER,
        BodySigner,
        BodyVerifier,
        load_private_key,
        load_public_key,
        sign_bytes,
        verify_bytes,
    )
    from providers.waffo.spec import SPEC

_EXPORTS = {
    "WAFFO_CAPABILITIES": "providers.waffo.client",
    "WaffoClient": "providers.waffo.client",
    "encode_body": "providers.waffo.client",
    "FAILURE_REPLY_BODY": "providers.waffo.notifications",
    "SUCCESS_REPLY_BODY": "providers.waffo.notifications",
    "WaffoNotifications": "providers.waffo.notifications",
    "MaintenanceWindow": "providers.waffo.results",
    "MerchantConfig": "providers.waffo.results",
    "PayMethodAvailability": "providers.waffo.results",
    "PayMethodConfig": "providers.waffo.results",
    "SubscriptionUpdateOutcome": "providers.waffo.results",
    "TopUp": "providers.waffo.results",
    "TopUpOutcome": "providers.waffo.results",
    "UpdateSubscription": "providers.waffo.results",
    "SIGNATURE_HEADER": "providers.waffo.signing",
    "BodySigner": "providers.waffo.signing",
    "BodyVerifier": "providers.waffo.signing",
    "load_private_key": "providers.waffo.signing",
    "load_public_key": "providers.waffo.signing",
    "sign_bytes": "providers.waffo.signing",
    "verify_bytes": "providers.waffo.signing",
    "WaffoSettings": "providers.waffo.settings",
    "SPEC": "providers.waffo.spec",
}
#: Each name is imported on first use: ``providers.waffo.spec`` loads nothing else of the package.
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "FAILURE_REPLY_BODY",
    "SIGNATURE_HEADER",
    "SPEC",
    "SUCCESS_REPLY_BODY",
    "WAFFO_CAPABILITIES",
    "BodySigner",
    "BodyVerifier",
    "MaintenanceWindow",
    "MerchantConfig",
    "PayMethodAvailability",
    "PayMethodConfig",
    "SubscriptionUpdateOutcome",
    "TopUp",
    "TopUpOutcome",
    "UpdateSubscription",
    "WaffoClient",
    "WaffoNotifications",
    "WaffoSettings",
    "encode_body",
    "load_private_key",
    "load_public_key",
    "sign_bytes",
    "verify_bytes",
]
