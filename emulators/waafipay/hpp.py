"""Hosted payment page services (HPP_PURCHASE, HPP_GETRESULTINFO, HPP_GETTRANINFO,
HPP_REFUNDPURCHASE), the payer's actions on the page, and the redirect back to the merchant."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from emulators.waafipay import params as p
from emulators.waafipay.codes import Reply, WaafiPayError, invalid
from emulators.waafipay.models import HppOrder, HppStatus, Merchant, State, Transaction
from emulators.waafipay.wire import format_timestamp, mask_account, opaque_token, wire_amount

if TYPE_CHECKING:
    from emulators.waafipay.emulator import WaafiPayEmulator

HPP_METHODS = frozenset({"CREDIT_CARD", "MWALLET_ACCOUNT", "MWALLET_BANKACCOUNT"})
DATA_FORMATS = {1: "POST", 2: "GET", 4: "TOKEN"}
SANDBOX_CARD = "4111111111111111"
DEFAULT_HPP_WALLET = "252611111111"
# HPP_GETTRANINFO vocabulary for an approved transaction (the only one documented).
APPROVED_STATUS_ID = "3"
APPROVED_STATUS = "Approved"


class StateConflict(Exception):
    """A payer action that does not fit the order's state (already completed or timed out)."""


@dataclass(frozen=True)
class Redirect:
    """Where the payer's browser goes after the page: GET `url`, or POST `fields` to `url`."""

    method: str
    url: str
    fields: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "fields": self.fields}


def _data_format(params: Mapping[str, Any]) -> int:
    value = p.lookup(params, "hppRespDataFormat")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value not in DATA_FORMATS:
        raise invalid("hppRespDataFormat", "must be 1 (POST), 2 (GET) or 4 (result token)")
    return value


def _card_type(order: HppOrder) -> str:
    if order.payment_method != "CREDIT_CARD":
        return order.payment_method
    account = order.account_no or ""
    return {"4": "VISA", "5": "MASTERCARD", "3": "AMEX"}.get(account[:1], "CARD")


class HppService:
    def __init__(self, emu: WaafiPayEmulator) -> None:
        self.emu = emu

    @property
    def _state(self) -> State:
        return self.emu.state

    def page_url(self, order: HppOrder) -> str:
        return f"{self.emu.config.public_base_url.rstrip('/')}/hpp/token/{order.token}"

    # -- HPP_PURCHASE ---------------------------------------------------------------------------

    def create(self, merchant: Merchant, params: Mapping[str, Any]) -> Reply:
        assert merchant.store_id is not None
        method = p.require_str(params, "paymentMethod", 20).upper()
        if method not in HPP_METHODS or method not in merchant.hpp_payment_methods:
            raise WaafiPayError("order_failed", f"paymentMethod {method} is not enabled for this store")
        success_url = p.require_str(params, "hppSuccessCallbackUrl", 255)
        failure_url = p.require_str(params, "hppFailureCallbackUrl", 255)
        data_format = _data_format(params)
        p.require_object(params, "transactionInfo")
        config = self.emu.config
        reference_id = p.reference_id(params, "transactionInfo.referenceId", strict=config.strict_reference_id)
        assert reference_id is not None
        invoice_id = p.optional_str(params, "transactionInfo.invoiceId", 50)
        currency = p.currency(params, "transactionInfo.currency")
        amount = self.emu.amount(p.lookup(params, "transactionInfo.amount"), "transactionInfo.amount", currency)
        description = p.optional_str(params, "transactionInfo.description", 255) or ""
        subscription_id = p.optional_str(params, "payerInfo.subscriptionId", 50)
        if method == "MWALLET_ACCOUNT" and subscription_id is None and not config.hpp_subscription_id_optional:
            raise invalid("payerInfo.subscriptionId", "is required for MWALLET_ACCOUNT")
        fingerprint = (method, amount, currency, success_url, failure_url, data_format, subscription_id)

        key = (merchant.merchant_uid, merchant.store_id, reference_id)
        previous_id = self._state.orders_by_reference.get(key)
        if previous_id is not None and config.duplicate_reference != "allow":
            previous: HppOrder = self._state.orders[previous_id]
            self.expire_if_due(previous)
            if previous.status in ("pending", "approved"):
                if config.duplicate_reference == "reject" or previous.fingerprint != fingerprint:
                    raise WaafiPayError("duplicate_reference", f"referenceId {reference_id} was already used")
                return Reply("success", previous.created_params)

        ids = self._state.ids
        now = self.emu.now()
        order = HppOrder(
            order_id=str(next(ids.order)),
            hpp_request_id=str(next(ids.hpp_request)),
            token=opaque_token(24),
            merchant_uid=merchant.merchant_uid,
            store_id=merchant.store_id,
            reference_id=reference_id,
            invoice_id=invoice_id,
            amount=amount,
            currency=currency,
            description=description,
            payment_method=method,
            success_url=success_url,
            failure_url=failure_url,
            data_format=data_format,
            subscription_id=subscription_id,
            created_at=now,
            expires_at=now + timedelta(seconds=self.emu.scaled(config.hpp_timeout_s)),
            fingerprint=fingerprint,
            created_params={},
        )
        url = self.page_url(order)
        order.created_params = {
            "hppUrl": url,
            "directPaymentLink": f"{url}?r={order.hpp_request_id}",
            "orderId": order.order_id,
            "hppRequestId": order.hpp_request_id,
            "referenceId": reference_id,
        }
        self._state.orders[order.order_id] = order
        self._state.orders_by_token[order.token] = order.order_id
        self._state.orders_by_reference[key] = order.order_id
        return Reply("success", order.created_params)

    # -- payer actions (the page and the control API) -------------------------------------------

    def approve(self, order: HppOrder, account_no: str | None = None) -> None:
        """The payer pays. A known wallet must hold the amount, else the payment is declined."""
        self._require_pending(order)
        if order.payment_method == "CREDIT_CARD":
            account = account_no or SANDBOX_CARD
        else:
            account = order.subscription_id or account_no or DEFAULT_HPP_WALLET
        order.account_no = account
        if order.payment_method != "CREDIT_CARD":
            wallet = self.emu.wallet_for(account) if self.emu.routable(account) else None
            texts = self.emu.config.issuer_texts
            if wallet is None:
                self._finish(order, "declined", texts.get("not_found", "Subscriber not found"))
                return
            if wallet.balance < order.amount:
                text = texts.get("insufficient", "insufficient balance").replace(
                    "{balance}", wire_amount(wallet.balance)
                )
                self._finish(order, "declined", text)
                return
            wallet.balance -= order.amount
        ids = self._state.ids
        txn = Transaction(
            transaction_id=ids.next_transaction(),
            kind="hpp",
            merchant_uid=order.merchant_uid,
            store_id=order.store_id,
            reference_id=order.reference_id,
            invoice_id=order.invoice_id,
            account_no=account,
            payment_method=order.payment_method,
            amount=order.amount,
            currency=order.currency,
            description=order.description,
            status="approved",
            issuer_transaction_id=ids.next_issuer(),
            created_at=self.emu.now(),
        )
        self._state.transactions[txn.transaction_id] = txn
        order.transaction_id = txn.transaction_id
        self.emu.payments.record("charge", txn, txn.amount, "HPP_PURCHASE", txn.transaction_id)
        self._finish(order, "approved")

    def decline(self, order: HppOrder) -> None:
        self._require_pending(order)
        self._finish(order, "declined")

    def cancel(self, order: HppOrder) -> None:
        self._require_pending(order)
        self._finish(order, "cancelled")

    def time_out(self, order: HppOrder) -> None:
        self._require_pending(order)
        self._finish(order, "timed_out")

    def _require_pending(self, order: HppOrder) -> None:
        self.expire_if_due(order)
        if order.status != "pending":
            raise StateConflict(f"order {order.order_id} is {order.status}, not pending")

    def _finish(self, order: HppOrder, status: HppStatus, decline_text: str | None = None) -> None:
        order.status = status
        order.decline_text = decline_text
        order.completed_at = self.emu.now()
        order.result_token = opaque_token(32)
        self._state.orders_by_result_token[order.result_token] = order.order_id

    def expire_if_due(self, order: HppOrder) -> None:
        if order.status == "pending" and order.expires_at <= self.emu.now():
            self._finish(order, "timed_out")
            order.completed_at = order.expires_at

    def expire_due(self) -> None:
        for order in list(self._state.orders.values()):
            self.expire_if_due(order)

    # -- results and the redirect ---------------------------------------------------------------

    def _proc(self, order: HppOrder) -> tuple[str, str]:
        codes = self.emu.codes
        if order.status == "approved":
            return codes["success"].response_code, codes["success"].message
        if order.status == "cancelled":
            return codes["user_cancelled"].response_code, codes["user_cancelled"].message
        if order.status == "timed_out":
            return codes["user_timeout"].response_code, codes["user_timeout"].message
        return "5214", order.decline_text or self.emu.config.issuer_texts.get("hpp_declined", "")

    def result_params(self, order: HppOrder) -> dict[str, str]:
        """HPP_GETRESULTINFO params: 2001 + state DECLINED for every non-approved outcome (as captured)."""
        proc_code, proc_description = self._proc(order)
        txn = self._state.transactions.get(order.transaction_id or "")
        approved = order.status == "approved" and txn is not None
        return {
            "procCode": proc_code,
            "procDescription": proc_description,
            "issuerApprovalCode": f"{secrets.randbelow(10**6):06d}" if approved else "",
            "cardType": _card_type(order),
            "cardHolder": "",
            "cardExpDate": "12/28" if approved and order.payment_method == "CREDIT_CARD" else "",
            "cardNo": mask_account(order.account_no) if order.account_no else "",
            "referenceId": order.reference_id,
            "transactionId": txn.transaction_id if approved and txn else "0",
            "issuerTransactionId": txn.issuer_transaction_id if approved and txn else "",
            "txAmount": wire_amount(order.amount),
            "invoiceId": order.invoice_id or "",
            "state": "APPROVED" if approved else "DECLINED",
        }

    def redirect(self, order: HppOrder) -> Redirect:
        """The browser redirect after the page: format 4 appends "?hppResultToken=" literally, even
        to a URL that already has a query string; formats 1 and 2 carry the result fields."""
        if order.status == "pending" or order.result_token is None:
            raise StateConflict(f"order {order.order_id} is still pending")
        target = order.success_url if order.status == "approved" else order.failure_url
        if order.data_format == 4:
            return Redirect("GET", f"{target}?hppResultToken={order.result_token}")
        result = self.result_params(order)
        fields = {
            "state": result["state"],
            "responseCode": result["procCode"],
            "responseMsg": result["procDescription"],
            "procCode": result["procCode"],
            "procDescription": result["procDescription"],
            "referenceId": result["referenceId"],
            "transactionId": result["transactionId"],
            "txAmount": result["txAmount"],
            "cardNo": result["cardNo"],
            "cardHolder": result["cardHolder"],
            "cardExpDate": result["cardExpDate"],
        }
        if order.data_format == 2:
            separator = "&" if "?" in target else "?"
            return Redirect("GET", f"{target}{separator}{urlencode(fields)}")
        return Redirect("POST", target, fields)

    # -- HPP_GETRESULTINFO / HPP_GETTRANINFO ----------------------------------------------------

    def _own(self, merchant: Merchant, order: HppOrder) -> bool:
        return order.merchant_uid == merchant.merchant_uid and order.store_id == merchant.store_id

    def result_info(self, merchant: Merchant, params: Mapping[str, Any]) -> Reply:
        token = p.require_str(params, "hppResultToken", 512)
        order_id = self._state.orders_by_result_token.get(token.upper())
        order: HppOrder | None = self._state.orders.get(order_id or "")
        if order is None or not self._own(merchant, order):
            raise WaafiPayError("invalid_result_token")
        if self.emu.config.hpp_result_errors_top_level and order.status in ("cancelled", "timed_out"):
            raise WaafiPayError("user_cancelled" if order.status == "cancelled" else "user_timeout")
        return Reply("success", self.result_params(order))

    def _transaction_for(self, merchant: Merchant, params: Mapping[str, Any]) -> Transaction:
        """A settled-or-reversed transaction of this store by transactionId or referenceId; 5213
        when there is none (pending, declined, cancelled and timed-out pages have no transaction)."""
        transaction_id = p.optional_str(params, "transactionId", 50)
        reference_id = p.optional_str(params, "referenceId", 50)
        if transaction_id is None and reference_id is None:
            raise invalid("referenceId", "or transactionId is required")
        include_api = self.emu.config.tran_info_includes_api
        state = self._state

        def visible(txn: Transaction) -> bool:
            if txn.merchant_uid != merchant.merchant_uid:
                return False
            return txn.store_id == merchant.store_id or (include_api and txn.kind != "hpp")

        if transaction_id is not None:
            txn: Transaction | None = state.transactions.get(state.aliases.get(transaction_id, transaction_id))
            if txn is None or not visible(txn) or reference_id not in (None, txn.reference_id):
                raise WaafiPayError("not_found", f"no transaction {transaction_id}")
            return txn
        assert reference_id is not None
        order_id = state.orders_by_reference.get((merchant.merchant_uid, merchant.store_id or "", reference_id))
        order: HppOrder | None = state.orders.get(order_id or "")
        if order is not None:
            self.expire_if_due(order)
            if order.transaction_id is not None:
                found: Transaction = state.transactions[order.transaction_id]
                return found
        if include_api:
            matches = [t for t in state.transactions.values() if visible(t) and t.reference_id == reference_id]
            if matches:
                return matches[-1]
        raise WaafiPayError("not_found", f"no transaction for referenceId {reference_id}")

    def tran_info(self, merchant: Merchant, params: Mapping[str, Any]) -> Reply:
        txn = self._transaction_for(merchant, params)
        return Reply(
            "success",
            {
                "tranStatusDesc": APPROVED_STATUS,
                "amount": wire_amount(txn.amount),
                "payerId": txn.account_no,
                "paymentMethod": txn.payment_method.lower(),
                "description": txn.description,
                "tranDate": format_timestamp(txn.created_at),
                "currency": txn.currency,
                "invoiceId": txn.invoice_id or "",
                "referenceId": txn.reference_id,
                "tranAmount": wire_amount(txn.amount),
                "transactionId": txn.transaction_id,
                "tranStatusId": APPROVED_STATUS_ID,
                "status": APPROVED_STATUS,
            },
        )

    # -- HPP_REFUNDPURCHASE ---------------------------------------------------------------------

    def refund(self, merchant: Merchant, params: Mapping[str, Any]) -> Reply:
        txn = self._transaction_for(merchant, params)
        description = p.optional_str(params, "description", 255) or ""
        return self.emu.payments.refund(txn, p.lookup(params, "amount"), description, "HPP_REFUNDPURCHASE")

    # -- control lookups and views --------------------------------------------------------------

    def find_by_token(self, token: str) -> HppOrder | None:
        order_id = self._state.orders_by_token.get(token.upper())
        return self._state.orders.get(order_id) if order_id is not None else None

    def find_any(self, ref: str) -> HppOrder | None:
        """Page token, result token, orderId, hppRequestId or referenceId (the latest order)."""
        state = self._state
        order_id = state.orders_by_token.get(ref.upper()) or state.orders_by_result_token.get(ref.upper())
        if order_id is None and ref in state.orders:
            order_id = ref
        if order_id is not None:
            order: HppOrder = state.orders[order_id]
            return order
        matches = [o for o in state.orders.values() if ref in (o.hpp_request_id, o.reference_id)]
        return matches[-1] if matches else None

    def view(self, order: HppOrder) -> dict[str, Any]:
        self.expire_if_due(order)
        return {
            "orderId": order.order_id,
            "hppRequestId": order.hpp_request_id,
            "hppUrl": self.page_url(order),
            "token": order.token,
            "merchantUid": order.merchant_uid,
            "storeId": order.store_id,
            "referenceId": order.reference_id,
            "invoiceId": order.invoice_id,
            "amount": wire_amount(order.amount),
            "currency": order.currency,
            "paymentMethod": order.payment_method,
            "hppRespDataFormat": order.data_format,
            "status": order.status,
            "hppResultToken": order.result_token,
            "transactionId": order.transaction_id,
            "accountNo": order.account_no,
            "createdAt": format_timestamp(order.created_at),
            "expiresAt": format_timestamp(order.expires_at),
        }
