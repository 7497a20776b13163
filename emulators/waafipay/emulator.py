"""The WaafiPay emulator: state, wallets, the money ledger and the payer tasks it owns."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from emulators.common.background import cancel_and_wait
from emulators.common.clock import Clock
from emulators.common.faults import FaultQueue
from emulators.common.ledger import Ledger, LedgerEntry, LedgerKind
from emulators.common.money import currency_exponent
from emulators.waafipay.codes import CodeBook, invalid
from emulators.waafipay.config import SANDBOX_PIN, SANDBOX_WALLETS, WaafiPayEmulatorConfig
from emulators.waafipay.hpp import HPP_METHODS, HppService
from emulators.waafipay.models import Merchant, PayerStep, State, Wallet
from emulators.waafipay.payments import PaymentService
from emulators.waafipay.wire import format_timestamp, parse_amount

log = logging.getLogger(__name__)

T = TypeVar("T")


class WaafiPayEmulator:
    """An offline WaafiPay: serve it with `create_app(emulator)`.

    Business time (timestamps, the HPP deadline) comes from `self.clock`; payer delays, the PIN
    dialog timeout and the HPP timeout are multiplied by `config.time_scale`.
    """

    def __init__(self, config: WaafiPayEmulatorConfig) -> None:
        self.config = config
        self.codes = CodeBook(config.code_overrides)
        self.clock = Clock()
        self.state = State()
        self.ledger = Ledger()
        self.faults = FaultQueue()
        self.payments = PaymentService(self)
        self.hpp = HppService(self)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.seed_wallets()

    # -- merchants and wallets ------------------------------------------------------------------

    def register_merchant(
        self,
        merchant_uid: str,
        api_user_id: str | int,
        api_key: str,
        store_id: str | int | None = None,
        hpp_key: str | None = None,
        hpp_payment_methods: Iterable[str] | None = None,
    ) -> Merchant:
        """Register (or replace) a merchant with API credentials and, optionally, an HPP store."""
        if (store_id is None) != (hpp_key is None):
            raise ValueError("store_id and hpp_key go together")
        methods = frozenset(m.upper() for m in (hpp_payment_methods or self.config.hpp_payment_methods))
        if not methods <= HPP_METHODS:
            raise ValueError(f"hpp_payment_methods must be among {sorted(HPP_METHODS)}")
        merchant = Merchant(
            merchant_uid=merchant_uid,
            api_user_id=str(api_user_id),
            api_key=api_key,
            store_id=None if store_id is None else str(store_id),
            hpp_key=hpp_key,
            hpp_payment_methods=methods,
        )
        self.state.merchants[merchant_uid] = merchant
        return merchant

    def set_wallet(
        self,
        number: str,
        *,
        balance: Decimal | None = None,
        pin: str | None = None,
        steps: list[PayerStep] | None = None,
    ) -> Wallet:
        """Create a wallet, or update the given fields of an existing one."""
        wallet = self.state.wallets.get(number)
        if wallet is None:
            wallet = Wallet(number, Decimal("0.00"), SANDBOX_PIN)
            self.state.wallets[number] = wallet
        if balance is not None:
            wallet.balance = balance
        if pin is not None:
            wallet.pin = pin
        if steps is not None:
            wallet.steps = list(steps)
        return wallet

    def seed_wallets(self) -> None:
        if self.config.seed_sandbox_wallets:
            for number in SANDBOX_WALLETS:
                self.state.wallets[number] = Wallet(number, self.config.sandbox_wallet_balance, SANDBOX_PIN)

    def routable(self, account_no: str) -> bool:
        return any(account_no.startswith(prefix) for prefix in self.config.routable_prefixes)

    def wallet_for(self, account_no: str) -> Wallet | None:
        wallet = self.state.wallets.get(account_no)
        if wallet is None and self.config.auto_create_wallets and self.routable(account_no):
            wallet = self.set_wallet(account_no, balance=self.config.auto_wallet_balance)
        return wallet

    # -- amounts and time -----------------------------------------------------------------------

    def amount(self, value: object, field: str, currency: str) -> Decimal:
        """Parse and truncate an amount (10.237 -> 10.23; DJF to whole francs when configured)."""
        mode = self.config.amount_json
        if mode == "number" and isinstance(value, str):
            raise invalid(field, "must be a JSON number")
        if mode == "string" and value is not None and not isinstance(value, str):
            raise invalid(field, "must be a JSON string")
        decimals = self.config.amount_decimals
        if self.config.truncate_to_currency_exponent:
            decimals = min(decimals, currency_exponent(currency))
        return parse_amount(value, field, decimals)

    def scaled(self, seconds: float) -> float:
        return seconds * self.config.time_scale

    def now(self) -> datetime:
        return self.clock.now()

    def timestamp(self, when: datetime | None = None) -> str:
        return format_timestamp(when or self.clock.now())

    # -- ledger ---------------------------------------------------------------------------------

    def record(
        self,
        kind: LedgerKind,
        *,
        merchant_id: str,
        amount: Decimal,
        currency: str,
        references: dict[str, str | None],
    ) -> LedgerEntry:
        return self.ledger.record(
            kind, merchant_id=merchant_id, amount=amount, currency=currency, at=self.timestamp(), references=references
        )

    # -- background work ------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `coro` as a task the emulator owns: it survives the HTTP request that started it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def settle(self, timeout_s: float = 10.0) -> bool:
        """Wait until no payer push is in progress. Returns False on timeout."""
        pending = [task for task in self._tasks if not task.done()]
        if not pending:
            return True
        _, not_done = await asyncio.wait(pending, timeout=timeout_s)
        return not not_done

    def expire_due(self) -> None:
        """Time out hosted pages whose deadline has passed."""
        self.hpp.expire_due()

    # -- saved state (billing dev keeps it across restarts) ---------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Wallets, transactions, refunds, hosted-page orders, id counters, the ledger, queued faults and
        the clock, as picklable data. Merchants are registered again at start; pushes waiting for a payer
        are not kept (their API call ends with the process)."""
        business = {
            item.name: getattr(self.state, item.name)
            for item in dataclasses.fields(self.state)
            if item.name not in ("merchants", "attempts", "ids")
        }
        return {
            "state": business,
            "ids": self.state.ids.export(),
            "ledger": self.ledger.export(),
            "clock": self.clock.offset,
            "faults": self.faults.export(),
        }

    def restore_state(self, saved: dict[str, Any]) -> None:
        for name, value in saved["state"].items():
            setattr(self.state, name, value)
        self.state.ids.restore(saved["ids"])
        self.ledger.restore(saved["ledger"])
        self.clock.offset = saved["clock"]
        self.faults.restore(saved.get("faults"))

    def _cancel_tasks(self) -> list[asyncio.Task[Any]]:
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        return tasks

    def reset(self) -> None:
        """Forget transactions, orders, ledger entries and faults; restore the sandbox wallets.

        Registered merchants are kept; custom wallets are removed; the clock returns to real time.
        Pushes still waiting for a payer are cancelled (they move no money).
        """
        self._cancel_tasks()
        self.state.clear_business_state()
        self.state.wallets.clear()
        self.seed_wallets()
        self.ledger.clear()
        self.faults.clear()
        self.clock.reset()

    async def aclose(self) -> None:
        """Cancel pushes still waiting for a payer."""
        await cancel_and_wait(self._cancel_tasks())
