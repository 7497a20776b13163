"""A small WaafiPay stand-in for httpx.MockTransport: canned envelopes, every request recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

SANDBOX = "https://sandbox.waafipay.test"
ENDPOINT = f"{SANDBOX}/asm"
MERCHANT_UID = "M0910291"
API_USER_ID = "1000416"
API_KEY = "API-1027781187AHX"
STORE_ID = "1000201"
HPP_KEY = "HPP-1231312312ABC"

#: ``params`` left out of the envelope entirely (reference A3: ``{}``, ``[]`` or absent).
ABSENT = object()


@dataclass
class Reply:
    """One canned answer: a JSON document (or raw bytes), an HTTP status, or an exception to raise."""

    document: Any = None
    raw: bytes | None = None
    status: int = 200
    error: Exception | None = None


def envelope(
    params: Any = ABSENT,
    *,
    code: str = "2001",
    error: str = "0",
    msg: str = "RCS_SUCCESS",
    timestamp: str = "2024-11-05 09:04:44.741",
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schemaVersion": "1.0",
        "timestamp": timestamp,
        "responseId": "12314",
        "responseCode": code,
        "errorCode": error,
        "responseMsg": msg,
    }
    if params is not ABSENT:
        document["params"] = params
    return document


@dataclass
class WaafiPayResponder:
    """Answers each ``POST /asm`` with the next queued reply and keeps the requests."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def answer(self, params: Any = ABSENT, **envelope_fields: Any) -> None:
        self.replies.append(Reply(document=envelope(params, **envelope_fields)))

    def refuse(self, msg: str, *, code: str = "5206", error: str = "E10205", params: Any = ABSENT) -> None:
        self.replies.append(Reply(document=envelope(params, code=code, error=error, msg=msg)))

    def queue(self, reply: Reply) -> None:
        self.replies.append(reply)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if reply.error is not None:
            raise reply.error
        body = reply.raw if reply.raw is not None else json.dumps(reply.document).encode()
        return httpx.Response(reply.status, content=body, headers={"Content-Type": "application/json"})

    def sent(self, index: int = -1) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.requests[index].content, parse_float=Decimal)
        return document

    def services(self) -> list[str]:
        return [json.loads(request.content)["serviceName"] for request in self.requests]
