"""The provider contract (``tests/providers/contract.py``) for KessClient, over real HTTP against the KESS
emulator served by the emulator hub on loopback.

How the contract's steps map to KESS:

* A payment is a native QR order (no ``payment_method``: native pay with the default wallet), NOTPAY until
  the buyer scans and pays it (the control API's ``/orders/{out_trade_no}/pay``) or fails
  (``/orders/{out_trade_no}/fail`` with NOTENOUGH).
* The decline amount is paid by quick pay with an auth code the emulator's buyer script refuses at once
  (prefix ``1403``: NOTENOUGH); KESS has no amount that declines.
* Refunds succeed at once (the hub's ``refund_delay_s`` is 0). KESS has no manual capture and no
  subscriptions: those contract tests are skipped by capability.
* The ledger is the emulator's; a payment's movements are the entries carrying its ``transaction_id``.
* A lost answer is a fault on ``native_pay``: the answer delayed after the commit
  (``timeout_after_commit``), SYSTEMERROR after the commit, the connection dropped after the commit, or an
  answer from in front of KESS (a body that is not a KESS envelope, an HTTP 5xx).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from billing.money import Money
from providers.base import CaptureMode, CreatePayment, PaymentOutcome, PaymentProvider
from providers.kess import KessClient, KessSettings
from tests.providers.contract import AnswerFault, Movement, PaymentProviderContract, ProviderHarness
from tests.providers.contract_support import ControlApi
from tests.support.stack import KESS_PASSWORD, KESS_STORE, KESS_USER, emulator_hub, kess_client

USD = "USD"
#: A WeChat quick-pay auth code whose buyer has not enough balance (emulator script prefix 1403).
NOT_ENOUGH_AUTH_CODE = "140312345678901234"
DECLINE_UNITS = 40
#: Short enough that an answer delayed by TIMEOUT_FAULT_MS always times out.
IMPATIENT_TIMEOUT_S = 0.25
TIMEOUT_FAULT_MS = 1000


@dataclass
class KessEnv:
    control: ControlApi
    client: KessClient
    impatient: KessClient


def impatient_client(emulator_url: str) -> KessClient:
    return KessClient(
        KessSettings(
            base_url=f"{emulator_url}/kess",
            user=KESS_USER,
            password=SecretStr(KESS_PASSWORD),
            store_id=KESS_STORE,
            read_timeout=IMPATIENT_TIMEOUT_S,
        )
    )


@pytest.fixture(scope="module")
async def kess_env() -> AsyncIterator[KessEnv]:
    async with emulator_hub() as (_, server):
        client = kess_client(server.url)
        impatient = impatient_client(server.url)
        try:
            async with httpx.AsyncClient(base_url=f"{server.url}/kess/control") as http:
                control = ControlApi(http)
                yield KessEnv(control=control, client=client, impatient=impatient)
                await control.clear_faults()
        finally:
            await client.aclose()
            await impatient.aclose()


@pytest.fixture(autouse=True)
async def _no_leftover_faults(kess_env: KessEnv) -> AsyncIterator[None]:
    yield
    await kess_env.control.clear_faults()


_FAULTS: dict[AnswerFault, tuple[str, dict[str, Any]]] = {
    AnswerFault.TIMEOUT: ("timeout_after_commit", {"ms": TIMEOUT_FAULT_MS}),
    AnswerFault.UNKNOWN_STATUS: ("system_error", {}),
    AnswerFault.DROPPED: ("drop_connection", {}),
    # KESS answers are unsigned: an answer that is not a KESS envelope cannot be verified.
    AnswerFault.UNVERIFIABLE: ("http_500", {"status": 200, "body": "<html><body>Request accepted</body></html>"}),
    AnswerFault.GATEWAY_ERROR: ("http_500", {"status": 502, "body": "Bad Gateway"}),
}


class KessHarness(ProviderHarness):
    currency = USD
    # KESS sends no notifications: every change is learned by inquiry. The URL is never called.
    notify_url = "https://shop.example/kess/notify"

    def __init__(self, env: KessEnv) -> None:
        self.env = env
        self.provider = env.client

    @property
    def decline_amount(self) -> Money:
        return self.money(DECLINE_UNITS)

    def payment_request(
        self,
        *,
        key: str | None = None,
        amount: Money | None = None,
        capture_mode: CaptureMode = CaptureMode.AUTOMATIC,
    ) -> CreatePayment:
        request = super().payment_request(key=key, amount=amount, capture_mode=capture_mode)
        if amount is not None and amount == self.decline_amount:
            # Quick pay with the buyer's payment code: the wallet refuses it within the call.
            return request.model_copy(update={"payment_method": f"QUICKPAY:WECHAT:{NOT_ENOUGH_AUTH_CODE}"})
        return request  # native pay: a QR code the buyer pays later

    async def customer_pays(self, payment: PaymentOutcome) -> None:
        assert payment.idempotency_key is not None
        await self.env.control.act(f"/orders/{payment.idempotency_key}/pay")

    async def customer_fails(self, payment: PaymentOutcome) -> None:
        assert payment.idempotency_key is not None
        await self.env.control.act(f"/orders/{payment.idempotency_key}/fail", errCode="NOTENOUGH")

    async def movements(self, provider_reference: str) -> list[Movement]:
        return await self.env.control.movements(lambda entry: entry.get("transaction_id") == provider_reference)

    async def lose_next_answer(self, operation: str, fault: AnswerFault) -> PaymentProvider:
        assert operation == "create_payment", operation
        kind, params = _FAULTS[fault]
        await self.env.control.fault("native_pay", kind, **params)
        return self.env.impatient if fault is AnswerFault.TIMEOUT else self.env.client


class TestKessContract(PaymentProviderContract):
    @pytest.fixture
    def harness(self, kess_env: KessEnv) -> ProviderHarness:
        return KessHarness(kess_env)
