"""WaafiPay (Somalia / Djibouti wallets and cards, one ``POST /asm`` endpoint): client, settings and the
hosted-payment-page callback parser."""

from providers.waafipay.callbacks import HppCallbackHint, parse_hpp_callback
from providers.waafipay.client import (
    HPP_METHOD,
    PROVIDER_NAME,
    WaafiPayClient,
    encode_body,
    endpoint_url,
    waafipay_capabilities,
)
from providers.waafipay.settings import WaafiPaySettings
from providers.waafipay.transform import DeclineReason, FlowKind, decline_reason

__all__ = [
    "HPP_METHOD",
    "PROVIDER_NAME",
    "DeclineReason",
    "FlowKind",
    "HppCallbackHint",
    "WaafiPayClient",
    "WaafiPaySettings",
    "decline_reason",
    "encode_body",
    "endpoint_url",
    "parse_hpp_callback",
    "waafipay_capabilities",
]
