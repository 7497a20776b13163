"""``billing dev``'s Temporal UI: the dev server's UI behind a gateway that also decodes payloads for it.

The dev server's UI can only be given a codec endpoint URL (``--ui-codec-endpoint``); it publishes that
URL to anyone at ``GET /api/v1/settings`` and the server's command line shows it in ``ps``. It cannot be
told to send credentials. So no secret goes into that URL: the dev server's UI listens on an internal
loopback port, and this gateway serves the UI's public port:

* ``/codec/encode`` and ``/codec/decode`` (the endpoint the UI is given, on its own origin): the codec,
  for requests that carry the session cookie and come from the UI's origin;
* ``GET /codec/session?key=<key>``: sets that cookie (``HttpOnly``, ``SameSite=Strict``) and redirects to
  the UI. ``billing dev`` prints this link in its terminal only; the key is new on every start;
* everything else: proxied to the dev server's UI.

The browser calls the codec on the page's own origin, so it sends the cookie without being asked to.
"""

from __future__ import annotations

import hmac

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from billing.codec import AesGcmCodec
from webhooks.codec import CodecServer

SESSION_COOKIE = "billing_codec_session"
SESSION_PATH = "/codec/session"

#: Hop-by-hop headers and those the proxy recomputes: never forwarded.
_REQUEST_DROP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-authorization",
                 "proxy-connection", "accept-encoding", "content-length"}  # fmt: skip
_RESPONSE_DROP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class UiGateway:
    """The UI's public origin: codec endpoints with cookie sessions, and a reverse proxy to the UI."""

    def __init__(self, upstream: str, codec: AesGcmCodec, session_key: str, origins: list[str]) -> None:
        self.upstream = upstream.rstrip("/")
        self._session_key = session_key
        self.codec_server = CodecServer(codec, session_key, cors_origins=origins, session_cookie=SESSION_COOKIE)
        self._http = httpx.AsyncClient(base_url=self.upstream, timeout=60)
        self.app = Starlette(
            routes=[
                Route(SESSION_PATH, self.session, methods=["GET"]),
                *self.codec_server.routes(),
                Route("/{path:path}", self.proxy, methods=_METHODS),
            ]
        )

    def login_url(self, public_base: str) -> str:
        """The link that gives a browser the session cookie (a secret: print it to the user's terminal only)."""
        return f"{public_base.rstrip('/')}{SESSION_PATH}?key={self._session_key}"

    async def session(self, request: Request) -> Response:
        presented = request.query_params.get("key", "")
        if not hmac.compare_digest(presented.encode(), self._session_key.encode()):
            return Response("unknown key: use the link billing dev printed", status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, self._session_key, path="/codec", httponly=True, samesite="strict")
        return response

    async def proxy(self, request: Request) -> Response:
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in _REQUEST_DROP]
        upstream = await self._http.request(
            request.method,
            request.url.path,
            params=request.url.query,
            headers=headers,
            content=await request.body(),
        )
        response = Response(upstream.content, status_code=upstream.status_code)
        response.raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in upstream.headers.multi_items()
            if name.lower() not in _RESPONSE_DROP
        ] + [(b"content-length", str(len(upstream.content)).encode())]
        return response

    async def aclose(self) -> None:
        await self._http.aclose()
