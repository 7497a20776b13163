"""Test keys (generated per session, never stored) and a signed Waffo responder for httpx.MockTransport."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from providers.waffo.signing import sign_bytes, verify_bytes


@dataclass(frozen=True)
class KeyPair:
    private_key: rsa.RSAPrivateKey

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @property
    def private_b64(self) -> str:
        """Base64 PKCS#8 DER on one line, the form the Waffo portal uses."""
        der = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return base64.b64encode(der).decode()

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def private_pkcs1_b64(self) -> str:
        der = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return base64.b64encode(der).decode()

    @property
    def public_b64(self) -> str:
        """Base64 SubjectPublicKeyInfo DER on one line."""
        der = self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    @property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @property
    def public_pkcs1_b64(self) -> str:
        der = self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        return base64.b64encode(der).decode()


def _new_pair() -> KeyPair:
    return KeyPair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def merchant_keys() -> KeyPair:
    return _new_pair()


@pytest.fixture(scope="session")
def waffo_keys() -> KeyPair:
    return _new_pair()


@pytest.fixture(scope="session")
def other_keys() -> KeyPair:
    return _new_pair()


def compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Reply:
    """One canned answer: a JSON document (or raw bytes), an HTTP status and how to sign it."""

    document: Any = None
    raw: bytes | None = None
    status: int = 200
    sign: bool = True
    signature: str | None = None
    error: Exception | None = None


@dataclass
class WaffoResponder:
    """A tiny stand-in for Waffo: checks each request's signature, answers signed with the Waffo key."""

    merchant_keys: KeyPair
    waffo_keys: KeyPair
    replies: list[Reply] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    signatures_valid: list[bool] = field(default_factory=list)

    def answer(self, data: Any = None, *, code: str = "0", msg: str = "Success", status: int = 200) -> None:
        document: dict[str, Any] = {"code": code, "msg": msg}
        if data is not None:
            document["data"] = data
        self.replies.append(Reply(document=document, status=status))

    def queue(self, reply: Reply) -> None:
        self.replies.append(reply)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.signatures_valid.append(
            verify_bytes(request.content, request.headers.get("X-SIGNATURE"), self.merchant_keys.public_key)
        )
        reply = self.replies.pop(0)
        if reply.error is not None:
            raise reply.error
        body = reply.raw if reply.raw is not None else compact(reply.document)
        headers = {"Content-Type": "application/json"}
        if reply.signature is not None:
            headers["X-SIGNATURE"] = reply.signature
        elif reply.sign:
            headers["X-SIGNATURE"] = sign_bytes(body, self.waffo_keys.private_key)
        return httpx.Response(reply.status, content=body, headers=headers)

    def last_json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.requests[-1].content)
        return document


@pytest.fixture
def responder(merchant_keys: KeyPair, waffo_keys: KeyPair) -> WaffoResponder:
    return WaffoResponder(merchant_keys, waffo_keys)
