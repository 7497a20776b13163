"""The hosted payment page's browser redirects, read as hints (reference A6, ARCHITECTURE rule 4).

After the hosted payment page, WaafiPay sends the payer's browser to the merchant's success or failure
URL. Nothing in that redirect is signed, so it is never a statement about the payment: it only says
*which* payment may have news. The engine then inquires (``HPP_GETTRANINFO`` by ``referenceId``, or
``HPP_GETRESULTINFO`` with the result token) and acts only on the answer.

What arrives depends on ``hppRespDataFormat``:

* 4 (result token): ``?hppResultToken=<hex>`` appended **literally**, even to a URL that already has a
  query string, so ``/cb?referenceId=K?hppResultToken=AB12`` is normal;
* 2 (GET) / 1 (POST form): the result fields themselves (``state``, ``referenceId``, ``transactionId``,
  ``responseMsg``...) as query or form parameters, forgeable like everything else here.

The client tags callback URLs with ``referenceId=<idempotency key>``, so a hint names its payment even
in format 4.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict

from providers.waafipay.transform import REFERENCE_ID_PATTERN

RESULT_TOKEN_PARAM = "hppResultToken"  # noqa: S105 - a parameter name, not a secret
REFERENCE_ID_PARAM = "referenceId"
#: The result token is hex of an opaque (encrypted) value; base64 characters are tolerated.
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9+/=_-]{1,1024}")
_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_MAX_TEXT = 255


class HppCallbackHint(BaseModel):
    """What an HPP redirect claims. Unsigned: only ever a reason to inquire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``hppResultToken`` (format 4): exchange it with ``HPP_GETRESULTINFO``.
    result_token: str | None = None
    #: Our ``referenceId`` (the payment's idempotency key): inquire with ``HPP_GETTRANINFO``.
    reference_id: str | None = None
    transaction_id: str | None = None
    #: The claimed ``state`` (format 1/2), e.g. "APPROVED". Never trusted.
    state: str | None = None
    response_msg: str | None = None

    def is_empty(self) -> bool:
        return self.result_token is None and self.reference_id is None


def _query_text(raw: str | bytes) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    head, separator, tail = text.partition("?")
    if separator and ("://" in head or head.startswith("/")):
        text = tail  # a whole URL or path: its query starts after the first "?"
    elif "://" in text or (text.startswith("/") and "=" not in text):
        return ""  # a URL without a query string
    # Every further "?" is WaafiPay's literal append: read it as "&".
    return text.lstrip("?").replace("?", "&")


def parse_hpp_callback(raw: str | bytes) -> HppCallbackHint:
    """Read a redirect's query string (or whole URL, or format-1 form body) into a hint.

    Never raises: values that are missing or do not look like what WaafiPay sends are left out, and an
    unreadable input gives an empty hint (:meth:`HppCallbackHint.is_empty`).
    """
    fields: dict[str, str] = {}
    for name, value in parse_qsl(_query_text(raw), keep_blank_values=True):
        value = value.strip()
        if value and name not in fields:
            fields[name] = value

    def matching(name: str, pattern: re.Pattern[str]) -> str | None:
        value = fields.get(name)
        return value if value is not None and pattern.fullmatch(value) else None

    def text(name: str) -> str | None:
        value = fields.get(name)
        return value[:_MAX_TEXT] if value else None

    return HppCallbackHint(
        result_token=matching(RESULT_TOKEN_PARAM, _TOKEN_PATTERN),
        reference_id=matching(REFERENCE_ID_PARAM, REFERENCE_ID_PATTERN),
        transaction_id=matching("transactionId", _ID_PATTERN),
        state=text("state"),
        response_msg=text("responseMsg"),
    )
