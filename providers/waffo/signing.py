"""Waffo signatures: SHA256withRSA (RSASSA-PKCS1-v1_5 with SHA-256) over exact raw bytes.

Every message in both directions is signed the same way: API requests and webhook replies with the
merchant private key, API responses and webhook requests with Waffo's private key. The signature covers
the raw HTTP body bytes and nothing else, and travels as standard Base64 (with padding) in
``X-SIGNATURE``.

Keys are accepted as Base64 DER (PKCS#8 private / SubjectPublicKeyInfo public, the form the Waffo portal
uses; PKCS#1 as a fallback) or as PEM text. A key that cannot be loaded, is not RSA, is the wrong kind
(public where private is expected) or is shorter than 2048 bits raises
:class:`~billing.errors.ConfigurationError` naming the setting, when the signer or verifier is built.
Key material never appears in messages or reprs.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from billing.errors import ConfigurationError

SIGNATURE_HEADER = "X-SIGNATURE"
PRIVATE_KEY_SETTING = "BILLING_WAFFO_PRIVATE_KEY"
PUBLIC_KEY_SETTING = "BILLING_WAFFO_PUBLIC_KEY"
#: Waffo issues and expects RSA-2048 keys.
MINIMUM_KEY_BITS = 2048

_PEM_MARKER = "-----BEGIN"


def _key_text(key: str | bytes | SecretStr) -> str:
    if isinstance(key, SecretStr):
        return key.get_secret_value()
    if isinstance(key, bytes):
        try:
            return key.decode("ascii")
        except UnicodeDecodeError:
            return ""
    return key


def _der_from_base64(text: str) -> bytes | None:
    compact = "".join(text.split())
    if not compact:
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def load_private_key(key: str | bytes | SecretStr, *, setting: str = PRIVATE_KEY_SETTING) -> rsa.RSAPrivateKey:
    """Load an RSA private key from Base64 DER (PKCS#8, or PKCS#1) or PEM text."""
    text = _key_text(key).strip()
    if not text:
        raise ConfigurationError("the private key is empty", setting=setting)
    try:
        if _PEM_MARKER in text:
            loaded = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        else:
            der = _der_from_base64(text)
            if der is None:
                raise ConfigurationError("the private key is neither PEM text nor Base64 DER", setting=setting)
            # cryptography tries PKCS#8 first and falls back to PKCS#1 ("traditional OpenSSL").
            loaded = serialization.load_der_private_key(der, password=None)
    except ConfigurationError:
        raise
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
        raise ConfigurationError(
            "the private key cannot be loaded; expected an unencrypted RSA private key (Base64 PKCS#8 DER or PEM)",
            setting=setting,
        ) from exc
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ConfigurationError("the private key is not an RSA key", setting=setting)
    if loaded.key_size < MINIMUM_KEY_BITS:
        raise ConfigurationError(
            f"the private key has {loaded.key_size} bits; at least {MINIMUM_KEY_BITS} are required",
            setting=setting,
        )
    return loaded


def load_public_key(key: str | bytes | SecretStr, *, setting: str = PUBLIC_KEY_SETTING) -> rsa.RSAPublicKey:
    """Load an RSA public key from Base64 DER (SubjectPublicKeyInfo, or PKCS#1) or PEM text."""
    text = _key_text(key).strip()
    if not text:
        raise ConfigurationError("the public key is empty", setting=setting)
    try:
        if _PEM_MARKER in text:
            loaded = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            der = _der_from_base64(text)
            if der is None:
                raise ConfigurationError("the public key is neither PEM text nor Base64 DER", setting=setting)
            # cryptography tries SubjectPublicKeyInfo first and falls back to a PKCS#1 RSAPublicKey.
            loaded = serialization.load_der_public_key(der)
    except ConfigurationError:
        raise
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
        raise ConfigurationError(
            "the public key cannot be loaded; expected an RSA public key (Base64 SPKI DER or PEM)",
            setting=setting,
        ) from exc
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise ConfigurationError("the public key is not an RSA key", setting=setting)
    if loaded.key_size < MINIMUM_KEY_BITS:
        raise ConfigurationError(
            f"the public key has {loaded.key_size} bits; at least {MINIMUM_KEY_BITS} are required",
            setting=setting,
        )
    return loaded


def sign_bytes(body: bytes, private_key: rsa.RSAPrivateKey) -> str:
    """Standard Base64 (padded) of SHA256withRSA PKCS#1 v1.5 over ``body``. Deterministic."""
    signature = private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_bytes(body: bytes, signature: str | bytes | None, public_key: rsa.RSAPublicKey) -> bool:
    """True only if ``signature`` is a valid strict-Base64 signature of ``body``. Never raises."""
    if not signature:
        return False
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    try:
        public_key.verify(raw, body, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class BodySigner:
    """Signs raw bodies with one private key (the merchant's, or a Waffo key in an emulator)."""

    __slots__ = ("_private_key",)

    def __init__(self, private_key: str | bytes | SecretStr, *, setting: str = PRIVATE_KEY_SETTING) -> None:
        self._private_key = load_private_key(private_key, setting=setting)

    def sign(self, body: bytes) -> str:
        return sign_bytes(body, self._private_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key=<redacted>)"


class BodyVerifier:
    """Verifies raw bodies against one public key (Waffo's, or the merchant's in an emulator)."""

    __slots__ = ("_public_key",)

    def __init__(self, public_key: str | bytes | SecretStr, *, setting: str = PUBLIC_KEY_SETTING) -> None:
        self._public_key = load_public_key(public_key, setting=setting)

    def verify(self, body: bytes, signature: str | bytes | None) -> bool:
        return verify_bytes(body, signature, self._public_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key=<redacted>)"
