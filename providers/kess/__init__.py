"""KESS Pay (WeChat Pay / Alipay aggregator, Cambodia): client, token source and settings; the engine
reads :data:`providers.kess.spec.SPEC`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.spec import lazy_exports

if TYPE_CHECKING:
    from providers.kess.auth import TokenSource
    from providers.kess.client import KESS_CAPABILITIES, KessClient
    from providers.kess.settings import KessSettings
    from providers.kess.spec import SPEC
    from providers.kess.transform import MethodChoice, PayMethod, parse_payment_method

_EXPORTS = {
    "TokenSource": "providers.kess.auth",
    "KESS_CAPABILITIES": "providers.kess.client",
    "KessClient": "providers.kess.client",
    "KessSettings": "providers.kess.settings",
    "MethodChoice": "providers.kess.transform",
    "PayMethod": "providers.kess.transform",
    "parse_payment_method": "providers.kess.transform",
    "SPEC": "providers.kess.spec",
}
#: Each name is imported on first use: ``providers.kess.spec`` loads nothing else of the package.
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "KESS_CAPABILITIES",
    "SPEC",
    "KessClient",
    "KessSettings",
    "MethodChoice",
    "PayMethod",
    "TokenSource",
    "parse_payment_method",
]
