"""The data converter every Temporal client, worker and replayer of the engine uses.

Pydantic models in, pydantic models out; when codec keys are configured (``BILLING_CODEC_KEYS``), every
payload is encrypted with AES-256-GCM (:mod:`billing.codec`). Connecting to Temporal (where the keys come
from, tracing, metrics) is the host's part: :mod:`host.temporal`.

Workflow modules never import this module (nor :mod:`billing.codec`, which needs ``cryptography``); the
codec runs outside the workflow sandbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import CompositePayloadConverter, DataConverter, DefaultFailureConverterWithEncodedAttributes

from billing.errors import ConfigurationError
from billing.settings import CodecSettings

#: The ``encoding`` metadata of a payload encrypted by :class:`billing.codec.AesGcmCodec`.
ENCRYPTED_ENCODING = b"binary/encrypted"


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """Temporal's pydantic payload converter, with one set of encoders per process.

    The worker makes a payload converter for every workflow run. The stock pydantic converter builds a
    pydantic ``TypeAdapter`` (a compiled validator) for each type it decodes and keeps it in a cache of its
    own; every cached run would build and hold its own adapters for the same types. Instances of this
    class share the encoders of one converter, so adapters are built once per type. The encoders hold
    nothing else (the cache is thread-safe), and the bytes on the wire are the same.
    """

    _shared: ClassVar[PydanticPayloadConverter | None] = None

    def __init__(self) -> None:
        shared = SharedPydanticPayloadConverter._shared
        if shared is None:
            shared = SharedPydanticPayloadConverter._shared = PydanticPayloadConverter()
        CompositePayloadConverter.__init__(self, *shared.converters.values())

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        """Payloads as values; an encrypted payload reaching it means this process has no codec keys.

        The stock converter fails then with ``KeyError: 'Unknown payload encoding binary/encrypted'``; this
        names the missing setting instead (the CLI exits 78 on it).
        """
        try:
            return super().from_payloads(payloads, type_hints)
        except KeyError:
            if any(payload.metadata.get("encoding") == ENCRYPTED_ENCODING for payload in payloads):
                raise ConfigurationError(
                    "payloads are encrypted but no codec keys are configured; set it to the keyring they were "
                    "written with (a `billing dev` stack on this machine lends its own)",
                    setting="BILLING_CODEC_KEYS",
                ) from None
            raise


#: Pydantic models in, pydantic models out; no encryption.
plain_data_converter = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)


def data_converter(codec: CodecSettings | None = None) -> DataConverter:
    """The converter every client, worker and replayer uses: encrypted when codec keys are configured.

    With encryption on, failure messages and stack traces move into the failure's encoded attributes, so
    they are encrypted too (an error text may quote customer data).
    """
    codec = codec if codec is not None else CodecSettings()
    if not codec.enabled():
        return plain_data_converter
    from billing.codec import AesGcmCodec  # cryptography: imported only where a codec is wanted

    return dataclasses.replace(
        plain_data_converter,
        payload_codec=AesGcmCodec.from_settings(codec),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
