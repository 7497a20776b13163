"""The KESS emulator: merchants, tokens, state, the money ledger and background progress."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from emulators.common.background import cancel_and_wait
from emulators.common.clock import Clock
from emulators.common.faults import FaultQueue
from emulators.common.ledger import Ledger, LedgerEntry, LedgerKind
from emulators.kess import tokens
from emulators.kess.config import KessEmulatorConfig
from emulators.kess.models import Merchant, Order, Store
from emulators.kess.payments import PaymentService

log = logging.getLogger(__name__)


def format_timestamp(moment: datetime, zone: str = "UTC") -> str:
    """``2026-01-15 10:00:00`` in ``zone``, without an offset (KESS's own format is not documented)."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


class KessEmulator:
    """An offline KESS Pay (WeChat Pay / Alipay aggregator): serve it with `create_app(emulator)`.

    Business time comes from `self.clock` (adjustable through the control API). Durations in the
    config are multiplied by `config.time_scale`.
    """

    def __init__(self, config: KessEmulatorConfig | None = None) -> None:
        self.config = config or KessEmulatorConfig()
        self._jwt_secret = self.config.jwt_secret or tokens.new_secret()
        self.clock = Clock()
        self.store = Store()
        self.ledger = Ledger()
        self.faults = FaultQueue()
        self.payments = PaymentService(self)
        self.tokens_issued = 0
        # Tokens whose serial is below this are refused (POST /control/tokens/expire).
        self._min_token_serial = 0
        # Tokens already used for a business request (config.token_use "single" refuses them again).
        self._used_tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._sweeper: asyncio.Task[None] | None = None

    # -- merchants and tokens -------------------------------------------------------------------

    def register_merchant(
        self,
        username: str,
        password: str,
        *,
        store_id: str = "109038",
        store_name: str = "Test Store",
        currency: str = "USD",
    ) -> Merchant:
        """Register (or replace) an API user with its store."""
        merchant = Merchant(username, password, str(store_id), store_name, currency.upper())
        self.store.merchants[username] = merchant
        return merchant

    def _epoch(self) -> float:
        return self.clock.now().timestamp()

    def issue_token(self, user: str, password: str) -> str | None:
        """A fresh HS256 token for valid credentials, None otherwise."""
        merchant = self.store.merchants.get(user)
        if merchant is None or not secrets.compare_digest(merchant.password.encode(), password.encode()):
            return None
        now = self._epoch()
        lifetime = self.config.scaled(self.config.token_ttl_s)
        claims = {
            "iss": self.config.jwt_issuer,
            "aud": self.config.jwt_issuer,
            "sub": user,
            "iat": round(now, 3),
            "exp": round(now + lifetime, 3),
            "jti": f"{self.tokens_issued}-{uuid.uuid4().hex}",
        }
        self.tokens_issued += 1
        return tokens.encode(claims, self._jwt_secret)

    def authenticate(self, token: str) -> Merchant | None:
        """The merchant of a valid, unexpired token; None otherwise."""
        try:
            claims = tokens.decode(token, self._jwt_secret)
        except tokens.InvalidToken:
            return None
        exp, jti = claims.get("exp"), str(claims.get("jti", ""))
        serial = jti.partition("-")[0]
        if not isinstance(exp, int | float) or not serial.isdigit():
            return None
        if self._epoch() >= exp or int(serial) < self._min_token_serial:
            return None
        if self.config.token_use == "single":  # noqa: S105 - a mode, not a secret
            if jti in self._used_tokens:
                return None
            self._used_tokens.add(jti)
        return self.store.merchants.get(str(claims.get("sub")))

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (401)."""
        self._min_token_serial = self.tokens_issued

    # -- ids and time ---------------------------------------------------------------------------

    def new_transaction_id(self) -> str:
        return f"42000{int(time.time()):010d}{next(self._ids):08d}"

    def new_refund_id(self) -> str:
        return f"50300{int(time.time()):010d}{next(self._ids):08d}"

    def timestamp(self, when: datetime | None = None) -> str:
        return format_timestamp(when or self.clock.now(), self.config.time_zone)

    def record(self, kind: LedgerKind, order: Order, amount: Decimal, references: dict[str, str | None]) -> LedgerEntry:
        return self.ledger.record(
            kind,
            merchant_id=order.store_id,
            amount=amount,
            currency=order.currency,
            at=self.timestamp(),
            references={"out_trade_no": order.out_trade_no, "transaction_id": order.transaction_id, **references},
        )

    # -- background work ------------------------------------------------------------------------

    def ensure_background(self) -> None:
        """Start the sweeper (expiry, scripted PIN entry, delayed refunds) on the running loop."""
        loop = asyncio.get_running_loop()
        if self._sweeper is None or self._sweeper.done() or self._sweeper.get_loop() is not loop:
            self._sweeper = loop.create_task(self._sweep(), name="kess-sweeper")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            try:
                self.payments.progress()
            except Exception:  # pragma: no cover - the sweeper must keep running
                log.exception("KESS sweep failed")

    def reset(self) -> None:
        """Forget orders, refunds, ledger entries and faults; keep merchants; clock back to real time."""
        self.store.clear_business_state()
        self.ledger.clear()
        self.faults.clear()
        self.clock.reset()

    # -- saved state (billing dev keeps it across restarts) ---------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Orders, refunds, the ledger, queued faults, the clock and the token key and counters, as
        picklable data. Merchants are registered again at start."""
        return {
            "orders": self.store.orders,
            "refunds": self.store.refunds,
            "ledger": self.ledger.export(),
            "clock": self.clock.offset,
            "jwt_secret": self._jwt_secret,
            "tokens_issued": self.tokens_issued,
            "min_token_serial": self._min_token_serial,
            "used_tokens": self._used_tokens,
            "faults": self.faults.export(),
        }

    def restore_state(self, saved: dict[str, Any]) -> None:
        self.store.orders = saved["orders"]
        self.store.refunds = saved["refunds"]
        self.ledger.restore(saved["ledger"])
        self.clock.offset = saved["clock"]
        self._jwt_secret = saved["jwt_secret"]
        self.tokens_issued = saved["tokens_issued"]
        self._min_token_serial = saved["min_token_serial"]
        self._used_tokens = set(saved["used_tokens"])
        self.faults.restore(saved.get("faults"))

    def stats(self) -> dict[str, Any]:
        return {"tokensIssued": self.tokens_issued}

    async def aclose(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        await cancel_and_wait([sweeper])
