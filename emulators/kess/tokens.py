"""HS256 JSON Web Tokens, as KESS's GET API TOKEN issues them (header {"typ":"JWT","alg":"HS256"})."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

_HEADER = {"typ": "JWT", "alg": "HS256"}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def encode(claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64url(_compact(_HEADER))}.{_b64url(_compact(claims))}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


class InvalidToken(Exception):
    """The token is malformed, not HS256, or its signature does not verify."""


def decode(token: str, secret: bytes) -> dict[str, Any]:
    """The verified claims of `token` (expiry is the caller's check)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a JWT")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        signature = _b64url_decode(parts[2])
    except ValueError as exc:
        raise InvalidToken("undecodable JWT") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("not an HS256 JWT")
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except ValueError as exc:
        raise InvalidToken("undecodable claims") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not an object")
    return claims
