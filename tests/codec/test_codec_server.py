"""The codec server on the HTTP service: Temporal's remote codec protocol, bearer token, CORS."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from temporalio.api.common.v1 import Payload

from billing.codec import AesGcmCodec
from billing.settings import CodecSettings
from tests.codec.support import codec_settings
from webhooks.app import WebhookService, create_app
from webhooks.codec import CodecServer

TOKEN = "codec-token-for-tests"
UI = "http://127.0.0.1:8233"


async def _no_client() -> Any:
    raise AssertionError("the codec server never talks to Temporal")


def _json_payload(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def _http(settings: CodecSettings) -> httpx.AsyncClient:
    app = create_app(WebhookService(_no_client, {}), CodecServer.from_settings(settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec.test")


@pytest.fixture
def settings() -> CodecSettings:
    return codec_settings(auth_token=TOKEN, cors_origins=f"{UI},http://localhost:8233")


@pytest.fixture
async def http(settings: CodecSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with _http(settings) as client:
        yield client


async def _encrypted(settings: CodecSettings, text: bytes) -> Payload:
    [payload] = await AesGcmCodec.from_settings(settings).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=text)]
    )
    return payload


def _bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Namespace": "default"}


async def test_decode_with_the_token(http: httpx.AsyncClient, settings: CodecSettings) -> None:
    secret = await _encrypted(settings, b'{"email":"buyer@example.com"}')
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"already plain"')
    body = {"payloads": [_json_payload(secret), _json_payload(plain)]}
    reply = await http.post("/codec/decode", json=body, headers={**_bearer(), "Origin": UI})
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == UI
    decoded = reply.json()["payloads"]
    assert base64.b64decode(decoded[0]["data"]) == b'{"email":"buyer@example.com"}'
    assert base64.b64decode(decoded[0]["metadata"]["encoding"]) == b"json/plain"
    assert decoded[1] == _json_payload(plain)


async def test_encode_then_decode(http: httpx.AsyncClient) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"a":1}')
    encoded = await http.post("/codec/encode", json={"payloads": [_json_payload(plain)]}, headers=_bearer())
    assert encoded.status_code == 200
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    decoded = await http.post("/codec/decode", json={"payloads": [sealed]}, headers=_bearer())
    assert decoded.json()["payloads"] == [_json_payload(plain)]


@pytest.mark.parametrize(
    "headers",
    [{}, _bearer("wrong-token"), _bearer(TOKEN + "x"), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong", "longer", "no-scheme", "basic"],
)
async def test_refused_without_the_right_token(
    http: httpx.AsyncClient, settings: CodecSettings, headers: dict[str, str]
) -> None:
    secret = await _encrypted(settings, b'{"email":"buyer@example.com"}')
    for operation in ("decode", "encode"):
        reply = await http.post(f"/codec/{operation}", json={"payloads": [_json_payload(secret)]}, headers=headers)
        assert reply.status_code == 401
        assert b"buyer@example.com" not in reply.content


async def test_token_in_path_only_when_enabled(settings: CodecSettings) -> None:
    secret = await _encrypted(settings, b'"x"')
    body = {"payloads": [_json_payload(secret)]}
    async with _http(settings) as http:
        assert (await http.post(f"/codec/{TOKEN}/decode", json=body)).status_code == 404
    enabled = settings.model_copy(update={"token_in_path": True})
    async with _http(enabled) as http:
        ok = await http.post(f"/codec/{TOKEN}/decode", json=body)
        assert ok.status_code == 200
        assert base64.b64decode(ok.json()["payloads"][0]["data"]) == b'"x"'
        assert (await http.post("/codec/wrong-token/decode", json=body)).status_code == 401
        assert (await http.post("/codec/decode", json=body, headers=_bearer())).status_code == 200


async def test_preflight_answered_for_the_ui_origin_only(http: httpx.AsyncClient) -> None:
    request = {"Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type,x-namespace,authorization"}  # fmt: skip
    allowed = await http.options("/codec/decode", headers={**request, "Origin": UI})
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == UI
    allowed_headers = {h.strip() for h in allowed.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= allowed_headers
    assert "POST" in allowed.headers["access-control-allow-methods"]

    other = await http.options("/codec/decode", headers={**request, "Origin": "https://evil.example"})
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers
    refused = await http.post(
        "/codec/decode", json={"payloads": []}, headers={**_bearer(), "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in refused.headers


async def test_disabled_without_a_token_or_keys() -> None:
    for settings in (codec_settings(), CodecSettings(keys=None, auth_token=TOKEN)):
        assert CodecServer.from_settings(settings) is None
        app = create_app(WebhookService(_no_client, {}), CodecServer.from_settings(settings))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec.test") as http:
            assert (await http.post("/codec/decode", json={"payloads": []}, headers=_bearer())).status_code == 404
            assert (await http.options("/codec/decode", headers={"Origin": UI})).status_code == 404
            assert (await http.get("/healthz")).status_code == 200


async def test_bad_bodies_are_400(http: httpx.AsyncClient) -> None:
    assert (await http.post("/codec/decode", content=b"not json", headers=_bearer())).status_code == 400
    forged = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"binary/encrypted").decode(),
                                         "encryption-key-id": base64.b64encode(b"k1").decode()},
                            "data": base64.b64encode(b"\0" * 40).decode()}]}  # fmt: skip
    assert (await http.post("/codec/decode", json=forged, headers=_bearer())).status_code == 400
    assert (await http.post("/codec/other", json={"payloads": []}, headers=_bearer())).status_code == 404


async def test_session_cookie_authorizes_only_from_an_allowed_origin(settings: CodecSettings) -> None:
    server = CodecServer(AesGcmCodec.from_settings(settings), TOKEN, cors_origins=[UI], session_cookie="session")
    transport = httpx.ASGITransport(app=Starlette(routes=server.routes()))
    body = {"payloads": [_json_payload(await _encrypted(settings, b'"secret"'))]}
    async with httpx.AsyncClient(transport=transport, base_url="http://codec.test") as http:
        http.cookies.set("session", TOKEN)
        decoded = await http.post("/codec/decode", json=body, headers={"Origin": UI})
        assert decoded.status_code == 200
        assert base64.b64decode(decoded.json()["payloads"][0]["data"]) == b'"secret"'
        for origin in ({}, {"Origin": "http://evil.test"}):
            assert (await http.post("/codec/decode", json=body, headers=origin)).status_code == 401
        http.cookies.set("session", "another")
        assert (await http.post("/codec/decode", json=body, headers={"Origin": UI})).status_code == 401
    # Without the option, a cookie is no credential at all.
    plain = CodecServer(AesGcmCodec.from_settings(settings), TOKEN, cors_origins=[UI])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=Starlette(routes=plain.routes())), base_url="http://codec.test"
    ) as http:
        http.cookies.set("session", TOKEN)
        assert (await http.post("/codec/decode", json=body, headers={"Origin": UI})).status_code == 401
