"""Deterministic provider request ids, derived from business keys.

The same business key always gives the same id, so a retry, a worker crash or a continue-as-new reuses
the request id the provider has already seen; a new id is minted only by changing the business key (for
example the attempt number, once the previous attempt is known final). Ids fit every provider's limit
(the strictest: 32 characters, ``[A-Za-z0-9_-]``) and reveal nothing about the order or the customer.
"""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar

from pydantic import BaseModel

MAX_LENGTH = 32


class Fingerprinted(BaseModel):
    """A request that starts a workflow (an order, a subscription): the later ``submit`` of the same id
    carries its :meth:`fingerprint`, and a different one is a conflict."""

    #: Fields added later, left out while None: a request that does not use them keeps the fingerprint it had.
    fingerprint_omit_none: ClassVar[frozenset[str]] = frozenset()

    def fingerprint(self) -> str:
        """A digest of every parameter: equal requests, equal fingerprints (stable across versions: a
        running workflow compares against the one it was started with)."""
        omit = {name for name in self.fingerprint_omit_none if getattr(self, name) is None}
        canonical = json.dumps(self.model_dump(mode="json", exclude=omit), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def derive_key(kind: str, *parts: str | int) -> str:
    """``kind`` (a short lowercase tag such as ``pay``) + ``_`` + a hash of ``parts``, 32 chars at most."""
    if not kind.isalnum() or not kind.islower() or len(kind) > 8:
        raise ValueError(f"kind must be a short lowercase tag, got {kind!r}")
    material = "\x1f".join(str(part) for part in parts).encode()
    digest = hashlib.sha256(kind.encode() + b"\x1e" + material).hexdigest()
    return f"{kind}_{digest[: MAX_LENGTH - len(kind) - 1]}"


def payment_key(order_id: str, attempt: int = 1) -> str:
    """The provider request id of an order's payment attempt."""
    return derive_key("pay", order_id, attempt)


def capture_key(order_id: str, capture_no: int) -> str:
    return derive_key("cap", order_id, capture_no)


def refund_key(order_id: str, refund_id: str) -> str:
    return derive_key("ref", order_id, refund_id)


def subscription_key(subscription_id: str, generation: int = 1) -> str:
    """The provider request id of a subscription (a plan change makes a new generation)."""
    return derive_key("sub", subscription_id, generation)
