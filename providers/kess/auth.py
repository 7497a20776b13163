"""KESS API tokens: fetched with user and password, valid about a minute, cached for less.

Seed 004 says "get API token before every requests": with ``cache_s`` 0 (the default setting,
``BILLING_KESS_TOKEN_REUSE_S``) every call gets a fresh token. A positive ``cache_s`` reuses one token for at
most that many seconds and at most 80 % of the lifetime its JWT states (``exp - iat``), and drops it when a
call answers 401. The token and the password never appear in reprs, logs or exceptions.

A token is fetched before the business request it is for, so whatever goes wrong here, that request was
not sent. Classification:

* HTTP 401/403, or an envelope that refuses (``success: false``) without a "try again" code: the user and
  password were refused, :class:`~billing.errors.ConfigurationError`.
* no answer, a broken connection, HTTP 5xx, an unreadable body, no token, or a refusal whose ``err_code``
  says "try again" (``SYSTEMERROR`` and other codes of unknown outcome): transient,
  :class:`~billing.errors.ProviderUnavailableError` (Temporal retries it).

Whether a refusal means "nothing happened" for the *operation* is the activity's call: on a retry of a
money-moving call the earlier attempt may have reached KESS (``activities.errors.reconciled_retries``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass

import httpx
from pydantic import SecretStr, ValidationError

from billing.errors import (
    ConfigurationError,
    OutcomeUnknownError,
    ProviderUnavailableError,
)
from billing.telemetry import ProviderCall, provider_call_span
from providers import http
from providers.kess import transform, wire

TOKEN_OPERATION = "token"  # noqa: S105 - an operation name, not a secret
#: Share of the token's own lifetime it is reused for.
LIFETIME_SHARE = 0.8


def jwt_lifetime_s(token: str) -> float | None:
    """``exp - iat`` from the token's claims (read, not verified: only used to cache it less long)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, int | float) and isinstance(iat, int | float) and not isinstance(exp, bool):
        return float(exp - iat)
    return None


@dataclass
class _Cached:
    token: str
    expires_at: float  # monotonic


class TokenSource:
    """Hands out a valid bearer token, fetching a new one when the cached one is too old."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        url: str,
        user: str,
        password: SecretStr,
        cache_s: float,
        timeout: httpx.Timeout,
        provider: str,
    ) -> None:
        self._http = http
        self._url = url
        self._user = user
        self._password = password
        self._cache_s = cache_s
        self._timeout = timeout
        self._provider = provider
        self._cached: _Cached | None = None
        self._lock: asyncio.Lock | None = None
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenSource(url={self._url!r}, user={self._user!r})"

    async def token(self) -> str:
        cached = self._cached
        if cached is not None and time.monotonic() < cached.expires_at:
            return cached.token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() < cached.expires_at:
                return cached.token
            token = await self._fetch()
            lifetime = self._cache_s
            stated = jwt_lifetime_s(token)
            if stated is not None:
                lifetime = min(lifetime, stated * LIFETIME_SHARE)
            self._cached = _Cached(token, time.monotonic() + max(lifetime, 0.0))
            return token

    def invalidate(self, token: str) -> None:
        """Forget `token` (it was refused); a newer one fetched meanwhile is kept."""
        if self._cached is not None and self._cached.token == token:
            self._cached = None

    async def _fetch(self) -> str:
        with provider_call_span(self._provider, TOKEN_OPERATION, api=TOKEN_OPERATION) as call:
            return await self._request_token(call)

    def _unavailable(self, message: str) -> ProviderUnavailableError:
        return ProviderUnavailableError(
            f"no API token ({message}); nothing was sent", provider=self._provider, operation=TOKEN_OPERATION
        )

    async def _request_token(self, call: ProviderCall) -> str:
        body = wire.encode_body(wire.TokenRequest(user=self._user, password=self._password.get_secret_value()))
        try:
            response = await http.post(
                self._http,
                self._url,
                provider=self._provider,
                operation=TOKEN_OPERATION,
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            )
        except OutcomeUnknownError as exc:
            raise self._unavailable(str(exc)) from exc
        self.fetches += 1
        status = response.status_code
        call.http_status(status)
        if status >= 500:
            raise self._unavailable(f"HTTP {status} from the token endpoint")
        if status in (401, 403):
            raise ConfigurationError("KESS refused the API user and password", setting="BILLING_KESS_PASSWORD")
        try:
            document = wire.decode_body(response.content)
            envelope = wire.Envelope.model_validate(document)
            data = wire.TokenData.model_validate(envelope.data or {})
            error = wire.ErrorData.model_validate(envelope.data or {})
        except (ValueError, ValidationError) as exc:
            raise self._unavailable(f"HTTP {status}; the token response is not a KESS envelope") from exc
        token = data.token
        # The older API answered {"status": "SUCCESS", "msg": "<jwt>"}.
        if token is None and isinstance(document, dict) and document.get("status") == "SUCCESS":
            msg = document.get("msg")
            token = msg if isinstance(msg, str) else None
        code = (error.err_code or "").strip().upper()
        if envelope.success is False or (status >= 400 and not token):
            call.provider_code(code or None)
            if code and transform.classify_code(code) is transform.CodeClass.UNKNOWN:
                # SYSTEMERROR and the like: KESS could not answer now, it did not refuse us.
                raise self._unavailable(f"HTTP {status}, err_code {code}")
            raise ConfigurationError("KESS refused the API user and password", setting="BILLING_KESS_PASSWORD")
        if not token:
            raise self._unavailable(f"HTTP {status}; the token response has no token")
        return token
