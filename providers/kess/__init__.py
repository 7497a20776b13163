"""KESS Pay (WeChat Pay / Alipay aggregator, Cambodia): client, token source and settings."""

from providers.kess.auth import TokenSource
from providers.kess.client import KESS_CAPABILITIES, KessClient
from providers.kess.settings import KessSettings
from providers.kess.transform import MethodChoice, PayMethod, parse_payment_method

__all__ = [
    "KESS_CAPABILITIES",
    "KessClient",
    "KessSettings",
    "MethodChoice",
    "PayMethod",
    "TokenSource",
    "parse_payment_method",
]
