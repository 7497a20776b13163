"""ASGI helpers shared by the emulators' HTTP layers."""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by an emulator to abort a response half way.

    It subclasses httpx's transport error so that an in-process client using
    `httpx.ASGITransport` (which re-raises application exceptions) sees the same exception family
    as a client talking to the emulator over a real socket.
    """


class DropConnectionResponse:
    """An ASGI response that sends headers promising a body, then aborts.

    ASGI gives an application no way to close the socket before any response byte, and uvicorn
    answers 500 to an application that fails before starting its response. The nearest equivalent
    is this: the status line and headers (with a Content-Length that is never honoured) are sent,
    then the application raises, and uvicorn closes the connection. Clients see a transport error
    (httpx: RemoteProtocolError, "peer closed connection without sending complete message body").
    """

    def __init__(self, promised_length: int = 1024) -> None:
        self.promised_length = promised_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(self.promised_length).encode()),
                ],
            }
        )
        raise ConnectionDropped("connection dropped by fault injection")
