"""Waffo (PSP API under ``/api/v1``): client, notifications and signing."""

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
from providers.waffo.signing import (
    SIGNATURE_HEADER,
    BodySigner,
    BodyVerifier,
    load_private_key,
    load_public_key,
    sign_bytes,
    verify_bytes,
)

__all__ = [
    "FAILURE_REPLY_BODY",
    "SIGNATURE_HEADER",
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
    "encode_body",
    "load_private_key",
    "load_public_key",
    "sign_bytes",
    "verify_bytes",
]
