"""SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256) as Waffo uses it.

The signature covers the exact raw body bytes and nothing else, and travels as standard Base64 (with
padding) in the `X-SIGNATURE` header. Keys are accepted as PEM or as single-line Base64 DER
(PKCS#8 private keys, X.509 SubjectPublicKeyInfo public keys).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "X-SIGNATURE"
API_KEY_HEADER = "X-API-KEY"


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("ascii") if isinstance(data, str) else data


def load_private_key(data: str | bytes) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM (PKCS#8 or PKCS#1) or Base64 PKCS#8 DER."""
    raw = _as_bytes(data).strip()
    if raw.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(raw, password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode(raw, validate=True), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(data: str | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from PEM or Base64 X.509 SubjectPublicKeyInfo DER."""
    raw = _as_bytes(data).strip()
    if raw.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(raw)
    else:
        key = serialization.load_der_public_key(base64.b64decode(b"".join(raw.split()), validate=True))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def public_key_b64(key: rsa.RSAPublicKey) -> str:
    """Single-line Base64 of the SubjectPublicKeyInfo DER encoding."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def sign(body: bytes, key: rsa.RSAPrivateKey) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(body: bytes, signature_b64: str | None, key: rsa.RSAPublicKey) -> bool:
    if not signature_b64:
        return False
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
