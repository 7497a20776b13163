"""Refunds: ``API_REFUND`` for pushes and committed holds, ``HPP_REFUNDPURCHASE`` for hosted-page payments
(whose transaction id ``HPP_GETTRANINFO`` finds first). WaafiPay has no refund status query."""

from __future__ import annotations

from billing.errors import UnsupportedOperationError
from providers.base import (
    CreateRefund,
    PaymentRef,
    PaymentStatus,
    ProviderFailure,
    RefundOutcome,
    RefundRef,
    RefundStatus,
)
from providers.parsing import parse_answer, parse_time
from providers.waafipay import transform, wire
from providers.waafipay.exchange import WaafiPayExchange
from providers.waafipay.transform import AnswerClass, FlowKind, StateClass


class WaafiPayRefunds(WaafiPayExchange):
    """Full, partial and repeated refunds of a payment."""

    async def refund(self, request: CreateRefund) -> RefundOutcome:
        """Refund part or all of a payment; several refunds may follow each other.

        Pushes and committed pre-authorizations (``purchase:``/``preauth:``) use ``API_REFUND`` with the
        transaction id and the refund's own key as ``referenceId``. Hosted-page payments (``hpp:``) use
        ``HPP_REFUNDPURCHASE`` with the payment's ``referenceId`` and its transaction id, looked up with
        ``HPP_GETTRANINFO`` first. A bare transaction id (found by inquiry, flow unknown) is refunded
        through the HPP service when HPP credentials exist, else through ``API_REFUND``.
        """
        payment = request.payment
        transform.require_reference_id(request.idempotency_key, field="idempotency_key")
        transform.amount_to_wire(request.amount)
        reference = transform.parse_reference(payment.provider_reference)
        use_api = reference is not None and (
            reference.kind in (FlowKind.PURCHASE, FlowKind.PREAUTH) or (reference.kind is None and self._hpp is None)
        )
        if use_api:
            assert reference is not None
            service = wire.API_REFUND
            api_params = transform.api_refund_params(
                self._require_api(service),
                transaction_id=reference.value,
                refund_key=request.idempotency_key,
                amount=request.amount,
                reason=request.reason,
            )
            answer = await self._write(service, api_params, key=request.idempotency_key, at=request.requested_at)
            return self._refund_outcome(service, answer, request, reference_id=request.idempotency_key)

        service = wire.HPP_REFUNDPURCHASE
        credentials = self._require_hpp(service)
        transaction_id: str | None = reference.value if reference is not None and reference.kind is None else None
        if transaction_id is None:
            found = await self._refundable_transaction(payment)
            if isinstance(found, ProviderFailure):
                return self._refund_failed(request, found)
            transaction_id = found
        hpp_params = transform.hpp_refund_params(
            credentials,
            transaction_id=transaction_id,
            payment_key=payment.idempotency_key,
            amount=request.amount,
            reason=request.reason,
        )
        answer = await self._write(service, hpp_params, key=request.idempotency_key, at=request.requested_at)
        return self._refund_outcome(service, answer, request, reference_id=payment.idempotency_key)

    async def inquire_refund(self, refund: RefundRef) -> RefundOutcome:
        raise UnsupportedOperationError(
            "WaafiPay has no refund status query; an unknown refund outcome is resolved by review",
            provider=self.name,
            operation="inquire_refund",
        )

    async def _refundable_transaction(self, payment: PaymentRef) -> str | ProviderFailure:
        """The transaction id of an approved hosted-page payment (``HPP_GETTRANINFO``), or why there is
        nothing to refund."""
        service = wire.HPP_GETTRANINFO
        params = transform.tran_info_params(self._require_hpp(service), reference_id=payment.idempotency_key)
        answer = await self._read(service, params)
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            return transform.refusal_failure(answer)
        info = parse_answer(wire.TranInfo, answer.params, provider=self.name, operation=service)
        self._check_reference(service, info.reference_id, payment.idempotency_key)
        if transform.tran_info_status(info) is PaymentStatus.SUCCEEDED and info.transaction_id:
            return info.transaction_id
        category, hard = transform.DECLINE_FAILURES[transform.DeclineReason.TRANSACTION_STATE]
        return ProviderFailure(
            code=transform.NOT_REFUNDABLE_CODE,
            message=f"the payment is {info.status or info.tran_status_desc or 'not approved'}; nothing to refund",
            category=category,
            hard=hard,
        )

    def _refund_outcome(
        self, service: str, answer: wire.ResponseEnvelope, request: CreateRefund, *, reference_id: str
    ) -> RefundOutcome:
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            return self._refund_failed(request, transform.refusal_failure(answer), provider_status=answer.response_msg)
        result = parse_answer(wire.ActionResult, answer.params, provider=self.name, operation=service)
        self._check_reference(service, result.reference_id, reference_id)
        state = self._final_state(service, result.state)
        if state is StateClass.APPROVED:
            return RefundOutcome(
                status=RefundStatus.SUCCEEDED,
                idempotency_key=request.idempotency_key,
                provider_reference=result.transaction_id,
                payment_reference=request.payment.provider_reference,
                provider_status=result.state,
                amount=request.amount,
                completed_at=parse_time(answer.timestamp),
            )
        return self._refund_failed(request, transform.state_failure(answer, result.state), provider_status=result.state)

    @staticmethod
    def _refund_failed(
        request: CreateRefund, failure: ProviderFailure, *, provider_status: str | None = None
    ) -> RefundOutcome:
        return RefundOutcome(
            status=RefundStatus.FAILED,
            idempotency_key=request.idempotency_key,
            payment_reference=request.payment.provider_reference,
            provider_status=provider_status,
            amount=request.amount,
            failure=failure,
        )
