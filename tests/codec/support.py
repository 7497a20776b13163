"""Codec keys for the tests: fresh random keys, never the ones of a local stack."""

from __future__ import annotations

import base64
import secrets

from billing.settings import CodecSettings


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def codec_settings(keys: str | None = None, active: str | None = None, **extra: object) -> CodecSettings:
    return CodecSettings(keys=keys or f"k1:{new_key()}", active_key=active, **extra)  # type: ignore[arg-type]
