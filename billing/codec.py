"""Payload encryption: AES-256-GCM with a keyring, so keys can be rotated without losing old histories.

Every payload a client or worker sends to Temporal (workflow, activity, signal, update and query inputs
and results, static summaries) is serialized, then encrypted here:

* ``data`` is ``nonce (12 random bytes) || AES-GCM ciphertext and tag`` of the whole serialized payload
  (its metadata included, so the encoding is hidden too);
* ``metadata`` is ``encoding: binary/encrypted`` and ``encryption-key-id: <id>``;
* the key id is the associated data: a payload relabelled with another key id does not decrypt.

Decoding looks the key up by the id the payload names, so payloads written with a retired key still
decode as long as that key stays in the keyring. Payloads that are not encrypted pass through unchanged,
so histories recorded before encryption was switched on still replay.

Search attributes and headers are never encrypted (Temporal indexes them): they must not hold personal
data.

This module imports ``cryptography``: workflow modules must never import it (the workflow sandbox
cannot re-import that extension); only :mod:`billing.temporal` and the codec server do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from billing.errors import ConfigurationError, PayloadCodecError, UnknownEncryptionKeyError
from billing.settings import CodecSettings
from billing.temporal import ENCRYPTED_ENCODING

ENCODING = ENCRYPTED_ENCODING
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class AesGcmCodec(PayloadCodec):
    """Encrypts with the active key; decrypts with whichever key of the keyring a payload names."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ConfigurationError(
                f"active key {active_key_id!r} is not in the keyring", setting="BILLING_CODEC_ACTIVE_KEY"
            )
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ConfigurationError(f"key {key_id!r} must be 32 bytes (AES-256)", setting="BILLING_CODEC_KEYS")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    @classmethod
    def from_settings(cls, settings: CodecSettings) -> AesGcmCodec:
        keys, active = settings.keyring()
        return cls(keys, active)

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.active_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was switched on
        raw_id = payload.metadata.get(KEY_ID)
        if raw_id is None:
            raise PayloadCodecError(f"encrypted payload without {KEY_ID} metadata")
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownEncryptionKeyError(
                f"payload encrypted with key {key_id!r}, which is not in BILLING_CODEC_KEYS "
                f"(known: {', '.join(self._ciphers)}); add the retired key back to the keyring"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + 16:
            raise PayloadCodecError(f"encrypted payload (key {key_id!r}) is too short")
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], raw_id)
        except InvalidTag:
            raise PayloadCodecError(
                f"encrypted payload (key {key_id!r}) failed authentication: tampered, or a different key "
                "under the same id"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded
