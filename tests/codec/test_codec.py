"""The AES-256-GCM payload codec: round trip, rotation, tampering, pass-through, and its settings."""

from __future__ import annotations

import base64
import secrets

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, pydantic_data_converter

from billing.codec import ENCODING, KEY_ID, AesGcmCodec
from billing.errors import ConfigurationError, PayloadCodecError, UnknownEncryptionKeyError
from billing.gateway import Customer
from billing.money import Money
from billing.settings import CodecSettings
from billing.temporal import SharedPydanticPayloadConverter, data_converter, plain_data_converter
from tests.codec.support import codec_settings, new_key


def plain(text: str = '{"email":"buyer@example.com","amount":"10.00"}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def keys(**named: bytes) -> dict[str, bytes]:
    return dict(named)


K1, K2 = secrets.token_bytes(32), secrets.token_bytes(32)


async def test_round_trip_hides_data_and_encoding() -> None:
    codec = AesGcmCodec(keys(k1=K1), "k1")
    original = plain()
    [encrypted] = await codec.encode([original])
    assert encrypted.metadata["encoding"] == ENCODING
    assert encrypted.metadata[KEY_ID] == b"k1"
    assert set(encrypted.metadata) == {"encoding", KEY_ID}
    assert b"buyer@example.com" not in encrypted.data and b"json/plain" not in encrypted.data
    [again] = await codec.encode([original])
    assert again.data[:12] != encrypted.data[:12], "a fresh nonce every time"
    assert await codec.decode([encrypted, again]) == [original, original]


async def test_rotation_keeps_old_payloads_readable() -> None:
    before = AesGcmCodec(keys(k1=K1), "k1")
    [old] = await before.encode([plain("old")])
    rotated = AesGcmCodec(keys(k2=K2, k1=K1), "k2")
    [new] = await rotated.encode([plain("new")])
    assert new.metadata[KEY_ID] == b"k2"
    assert [p.data for p in await rotated.decode([old, new])] == [b"old", b"new"]

    retired = AesGcmCodec(keys(k2=K2), "k2")
    with pytest.raises(UnknownEncryptionKeyError, match="'k1'"):
        await retired.decode([old])


async def test_tampered_ciphertext_is_rejected() -> None:
    codec = AesGcmCodec(keys(k1=K1), "k1")
    [encrypted] = await codec.encode([plain()])
    flipped = bytearray(encrypted.data)
    flipped[-1] ^= 0x01
    tampered = Payload(metadata=dict(encrypted.metadata), data=bytes(flipped))
    with pytest.raises(PayloadCodecError, match="failed authentication"):
        await codec.decode([tampered])
    truncated = Payload(metadata=dict(encrypted.metadata), data=encrypted.data[:10])
    with pytest.raises(PayloadCodecError):
        await codec.decode([truncated])


async def test_key_id_is_bound_as_associated_data() -> None:
    # The same key under two ids: relabelling a payload's key id must still fail.
    codec = AesGcmCodec(keys(a=K1, b=K1), "a")
    [encrypted] = await codec.encode([plain()])
    relabelled = Payload(metadata={"encoding": ENCODING, KEY_ID: b"b"}, data=encrypted.data)
    with pytest.raises(PayloadCodecError, match="failed authentication"):
        await codec.decode([relabelled])


async def test_wrong_key_under_the_same_id_is_rejected() -> None:
    [encrypted] = await AesGcmCodec(keys(k1=K1), "k1").encode([plain()])
    with pytest.raises(PayloadCodecError):
        await AesGcmCodec(keys(k1=K2), "k1").decode([encrypted])


async def test_plain_payloads_pass_through_on_decode() -> None:
    codec = AesGcmCodec(keys(k1=K1), "k1")
    payloads = [plain(), Payload(metadata={"encoding": b"binary/null"}), Payload()]
    assert await codec.decode(payloads) == payloads


async def test_encrypted_payload_without_key_id_is_an_error() -> None:
    codec = AesGcmCodec(keys(k1=K1), "k1")
    with pytest.raises(PayloadCodecError, match=KEY_ID):
        await codec.decode([Payload(metadata={"encoding": ENCODING}, data=b"x" * 40)])


def test_settings_parse_the_keyring_and_active_key() -> None:
    k1, k2 = new_key(), new_key()
    ring, active = CodecSettings(keys=f"k2:{k2}, k1:{k1}", active_key="k2").keyring()
    assert list(ring) == ["k2", "k1"] and active == "k2"
    assert ring["k1"] == base64.b64decode(k1)
    _, default_active = CodecSettings(keys=f"k2:{k2},k1:{k1}").keyring()
    assert default_active == "k2", "the first key is active by default"


@pytest.mark.parametrize(
    ("keys_value", "active", "setting", "needle"),
    [
        ("k1", None, "BILLING_CODEC_KEYS", "id:base64-key"),
        ("k1:not base64!", None, "BILLING_CODEC_KEYS", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", None, "BILLING_CODEC_KEYS", "needs 32"),
        ("k1:{k},k1:{k}", None, "BILLING_CODEC_KEYS", "twice"),
        ("k1:{k}", "k9", "BILLING_CODEC_ACTIVE_KEY", "'k9'"),
        ("", "k1", "BILLING_CODEC_ACTIVE_KEY", "empty"),
    ],
)
def test_bad_settings_fail_at_startup_naming_the_variable(
    keys_value: str, active: str | None, setting: str, needle: str
) -> None:
    with pytest.raises(ConfigurationError, match=needle) as raised:
        CodecSettings(keys=keys_value.replace("{k}", new_key()), active_key=active)
    assert raised.value.setting == setting
    assert setting in str(raised.value)


def test_bad_keys_from_the_environment_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_CODEC_KEYS", "k1:AAAA")
    with pytest.raises(ConfigurationError, match="BILLING_CODEC_KEYS"):
        data_converter()


def test_secrets_never_print() -> None:
    settings = codec_settings(auth_token="tok-secret-value")
    assert "tok-secret-value" not in repr(settings)
    assert settings.keys is not None and settings.keys.get_secret_value() not in repr(settings)


def test_without_keys_the_converter_is_plain_pydantic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLING_CODEC_KEYS", raising=False)
    assert data_converter() is plain_data_converter
    assert data_converter(CodecSettings(keys="")) is plain_data_converter


async def test_the_plain_converter_writes_what_temporals_pydantic_converter_writes() -> None:
    value = Customer(customer_id="c1", email="buyer@example.com", phone="+252611234567")
    ours, stock = await plain_data_converter.encode([value]), await pydantic_data_converter.encode([value])
    assert ours == stock
    assert await plain_data_converter.decode(stock, [Customer]) == [value]


def test_payload_converters_share_their_type_adapters() -> None:
    """The worker makes one payload converter per workflow run: the pydantic validators are built once."""
    first, second = SharedPydanticPayloadConverter(), SharedPydanticPayloadConverter()
    assert first is not second
    [payload] = first.to_payloads([Money.parse("1.00", "USD")])
    assert first.from_payloads([payload], [Money]) == second.from_payloads([payload], [Money])
    json_first = first.converters[b"json/plain"]
    assert json_first is second.converters[b"json/plain"]
    assert isinstance(json_first, PydanticJSONPlainPayloadConverter)
    assert json_first._type_adapter.cache_info().hits >= 1


async def test_with_keys_the_converter_encrypts_pydantic_models() -> None:
    converter = data_converter(codec_settings())
    assert isinstance(converter.payload_codec, AesGcmCodec)
    assert converter.payload_converter_class is SharedPydanticPayloadConverter
    value = Customer(customer_id="c1", email="buyer@example.com", phone="+252611234567")
    [payload] = await converter.encode([value])
    assert payload.metadata["encoding"] == ENCODING
    assert b"buyer@example.com" not in payload.SerializeToString()
    assert await converter.decode([payload], [Customer]) == [value]
    money = Money.parse("12.34", "USD")
    assert await converter.decode(await converter.encode([money]), [Money]) == [money]
    # An unencrypted payload (history recorded before encryption) still converts.
    [old] = await pydantic_data_converter.encode([value])
    assert await converter.decode([old], [Customer]) == [value]
