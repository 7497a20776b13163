"""WaafiPay (Somalia / Djibouti wallets and cards, one ``POST /asm`` endpoint): client, settings and the
hosted-payment-page callback parser; the engine reads :data:`providers.waafipay.spec.SPEC`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.spec import lazy_exports

if TYPE_CHECKING:
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
    from providers.waafipay.spec import SPEC
    from providers.waafipay.transform import DeclineReason, FlowKind, decline_reason

_EXPORTS = {
    "HppCallbackHint": "providers.waafipay.callbacks",
    "parse_hpp_callback": "providers.waafipay.callbacks",
    "HPP_METHOD": "providers.waafipay.client",
    "PROVIDER_NAME": "providers.waafipay.client",
    "WaafiPayClient": "providers.waafipay.client",
    "encode_body": "providers.waafipay.client",
    "endpoint_url": "providers.waafipay.client",
    "waafipay_capabilities": "providers.waafipay.client",
    "WaafiPaySettings": "providers.waafipay.settings",
    "DeclineReason": "providers.waafipay.transform",
    "FlowKind": "providers.waafipay.transform",
    "decline_reason": "providers.waafipay.transform",
    "SPEC": "providers.waafipay.spec",
}
#: Each name is imported on first use: ``providers.waafipay.spec`` loads nothing else of the package.
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "HPP_METHOD",
    "PROVIDER_NAME",
    "SPEC",
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
