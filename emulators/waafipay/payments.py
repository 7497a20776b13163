"""API services: the blocking PIN push (purchase, pre-authorization), reversals, commit/cancel of
holds, and refunds (shared with HPP_REFUNDPURCHASE)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from emulators.common.ledger import LedgerKind
from emulators.waafipay import params as p
from emulators.waafipay.codes import Reply, WaafiPayError
from emulators.waafipay.models import Merchant, PayerStep, PushAttempt, Refund, Transaction, Wallet
from emulators.waafipay.wire import mask_account, wire_amount

if TYPE_CHECKING:
    from emulators.waafipay.emulator import WaafiPayEmulator

WALLET_METHOD = "MWALLET_ACCOUNT"


@dataclass(frozen=True)
class PushRequest:
    merchant_uid: str
    account_no: str
    reference_id: str
    invoice_id: str
    amount: Decimal
    currency: str
    description: str
    preauth: bool

    @property
    def service_name(self) -> str:
        return "API_PREAUTHORIZE" if self.preauth else "API_PURCHASE"


def failed_without_success(task: asyncio.Task[Reply]) -> bool:
    """A finished attempt that did not approve (declined, or cancelled by a reset)."""
    if not task.done():
        return False
    if task.cancelled() or task.exception() is not None:
        return True
    return not task.result().succeeded


def purchase_params(txn: Transaction) -> dict[str, str]:
    return {
        "accountNo": mask_account(txn.account_no),
        "accountType": WALLET_METHOD,
        "state": "APPROVED",
        "merchantCharges": "0",
        "referenceId": txn.reference_id,
        "transactionId": txn.transaction_id,
        "issuerTransactionId": txn.issuer_transaction_id,
        "txAmount": wire_amount(txn.amount),
    }


def follow_up_params(transaction_id: str, reference_id: str) -> dict[str, str]:
    """Answer of cancel, commit and refund: a new transactionId and lower-case "approved"."""
    return {
        "description": "success",
        "state": "approved",
        "transactionId": transaction_id,
        "referenceId": reference_id,
    }


class PaymentService:
    def __init__(self, emu: WaafiPayEmulator) -> None:
        self.emu = emu

    # -- API_PURCHASE / API_PREAUTHORIZE --------------------------------------------------------

    async def purchase(
        self, merchant: Merchant, params: Mapping[str, Any], *, preauth: bool, force_approve: bool = False
    ) -> Reply:
        """Push a PIN prompt to the payer and block until they answer or the dialog times out.

        The push runs as an emulator task, so a client that gives up (or a dropped connection)
        does not stop the payment: it completes, and moves money, exactly as it would at WaafiPay.
        """
        method = p.require_str(params, "paymentMethod", 20)
        if method.upper() != WALLET_METHOD:
            raise WaafiPayError("not_allowed", f"paymentMethod {method} is not enabled for API payments")
        account_no = p.account_number(params, "payerInfo.accountNo")
        p.require_object(params, "transactionInfo")
        reference_id = p.reference_id(params, "transactionInfo.referenceId", strict=self.emu.config.strict_reference_id)
        assert reference_id is not None
        invoice_id = p.require_str(params, "transactionInfo.invoiceId", 50)
        currency = p.currency(params, "transactionInfo.currency")
        amount = self.emu.amount(p.lookup(params, "transactionInfo.amount"), "transactionInfo.amount", currency)
        description = p.optional_str(params, "transactionInfo.description", 255) or ""

        fingerprint = (account_no, amount, currency)
        key = (merchant.merchant_uid, "preauth" if preauth else "purchase", reference_id)
        policy = self.emu.config.duplicate_reference
        previous = self.emu.state.attempts.get(key)
        if previous is not None and policy != "allow" and not failed_without_success(previous.task):
            if policy == "reject" or previous.fingerprint != fingerprint:
                raise WaafiPayError("duplicate_reference", f"referenceId {reference_id} was already used")
            return await asyncio.shield(previous.task)

        request = PushRequest(
            merchant.merchant_uid, account_no, reference_id, invoice_id, amount, currency, description, preauth
        )
        task = self.emu.spawn(self._push(request, force_approve=force_approve))
        self.emu.state.attempts[key] = PushAttempt(fingerprint, task)
        return await asyncio.shield(task)

    async def _push(self, request: PushRequest, *, force_approve: bool) -> Reply:
        config = self.emu.config
        if not self.emu.routable(request.account_no):
            return Reply("no_route")
        wallet = self.emu.wallet_for(request.account_no)
        if wallet is None:
            return self._decline("not_found", None)
        step = wallet.next_step()
        if force_approve:
            step = PayerStep("approve", step.after_s)
        if step.action == "no_route":
            return Reply("no_route")
        if step.action == "not_found":
            return self._decline("not_found", wallet)
        delay = config.payer_response_s if step.after_s is None else step.after_s
        if step.action == "timeout" or delay >= config.pin_timeout_s:
            await asyncio.sleep(self.emu.scaled(config.pin_timeout_s))
            return self._decline("timeout", wallet)
        await asyncio.sleep(self.emu.scaled(delay))
        if step.action == "reject":
            if config.reject_as_user_rejected:
                return Reply("user_rejected")
            return self._decline("reject", wallet)
        if step.action in ("wrong_pin", "insufficient"):
            return self._decline(step.action, wallet)
        typed_pin = wallet.pin if step.pin is None else step.pin
        if typed_pin != wallet.pin:
            return self._decline("wrong_pin", wallet)
        if wallet.balance < request.amount:
            return self._decline("insufficient", wallet)
        return self._approve(request, wallet)

    def _decline(self, reason: str, wallet: Wallet | None) -> Reply:
        """5206/E10205 with the issuer's text and the failed attempt's transaction id."""
        transaction_id = self.emu.state.ids.next_transaction()
        text = self.emu.config.issuer_texts.get(reason, reason)
        if wallet is not None:
            text = text.replace("{balance}", wire_amount(wallet.balance))
        return Reply("issuer_declined", None, f"{text}, TransactionId: {transaction_id}")

    def _approve(self, request: PushRequest, wallet: Wallet) -> Reply:
        state = self.emu.state
        txn = Transaction(
            transaction_id=state.ids.next_transaction(),
            kind="preauth" if request.preauth else "purchase",
            merchant_uid=request.merchant_uid,
            store_id=None,
            reference_id=request.reference_id,
            invoice_id=request.invoice_id,
            account_no=request.account_no,
            payment_method=WALLET_METHOD,
            amount=request.amount,
            currency=request.currency,
            description=request.description,
            status="authorized" if request.preauth else "approved",
            issuer_transaction_id=state.ids.next_issuer(),
            created_at=self.emu.now(),
        )
        wallet.balance -= request.amount
        if request.preauth:
            wallet.held += request.amount
        state.transactions[txn.transaction_id] = txn
        kind: LedgerKind = "authorization" if request.preauth else "charge"
        self.record(kind, txn, request.amount, request.service_name, txn.transaction_id)
        return Reply("success", purchase_params(txn))

    # -- lookups, wallets, ledger ---------------------------------------------------------------

    def find(self, merchant: Merchant, transaction_id: str, reference_id: str | None = None) -> Transaction:
        """The merchant's transaction by id (or a follow-up id such as a commit's); 5213 otherwise."""
        state = self.emu.state
        txn = state.transactions.get(state.aliases.get(transaction_id, transaction_id))
        if txn is None or txn.merchant_uid != merchant.merchant_uid:
            raise WaafiPayError("not_found", f"no transaction {transaction_id}")
        if reference_id is not None and reference_id != txn.reference_id:
            raise WaafiPayError("not_found", f"transaction {transaction_id} has another referenceId")
        return txn

    def _wallet(self, account_no: str) -> Wallet | None:
        return self.emu.state.wallets.get(account_no)

    def record(
        self,
        kind: LedgerKind,
        txn: Transaction,
        amount: Decimal,
        service_name: str,
        transaction_id: str,
    ) -> None:
        references: dict[str, str | None] = {
            "serviceName": service_name,
            "referenceId": txn.reference_id,
            "transactionId": transaction_id,
        }
        if transaction_id != txn.transaction_id:
            references["originalTransactionId"] = txn.transaction_id
        if txn.store_id is not None:
            references["storeId"] = txn.store_id
        references["accountNo"] = mask_account(txn.account_no)
        self.emu.record(kind, merchant_id=txn.merchant_uid, amount=amount, currency=txn.currency, references=references)

    # -- API_CANCELPURCHASE ---------------------------------------------------------------------

    def cancel_purchase(self, merchant: Merchant, params: Mapping[str, Any]) -> Reply:
        p.require_str(params, "paymentMethod", 20)
        transaction_id = p.require_str(params, "transactionId", 50)
        p.optional_str(params, "description", 255)
        txn = self.find(merchant, transaction_id, p.optional_str(params, "referenceId", 50))
        if txn.status in ("reversed", "hold_cancelled"):
            raise WaafiPayError("already_cancelled")
        if txn.status == "authorized":
            raise WaafiPayError("not_found", "an open pre-authorization is released with API_PREAUTHORIZE_CANCEL")
        if txn.refunded >= txn.amount:
            raise WaafiPayError("already_cancelled")
        if txn.refunded > 0:
            raise WaafiPayError("not_found", "a partially refunded transaction cannot be reversed")
        txn.reversal_id = self.emu.state.ids.next_transaction()
        txn.status = "reversed"
        wallet = self._wallet(txn.account_no)
        if wallet is not None:
            wallet.balance += txn.amount
        self.record("void", txn, txn.amount, "API_CANCELPURCHASE", txn.reversal_id)
        return Reply("success", follow_up_params(txn.reversal_id, txn.reference_id))

    # -- API_PREAUTHORIZE_COMMIT / API_PREAUTHORIZE_CANCEL --------------------------------------

    def _preauth(self, merchant: Merchant, params: Mapping[str, Any]) -> Transaction:
        transaction_id = p.require_str(params, "transactionId", 50)
        p.optional_str(params, "description", 255)
        txn = self.find(merchant, transaction_id, p.optional_str(params, "referenceId", 50))
        if txn.kind != "preauth":
            raise WaafiPayError("not_found", f"{transaction_id} is not a pre-authorization")
        return txn

    def commit(self, merchant: Merchant, params: Mapping[str, Any]) -> Reply:
        txn = self._preauth(merchant, params)
        if txn.status in ("committed", "reversed") and txn.commit_id is not None:
            if txn.status == "reversed":
                raise WaafiPayError("already_cancelled")
            if self.emu.config.repeated_commit == "not_found":
                raise WaafiPayError("not_found", "the pre-authorization is no longer open (committed before)")
            return Reply("success", follow_up_params(txn.commit_id, txn.reference_id))
        if txn.status == "hold_cancelled":
            raise WaafiPayError("already_cancelled")
        txn.commit_id = self.emu.state.ids.next_transaction()
        self.emu.state.aliases[txn.commit_id] = txn.transaction_id
        txn.status = "committed"
        wallet = self._wallet(txn.account_no)
        if wallet is not None:
            wallet.held -= txn.amount
        self.record("capture", txn, txn.amount, "API_PREAUTHORIZE_COMMIT", txn.commit_id)
        return Reply("success", follow_up_params(txn.commit_id, txn.reference_id))

    def cancel_hold(self, merchant: Merchant, params: Mapping[str, Any]) -> Reply:
        txn = self._preauth(merchant, params)
        if txn.status in ("hold_cancelled", "reversed"):
            raise WaafiPayError("already_cancelled")
        if txn.status == "committed":
            raise WaafiPayError("not_found", "a committed pre-authorization is reversed with API_CANCELPURCHASE")
        txn.hold_release_id = self.emu.state.ids.next_transaction()
        txn.status = "hold_cancelled"
        wallet = self._wallet(txn.account_no)
        if wallet is not None:
            wallet.held -= txn.amount
            wallet.balance += txn.amount
        self.record("void", txn, txn.amount, "API_PREAUTHORIZE_CANCEL", txn.hold_release_id)
        return Reply("success", follow_up_params(txn.hold_release_id, txn.reference_id))

    # -- API_REFUND and the shared refund rules --------------------------------------------------

    def refund_api(self, merchant: Merchant, params: Mapping[str, Any]) -> Reply:
        transaction_id = p.require_str(params, "transactionId", 50)
        reference_id = p.optional_str(params, "referenceId", 50)
        txn = self.find(merchant, transaction_id)
        description = p.optional_str(params, "description", 255) or ""
        return self.refund(txn, p.lookup(params, "amount"), description, "API_REFUND", reference_id)

    def refund(
        self,
        txn: Transaction,
        amount_value: Any,
        description: str,
        service_name: str,
        reference_id: str | None = None,
    ) -> Reply:
        """Partial and repeated refunds up to the paid amount.

        Reversed or released transactions: 5202. Open holds: 5213. Nothing left to refund: 5202.
        More than what is left: `refund_exceeds`.
        """
        if amount_value is None:
            raise WaafiPayError("invalid_request", "amount is required")
        amount = self.emu.amount(amount_value, "amount", txn.currency)
        if txn.status in ("reversed", "hold_cancelled"):
            raise WaafiPayError("already_cancelled")
        if txn.status == "authorized":
            raise WaafiPayError("not_found", "an open pre-authorization cannot be refunded")
        state = self.emu.state
        if self.emu.config.refund_reference_replay and reference_id and reference_id != txn.reference_id:
            for refund_id in txn.refund_ids:
                earlier = state.refunds[refund_id]
                if earlier.reference_id == reference_id:
                    if earlier.amount != amount:
                        raise WaafiPayError("duplicate_reference", f"refund {reference_id} had another amount")
                    return Reply("success", follow_up_params(earlier.transaction_id, reference_id))
        if txn.refundable <= 0:
            raise WaafiPayError("already_cancelled")
        if amount > txn.refundable:
            raise WaafiPayError("refund_exceeds", f"at most {wire_amount(txn.refundable)} can be refunded")
        refund = Refund(
            transaction_id=state.ids.next_transaction(),
            original_id=txn.transaction_id,
            merchant_uid=txn.merchant_uid,
            amount=amount,
            currency=txn.currency,
            reference_id=reference_id,
            description=description,
            created_at=self.emu.now(),
        )
        state.refunds[refund.transaction_id] = refund
        txn.refund_ids.append(refund.transaction_id)
        txn.refunded += amount
        wallet = self._wallet(txn.account_no)
        if wallet is not None:
            wallet.balance += amount
        self.record("refund", txn, amount, service_name, refund.transaction_id)
        return Reply("success", follow_up_params(refund.transaction_id, reference_id or txn.reference_id))
