"""RSA key pairs generated for the test run (never committed)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class TestKeyPair:
    private_pem: bytes
    public_pem: bytes

    @property
    def private_b64(self) -> str:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return base64.b64encode(der).decode()

    @property
    def public_b64(self) -> str:
        key = serialization.load_pem_public_key(self.public_pem)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()


def generate() -> TestKeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return TestKeyPair(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    )


@cache
def merchant_keys() -> TestKeyPair:
    return generate()


@cache
def waffo_keys() -> TestKeyPair:
    return generate()
