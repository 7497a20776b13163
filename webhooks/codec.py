"""The codec server: lets the Temporal UI and CLI show encrypted payloads decoded, for authorized callers.

Temporal's remote codec protocol: ``POST /codec/decode`` and ``POST /codec/encode`` take and return
``{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`` (``Payloads`` in protobuf
JSON). The UI calls them from the browser, so CORS is answered for the configured UI origins only.

Every call needs ``Authorization: Bearer <BILLING_CODEC_AUTH_TOKEN>`` (compared in constant time; 401
without it or with another token). With ``BILLING_CODEC_TOKEN_IN_PATH=true`` the token may instead be a
path segment, ``POST /codec/<token>/decode``, for UIs that cannot send the header (the Temporal dev
server's UI sends none). Without a token or without keys, the endpoints do not exist (404): an
unauthenticated codec server would be a decryption oracle.

A server built with ``session_cookie`` also takes the token from that cookie, for a browser on one of the
allowed origins only (``billing dev``'s UI gateway, :mod:`starter.uigateway`, sets the cookie).
"""

from __future__ import annotations

import hmac
import logging

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from temporalio.api.common.v1 import Payloads

from billing.codec import AesGcmCodec
from billing.errors import PayloadCodecError
from billing.settings import CodecSettings

log = logging.getLogger("billing.codec")

ALLOWED_HEADERS = "content-type, x-namespace, authorization"
ALLOWED_METHODS = "POST, OPTIONS"


class CodecServer:
    def __init__(
        self,
        codec: AesGcmCodec,
        token: str,
        *,
        cors_origins: list[str] | None = None,
        token_in_path: bool = False,
        session_cookie: str | None = None,
    ) -> None:
        if not token:
            raise ValueError("the codec server needs a token")
        self.codec = codec
        self._token = token.encode()
        self.cors_origins = {origin.rstrip("/") for origin in cors_origins or []}
        self.token_in_path = token_in_path
        self.session_cookie = session_cookie

    @classmethod
    def from_settings(cls, settings: CodecSettings | None = None) -> CodecServer | None:
        """The codec server, or None when no token or no keys are configured (endpoints then 404)."""
        settings = settings or CodecSettings()
        if settings.auth_token is None or not settings.auth_token.get_secret_value():
            return None
        if not settings.enabled():
            log.warning("BILLING_CODEC_AUTH_TOKEN is set but BILLING_CODEC_KEYS is not: codec server disabled")
            return None
        return cls(
            AesGcmCodec.from_settings(settings),
            settings.auth_token.get_secret_value(),
            cors_origins=settings.origins(),
            token_in_path=settings.token_in_path,
        )

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/codec/{operation:str}", self.handle, methods=["POST", "OPTIONS"]),
        ]
        if self.token_in_path:
            routes.append(Route("/codec/{token:str}/{operation:str}", self.handle, methods=["POST", "OPTIONS"]))
        return routes

    # -- HTTP ----------------------------------------------------------------------------------------

    def _cors_headers(self, request: Request) -> dict[str, str]:
        origin = request.headers.get("origin", "").rstrip("/")
        if not origin or origin not in self.cors_origins:
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    def _authorized(self, request: Request) -> bool:
        presented = request.path_params.get("token")
        if presented is None and self.session_cookie is not None and self.session_cookie in request.cookies:
            # A cookie rides along with any request the browser makes: honour it for the UI's origin only.
            if request.headers.get("origin", "").rstrip("/") not in self.cors_origins:
                return False
            presented = request.cookies[self.session_cookie]
        if presented is None:
            scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return False
            presented = credentials.strip()
        return hmac.compare_digest(presented.encode(), self._token)

    async def handle(self, request: Request) -> Response:
        operation = request.path_params["operation"]
        if operation not in ("encode", "decode"):
            return JSONResponse({"error": "not found"}, status_code=404)
        cors = self._cors_headers(request)
        if request.method == "OPTIONS":
            if "Access-Control-Allow-Origin" not in cors:
                return Response(status_code=403, headers=cors)
            return Response(
                status_code=204,
                headers={
                    **cors,
                    "Access-Control-Allow-Methods": ALLOWED_METHODS,
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": "600",
                },
            )
        if not self._authorized(request):
            return JSONResponse(
                {"error": "unauthorized"}, status_code=401, headers={**cors, "WWW-Authenticate": "Bearer"}
            )
        try:
            payloads = json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, DecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": f"not a Payloads JSON body: {exc}"}, status_code=400, headers=cors)
        try:
            if operation == "decode":
                result = await self.codec.decode(payloads.payloads)
            else:
                result = await self.codec.encode(payloads.payloads)
        except PayloadCodecError as exc:
            log.warning("codec %s refused: %s", operation, exc)
            return JSONResponse({"error": str(exc)}, status_code=400, headers=cors)
        body = json_format.MessageToJson(Payloads(payloads=result))
        return Response(body, media_type="application/json", headers=cors)
