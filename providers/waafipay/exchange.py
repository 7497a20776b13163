"""How every WaafiPay call travels: one ``POST /asm``, an envelope in, an envelope classified out.

:class:`WaafiPayExchange` is the base of :class:`~providers.waafipay.client.WaafiPayClient`: the
credentials each service needs, money-moving writes with a deterministic ``requestId`` and queries with a
fresh one, and the one classification of an answer (reference A3; see the client's module docstring).
The flows are its subclasses' (``pushes``, ``hpp``, ``refunds``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import httpx
from pydantic import SecretStr, ValidationError

from billing.errors import (
    ConfigurationError,
    ProviderRequestError,
    ProviderServerError,
    ResponseVerificationError,
)
from billing.telemetry import provider_call_span
from providers import http
from providers.answers import require_same_object
from providers.waafipay import transform, wire
from providers.waafipay.transform import AnswerClass, StateClass

PROVIDER_NAME = "waafipay"
ASM_PATH = "/asm"
#: The engine's name for each service (span attribute ``billing.operation``).
OPERATIONS = {
    wire.API_PURCHASE: "create_payment",
    wire.API_PREAUTHORIZE: "create_payment",
    wire.HPP_PURCHASE: "create_payment",
    wire.HPP_GETTRANINFO: "inquire_payment",
    wire.HPP_GETRESULTINFO: "inquire_hpp_result",
    wire.API_CANCELPURCHASE: "cancel_payment",
    wire.API_PREAUTHORIZE_CANCEL: "cancel_payment",
    wire.API_PREAUTHORIZE_COMMIT: "capture_payment",
    wire.API_REFUND: "refund",
    wire.HPP_REFUNDPURCHASE: "refund",
}


def endpoint_url(base_url: str) -> str:
    """``https://sandbox.waafipay.net`` → ``https://sandbox.waafipay.net/asm`` (kept if it ends in /asm)."""
    url = base_url.strip().rstrip("/")
    return url if url.endswith(ASM_PATH) else url + ASM_PATH


def encode_body(request: wire.RequestEnvelope) -> bytes:
    """The exact bytes sent (see :func:`providers.waafipay.wire.encode_request`)."""
    return wire.encode_request(request)


def waafipay_setting(name: str) -> str:
    """The environment variable of a WaafiPay setting, as errors name it."""
    return f"BILLING_WAAFIPAY_{name}"


class WaafiPayExchange(http.HttpClientOwner):
    """The transport and credentials the WaafiPay flows share (built by ``WaafiPayClient.__init__``)."""

    name = PROVIDER_NAME
    _api: wire.ApiCredentials | None
    _hpp: wire.HppCredentials | None
    _endpoint: str
    _merchant_uid: str
    _push_timeout: httpx.Timeout
    _read_timeout: httpx.Timeout
    _clock: Callable[[], datetime]

    # -- credentials ----------------------------------------------------------------------------

    def _require_api(self, operation: str) -> wire.ApiCredentials:
        if self._api is None:
            raise ConfigurationError(
                f"is not set; {operation} needs the API credentials (MERCHANT_UID, API_USER_ID, API_KEY)",
                setting=waafipay_setting("API_KEY"),
            )
        return self._api

    def _require_hpp(self, operation: str) -> wire.HppCredentials:
        if self._hpp is None:
            raise ConfigurationError(
                f"is not set; {operation} needs the HPP credentials (MERCHANT_UID, STORE_ID, HPP_KEY)",
                setting=waafipay_setting("HPP_KEY"),
            )
        return self._hpp

    # -- transport ------------------------------------------------------------------------------

    async def _write(
        self,
        service: str,
        params: wire.WaafiPayModel,
        *,
        key: str,
        at: datetime,
        timeout: httpx.Timeout | None = None,
    ) -> wire.ResponseEnvelope:
        """A money-moving call: deterministic ``requestId`` from the service and ``key``."""
        request = transform.envelope(
            service,
            params,
            request_id=transform.request_id(service, key),
            timestamp=transform.format_timestamp(at),
        )
        return await self._exchange(service, request, timeout or self._read_timeout)

    async def _read(self, service: str, params: wire.WaafiPayModel) -> wire.ResponseEnvelope:
        """A query: a fresh ``requestId`` per call, so no answer can be a stale replay."""
        request = transform.envelope(
            service, params, request_id=str(uuid.uuid4()), timestamp=transform.format_timestamp(self._clock())
        )
        return await self._exchange(service, request, self._read_timeout)

    async def _exchange(
        self, service: str, request: wire.RequestEnvelope, timeout: httpx.Timeout
    ) -> wire.ResponseEnvelope:
        """Send one request; return its envelope when it is a success or a definite refusal."""
        try:
            body = encode_body(request)
        except (TypeError, ValueError) as exc:
            raise ProviderRequestError(
                "the request could not be serialized", provider=self.name, operation=service
            ) from exc
        with provider_call_span(self.name, OPERATIONS.get(service, service), api=service) as call:
            response = await http.post(
                self._http,
                self._endpoint,
                provider=self.name,
                operation=service,
                content=body,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=timeout,
            )
            call.http_status(response.status_code)
            envelope = self._classify(service, response)
            call.provider_code(transform.failure_code(envelope.response_code, envelope.error_code))
            return envelope

    def _classify(self, service: str, response: httpx.Response) -> wire.ResponseEnvelope:
        status = response.status_code
        if status >= 500:
            # WaafiPay states business outcomes on HTTP 200; a 5xx comes from before or around it.
            raise ProviderServerError(f"HTTP {status}", provider=self.name, operation=service, status_code=status)
        try:
            document = json.loads(response.content, parse_float=Decimal)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            envelope = wire.ResponseEnvelope.model_validate(document)
        except (ValueError, ValidationError) as exc:
            raise ResponseVerificationError(
                f"HTTP {status}; the body is not a WaafiPay envelope", provider=self.name, operation=service
            ) from exc
        if transform.classify_answer(envelope) is AnswerClass.UNKNOWN:
            code = transform.failure_code(envelope.response_code, envelope.error_code)
            raise ProviderServerError(
                f"outcome unknown: responseCode {envelope.response_code or '(none)'}, errorCode "
                f"{envelope.error_code or '(none)'} {envelope.response_msg or ''}".rstrip(),
                provider=self.name,
                operation=service,
                status_code=status,
                code=code,
            )
        return envelope

    def _final_state(self, service: str, state: str | None) -> StateClass:
        """``params.state`` of a 2001 answer; a state that is neither approved nor declined concludes nothing."""
        verdict = transform.classify_state(state)
        if verdict is StateClass.UNKNOWN:
            raise ResponseVerificationError(
                f"2001 without a final state (state={state!r}): outcome unknown", provider=self.name, operation=service
            )
        return verdict

    def _check_reference(self, service: str, echoed: str | None, expected: str) -> None:
        """The answer echoes the ``referenceId`` we sent; another one is no answer (providers/answers.py)."""
        require_same_object(
            provider=self.name, operation=service, asked={"referenceId": expected}, answered={"referenceId": echoed}
        )


def api_credentials(
    merchant_uid: str, api_user_id: str | None, api_key: str | SecretStr | None
) -> wire.ApiCredentials | None:
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    if not api_user_id and not key:
        return None
    if not api_user_id:
        raise ConfigurationError("is not set (API_KEY is)", setting=waafipay_setting("API_USER_ID"))
    if not key:
        raise ConfigurationError("is not set (API_USER_ID is)", setting=waafipay_setting("API_KEY"))
    return wire.ApiCredentials(
        merchant_uid=merchant_uid, api_user_id=transform.wire_id(api_user_id), api_key=SecretStr(key)
    )


def hpp_credentials(
    merchant_uid: str, store_id: str | None, hpp_key: str | SecretStr | None
) -> wire.HppCredentials | None:
    key = hpp_key.get_secret_value() if isinstance(hpp_key, SecretStr) else hpp_key
    if not store_id and not key:
        return None
    if not store_id:
        raise ConfigurationError("is not set (HPP_KEY is)", setting=waafipay_setting("STORE_ID"))
    if not key:
        raise ConfigurationError("is not set (STORE_ID is)", setting=waafipay_setting("HPP_KEY"))
    return wire.HppCredentials(merchant_uid=merchant_uid, store_id=transform.wire_id(store_id), hpp_key=SecretStr(key))
