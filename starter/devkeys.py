"""Key material for the local stack: generated on first use into the data directory, never committed.

RSA key pairs (the merchant's, which signs requests and notification replies; an emulator's own, which signs
its answers and notifications) and random secrets (API passwords and keys), by name. Which ones each
emulator's merchant account uses is declared in ``emulators/<name>/local.py`` (``dev_account``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


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


class DevSecretsDir:
    """The local stack's secrets in ``data_dir`` (``emulators.common.local.DevSecrets``): random secrets and
    RSA key pairs under ``<data dir>/keys``, generated on first use."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    def secret(self, name: str) -> str:
        return dev_secret(self.data_dir, name)

    def key_pair(self, name: str) -> tuple[bytes, bytes]:
        pair = load_or_create(self.key_dir, name)
        return pair.private_pem, pair.public_pem
