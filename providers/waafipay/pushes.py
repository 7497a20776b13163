"""Wallet pushes and pre-authorizations: ``API_PURCHASE`` and ``API_PREAUTHORIZE`` (a PIN push that blocks
until the payer answers), then ``API_CANCELPURCHASE``, ``API_PREAUTHORIZE_CANCEL`` and
``API_PREAUTHORIZE_COMMIT`` on the transaction they made."""

from __future__ import annotations

from typing import Any

from billing.errors import InvalidStateError, ProviderServerError, UnsupportedOperationError
from providers.base import CancelPayment, CapturePayment, CreatePayment, PaymentOutcome, PaymentStatus
from providers.parsing import parse_answer, parse_time
from providers.waafipay import transform, wire
from providers.waafipay.exchange import WaafiPayExchange
from providers.waafipay.transform import AnswerClass, FlowKind, StateClass


class WaafiPayPushes(WaafiPayExchange):
    """The API services: a payment pushed to the payer's wallet, and the actions on its transaction."""

    async def _push(self, request: CreatePayment, service: str, kind: FlowKind) -> PaymentOutcome:
        params = transform.purchase_params(request, self._require_api(service))
        answer = await self._write(
            service, params, key=request.idempotency_key, at=request.requested_at, timeout=self._push_timeout
        )
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            return transform.declined_payment(
                request, transform.refusal_failure(answer), provider_status=answer.response_msg
            )
        result = parse_answer(wire.PurchaseResult, answer.params, provider=self.name, operation=service)
        self._check_reference(service, result.reference_id, request.idempotency_key)
        state = self._final_state(service, result.state)
        if state is StateClass.APPROVED:
            return transform.push_outcome(answer, result, request=request, kind=kind)
        return transform.declined_payment(
            request, transform.state_failure(answer, result.state), provider_status=result.state
        )

    async def cancel_payment(self, request: CancelPayment) -> PaymentOutcome:
        """Reverse a purchase (``API_CANCELPURCHASE``) or release a hold (``API_PREAUTHORIZE_CANCEL``).

        A hosted-page order cannot be cancelled (it lapses after 5 minutes) and a push without a
        transaction id has nothing to reverse: both raise UnsupportedOperationError.
        """
        payment = request.payment
        reference = transform.parse_reference(payment.provider_reference)
        if reference is None or reference.kind not in (FlowKind.PURCHASE, FlowKind.PREAUTH):
            raise UnsupportedOperationError(
                "only a purchase (purchase:<id>) or a pre-authorization (preauth:<id>) can be cancelled; "
                "a hosted-page order lapses by itself after 5 minutes",
                provider=self.name,
                operation="cancel_payment",
            )
        credentials = self._require_api("cancel_payment")
        params: wire.WaafiPayModel
        if reference.kind is FlowKind.PREAUTH:
            service = wire.API_PREAUTHORIZE_CANCEL
            params = transform.preauthorize_action_params(
                credentials,
                transaction_id=reference.value,
                reference_id=payment.idempotency_key,
                text=transform.DEFAULT_CANCEL_DESCRIPTION,
            )
        else:
            service = wire.API_CANCELPURCHASE
            params = transform.cancel_purchase_params(
                credentials, transaction_id=reference.value, reference_id=payment.idempotency_key
            )
        answer = await self._write(service, params, key=payment.idempotency_key, at=request.requested_at)
        unchanged = PaymentOutcome(
            idempotency_key=payment.idempotency_key, provider_reference=payment.provider_reference
        )
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            if (answer.response_code or "").strip() == transform.ALREADY_CANCELLED_CODE:
                # Cancelled before (a retried reversal): the statement we asked for.
                return unchanged.model_copy(
                    update={"status": PaymentStatus.CLOSED, "provider_status": answer.response_msg}
                )
            return unchanged.model_copy(update={"failure": transform.refusal_failure(answer)})
        return self._action_outcome(
            service, answer, unchanged, payment.idempotency_key, approved={"status": PaymentStatus.CLOSED}
        )

    async def capture_payment(self, request: CapturePayment) -> PaymentOutcome:
        """``API_PREAUTHORIZE_COMMIT``: captures the whole hold (the service takes no amount).

        A repeat of the same commit (same ``requestId`` and ``referenceId``) is answered by WaafiPay without a
        second capture; what it answers is not documented (the first commit again, or 5213). 5213 raises
        ProviderServerError: "not found" after a commit whose answer was lost may mean the money was taken.
        """
        service = wire.API_PREAUTHORIZE_COMMIT
        payment = request.payment
        reference = transform.parse_reference(payment.provider_reference)
        if reference is None or reference.kind is not FlowKind.PREAUTH:
            raise InvalidStateError(
                "only a WaafiPay pre-authorization (preauth:<transactionId>) can be captured",
                field="payment.provider_reference",
            )
        transform.amount_to_wire(request.amount)
        transform.require_reference_id(request.idempotency_key, field="idempotency_key")
        credentials = self._require_api(service)
        params = transform.preauthorize_action_params(
            credentials,
            transaction_id=reference.value,
            reference_id=payment.idempotency_key,
            text=transform.DEFAULT_COMMIT_DESCRIPTION,
        )
        answer = await self._write(service, params, key=request.idempotency_key, at=request.requested_at)
        unchanged = PaymentOutcome(
            idempotency_key=payment.idempotency_key, provider_reference=payment.provider_reference
        )
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            failure = transform.refusal_failure(answer)
            code = (answer.response_code or "").strip()
            if code == transform.ALREADY_CANCELLED_CODE:
                # The hold was released before: nothing can be captured any more.
                return unchanged.model_copy(
                    update={"status": PaymentStatus.CLOSED, "provider_status": answer.response_msg, "failure": failure}
                )
            if code == transform.NOT_FOUND_CODE:
                # The hold is not open: committed before (a commit whose answer was lost, or one made in the
                # portal) or gone. Whether the money was captured is not said: no refusal, no statement.
                raise ProviderServerError(
                    f"{failure.code} {failure.message}: the hold is not open; whether it was committed is not said",
                    provider=self.name,
                    operation=service,
                    status_code=200,
                    code=failure.code,
                )
            return unchanged.model_copy(update={"failure": failure})
        return self._action_outcome(
            service,
            answer,
            unchanged,
            payment.idempotency_key,
            approved={"status": PaymentStatus.SUCCEEDED, "amount": request.amount},
        )

    def _action_outcome(
        self,
        service: str,
        answer: wire.ResponseEnvelope,
        unchanged: PaymentOutcome,
        reference_id: str,
        *,
        approved: dict[str, Any],
    ) -> PaymentOutcome:
        """The outcome of an action on a transaction (reversal, release, commit) that WaafiPay did not refuse:
        ``unchanged`` with ``approved`` when the answer's state is approved, else with the declined state as
        its failure."""
        result = parse_answer(wire.ActionResult, answer.params, provider=self.name, operation=service)
        self._check_reference(service, result.reference_id, reference_id)
        if self._final_state(service, result.state) is StateClass.APPROVED:
            return unchanged.model_copy(
                update={**approved, "provider_status": result.state, "completed_at": parse_time(answer.timestamp)}
            )
        return unchanged.model_copy(
            update={"provider_status": result.state, "failure": transform.state_failure(answer, result.state)}
        )
