"""Key material for the local stack: generated on first use into the data directory, never committed.

The merchant's RSA key pair signs our requests to the Waffo emulator and our notification replies; the
emulator's own "Waffo" key pair signs its responses and notifications.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: Fixed, non-secret identifiers of the local merchant. The API key only means something to the emulator.
DEV_WAFFO_API_KEY = "dev-waffo-api-key"
DEV_WAFFO_MERCHANT_ID = "DEV-MERCHANT-001"


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes


def _generate() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_pem, public_pem)


def load_or_create(directory: Path, name: str) -> KeyPair:
    """Read ``name.key``/``name.pub`` from ``directory``, generating them (mode 0600) if absent."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path, public_path = directory / f"{name}.key", directory / f"{name}.pub"
    if private_path.is_file() and public_path.is_file():
        return KeyPair(private_path.read_bytes(), public_path.read_bytes())
    pair = _generate()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pair.private_pem)
    fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # not secret, but ours alone
    with os.fdopen(fd, "wb") as handle:
        handle.write(pair.public_pem)
    return pair


@dataclass(frozen=True)
class DevKeys:
    merchant: KeyPair
    waffo: KeyPair

    @classmethod
    def load(cls, data_dir: Path) -> DevKeys:
        keys = data_dir / "keys"
        return cls(merchant=load_or_create(keys, "merchant"), waffo=load_or_create(keys, "waffo-emulator"))


DEV_KESS_USER = "dev-kess"
DEV_KESS_STORE_ID = "109038"


def kess_password(data_dir: Path) -> str:
    """The local KESS emulator's API password: random, generated once into the data directory."""
    return dev_secret(data_dir, "kess.password")


DEV_WAAFIPAY_MERCHANT_UID = "M0910291"
DEV_WAAFIPAY_API_USER_ID = "1000416"
DEV_WAAFIPAY_STORE_ID = "1000200"


def dev_secret(data_dir: Path, name: str) -> str:
    """A random secret of the local stack, generated once into the data directory (mode 0600)."""
    import secrets

    path = data_dir / "keys" / name
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_file():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
