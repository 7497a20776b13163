"""SHA256withRSA (PKCS#1 v1.5) over raw bytes, and key loading."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from billing.errors import ConfigurationError
from providers.waffo.signing import (
    BodySigner,
    BodyVerifier,
    load_private_key,
    load_public_key,
    sign_bytes,
    verify_bytes,
)
from tests.providers.conftest import KeyPair

BODY = '{"paymentRequestId":"req1","orderAmount":"10.50","orderDescription":"Café"}'.encode()


@pytest.mark.parametrize("form", ["private_b64", "private_pem", "private_pkcs1_b64"])
def test_private_key_forms_load_and_sign(merchant_keys: KeyPair, form: str) -> None:
    signer = BodySigner(getattr(merchant_keys, form))
    assert verify_bytes(BODY, signer.sign(BODY), merchant_keys.public_key)


@pytest.mark.parametrize("form", ["public_b64", "public_pem", "public_pkcs1_b64"])
def test_public_key_forms_load_and_verify(merchant_keys: KeyPair, form: str) -> None:
    verifier = BodyVerifier(getattr(merchant_keys, form))
    assert verifier.verify(BODY, sign_bytes(BODY, merchant_keys.private_key))


def test_keys_accept_secret_str_and_wrapped_base64(merchant_keys: KeyPair) -> None:
    wrapped = "\n".join(merchant_keys.private_b64[i : i + 64] for i in range(0, len(merchant_keys.private_b64), 64))
    assert isinstance(load_private_key(SecretStr(wrapped)), rsa.RSAPrivateKey)


def test_signature_is_standard_padded_base64_and_deterministic(merchant_keys: KeyPair) -> None:
    first = sign_bytes(BODY, merchant_keys.private_key)
    assert first == sign_bytes(BODY, merchant_keys.private_key)
    assert len(base64.b64decode(first, validate=True)) == 256
    assert len(first) % 4 == 0


def test_tampered_body_is_rejected(merchant_keys: KeyPair) -> None:
    signature = sign_bytes(BODY, merchant_keys.private_key)
    assert not verify_bytes(BODY.replace(b"10.50", b"10.51"), signature, merchant_keys.public_key)
    assert not verify_bytes(BODY + b" ", signature, merchant_keys.public_key)


def test_wrong_key_is_rejected(merchant_keys: KeyPair, other_keys: KeyPair) -> None:
    signature = sign_bytes(BODY, other_keys.private_key)
    assert not verify_bytes(BODY, signature, merchant_keys.public_key)


@pytest.mark.parametrize(
    "signature",
    [None, "", "   ", "not base64!", "AAAA", "ü", b"\xff\xfe", "YWJj" * 64 + "="],
)
def test_missing_or_garbage_signature_is_rejected(merchant_keys: KeyPair, signature: str | None) -> None:
    assert verify_bytes(BODY, signature, merchant_keys.public_key) is False


def test_url_safe_alphabet_is_rejected(merchant_keys: KeyPair) -> None:
    # Find a body whose signature uses + or /, then offer it in the URL-safe alphabet.
    for index in range(64):
        body = BODY + str(index).encode()
        signature = sign_bytes(body, merchant_keys.private_key)
        if "+" in signature or "/" in signature:
            url_safe = signature.replace("+", "-").replace("/", "_")
            assert not verify_bytes(body, url_safe, merchant_keys.public_key)
            return
    pytest.fail("no signature with + or / found")


def test_signature_without_padding_is_rejected(merchant_keys: KeyPair) -> None:
    signature = sign_bytes(BODY, merchant_keys.private_key)
    # 256 bytes encode to 344 characters ending with one "=".
    assert signature.endswith("=")
    assert not verify_bytes(BODY, signature.rstrip("="), merchant_keys.public_key)


@pytest.mark.parametrize("text", ["", "   ", "not a key", "QUJD", "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END"])
def test_unusable_private_key_names_the_setting(text: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        BodySigner(text)
    assert caught.value.setting == "BILLING_WAFFO_PRIVATE_KEY"
    assert "BILLING_WAFFO_PRIVATE_KEY" in str(caught.value)


def test_public_key_where_private_expected(merchant_keys: KeyPair) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_private_key(merchant_keys.public_b64)
    assert caught.value.setting == "BILLING_WAFFO_PRIVATE_KEY"


def test_private_key_where_public_expected_does_not_leak_it(merchant_keys: KeyPair) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_public_key(merchant_keys.private_b64, setting="BILLING_WAFFO_PUBLIC_KEY")
    assert caught.value.setting == "BILLING_WAFFO_PUBLIC_KEY"
    assert merchant_keys.private_b64[:40] not in str(caught.value)
    assert merchant_keys.private_b64[:40] not in repr(caught.value)


def test_non_rsa_key_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(ConfigurationError, match="not an RSA key"):
        load_private_key(base64.b64encode(der).decode())


def test_short_rsa_key_is_refused() -> None:
    # A deliberately weak key: the loader must refuse it.
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ConfigurationError, match="2048"):
        load_public_key(pem.decode())


def test_reprs_never_show_key_material(merchant_keys: KeyPair) -> None:
    signer = BodySigner(merchant_keys.private_b64)
    verifier = BodyVerifier(merchant_keys.public_b64)
    assert "redacted" in repr(signer)
    assert merchant_keys.private_b64[:20] not in repr(signer)
    assert merchant_keys.public_b64[:20] not in repr(verifier)
