"""The hosted payment page: ``HPP_PURCHASE`` (a page the payer opens), ``HPP_GETTRANINFO`` (the status of a
payment by ``referenceId``, WaafiPay's only status query) and ``HPP_GETRESULTINFO`` (the result behind the
token of the customer's return)."""

from __future__ import annotations

from billing.errors import InputError, NotFoundError, ResponseVerificationError, UnsupportedOperationError
from providers.base import CreatePayment, PaymentOutcome, PaymentRef
from providers.parsing import parse_answer
from providers.waafipay import transform, wire
from providers.waafipay.exchange import WaafiPayExchange, waafipay_setting
from providers.waafipay.transform import AnswerClass

#: ``CreatePayment.payment_method`` that selects the hosted payment page (``HPP`` or ``HPP:<method>``).
HPP_METHOD = "HPP"


class WaafiPayHostedPage(WaafiPayExchange):
    """The HPP services, and the payment inquiry that goes through them."""

    _hpp_success_url: str | None
    _hpp_failure_url: str | None
    _hpp_payment_method: str
    _hpp_response_format: int
    _tag_callback_urls: bool
    _tran_info_for_pushes: bool

    def _hpp_method(self, payment_method: str | None) -> str | None:
        """None for a wallet push; the HPP ``paymentMethod`` for ``HPP`` / ``HPP:<method>``."""
        text = (payment_method or "").strip().upper()
        if not text or text == wire.MWALLET_ACCOUNT:
            return None
        head, separator, method = text.partition(":")
        if head == HPP_METHOD:
            if not separator:
                return self._hpp_payment_method
            if method in wire.HPP_PAYMENT_METHODS:
                return method
        raise InputError(
            "must be empty or MWALLET_ACCOUNT (wallet push), or HPP / HPP:CREDIT_CARD / HPP:MWALLET_ACCOUNT / "
            "HPP:MWALLET_BANKACCOUNT (hosted payment page)",
            field="payment_method",
        )

    async def _hpp_purchase(self, request: CreatePayment, payment_method: str) -> PaymentOutcome:
        service = wire.HPP_PURCHASE
        success_url = request.success_url or self._hpp_success_url
        failure_url = request.failure_url or request.cancel_url or self._hpp_failure_url
        if not success_url:
            raise InputError(
                f"is required for the hosted payment page (or set {waafipay_setting('HPP_SUCCESS_URL')})",
                field="success_url",
            )
        if not failure_url:
            raise InputError(
                f"is required for the hosted payment page (or set {waafipay_setting('HPP_FAILURE_URL')})",
                field="failure_url",
            )
        params = transform.hpp_purchase_params(
            request,
            self._require_hpp(service),
            payment_method=payment_method,
            success_url=success_url,
            failure_url=failure_url,
            response_format=self._hpp_response_format,
            tag_urls=self._tag_callback_urls,
        )
        answer = await self._write(service, params, key=request.idempotency_key, at=request.requested_at)
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            # RCS_FAILED_TOCREATE_ORDER and kin: no page exists, nothing can be paid.
            return transform.declined_payment(
                request, transform.refusal_failure(answer), provider_status=answer.response_msg
            )
        result = parse_answer(wire.HppPurchaseResult, answer.params, provider=self.name, operation=service)
        page = transform.hpp_page_url(result)
        if page is None:
            raise ResponseVerificationError("the answer has no hppUrl", provider=self.name, operation=service)
        return transform.hpp_outcome(result, request=request, page_url=page)

    async def inquire_payment(self, payment: PaymentRef) -> PaymentOutcome:
        """``HPP_GETTRANINFO`` by ``referenceId``, the only status query WaafiPay has.

        Without HPP credentials there is none (WaafiPay has no query for ``API_PURCHASE``), so this raises
        UnsupportedOperationError and the caller resolves the payment by review.
        """
        if payment.result_token and self._hpp is not None:
            hinted = await self._hinted_result(payment)
            if hinted is not None:
                return hinted
        service = wire.HPP_GETTRANINFO
        credentials = self._hpp
        if payment.payer_push and not self._tran_info_for_pushes:
            # Reference A7: no documented status query for API payments; HPP_GETTRANINFO is documented for
            # the hosted page only (BILLING_WAAFIPAY_TRAN_INFO_FOR_PUSHES turns its use for pushes on).
            raise UnsupportedOperationError(
                "WaafiPay documents no status query for wallet pushes (HPP_GETTRANINFO is documented for the "
                f"hosted payment page; {waafipay_setting('TRAN_INFO_FOR_PUSHES')} is off). Check the transaction "
                "in the WaafiPay merchant portal",
                provider=self.name,
                operation=service,
            )
        if credentials is None:
            raise UnsupportedOperationError(
                "WaafiPay has no status query for wallet pushes; HPP_GETTRANINFO needs the HPP credentials "
                f"({waafipay_setting('STORE_ID')}, {waafipay_setting('HPP_KEY')}). Resolve the payment by review.",
                provider=self.name,
                operation=service,
            )
        params = transform.tran_info_params(credentials, reference_id=payment.idempotency_key)
        answer = await self._read(service, params)
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            failure = transform.refusal_failure(answer)
            if (answer.response_code or "").strip() == transform.NOT_FOUND_CODE:
                # No transaction. For a hosted-page order that is all it says: the page exists (we created
                # it) and its transaction appears once the payer pays; the page lapses after
                # timing.HPP_PAYER_WINDOW (the order's customer_action.expires_at).
                raise NotFoundError(f"WaafiPay {service}: no such payment ({failure.code})", field="payment")
            return PaymentOutcome(
                idempotency_key=payment.idempotency_key,
                provider_reference=payment.provider_reference,
                failure=failure,
            )
        info = parse_answer(wire.TranInfo, answer.params, provider=self.name, operation=service)
        self._check_reference(service, info.reference_id, payment.idempotency_key)
        return transform.tran_info_outcome(info, payment=payment)

    async def _hinted_result(self, payment: PaymentRef) -> PaymentOutcome | None:
        """The result behind a redirect's token, if WaafiPay confirms it and it is about this payment."""
        assert payment.result_token is not None
        try:
            outcome = await self.inquire_hpp_result(payment.result_token)
        except NotFoundError:
            return None
        if outcome.idempotency_key != payment.idempotency_key:
            return None  # a token for another payment: never a statement about this one
        return outcome.model_copy(
            update={"provider_reference": payment.provider_reference or outcome.provider_reference}
        )

    async def inquire_hpp_result(self, result_token: str) -> PaymentOutcome:
        """``HPP_GETRESULTINFO``: the result behind a callback's ``hppResultToken`` (format 4).

        A verified statement (it comes from WaafiPay's API, not from the browser). The outcome's
        ``idempotency_key`` is the payment's ``referenceId``. A token WaafiPay does not accept raises
        NotFoundError.
        """
        service = wire.HPP_GETRESULTINFO
        params = transform.result_info_params(self._require_hpp(service), token=result_token)
        answer = await self._read(service, params)
        if transform.classify_answer(answer) is AnswerClass.REFUSED:
            failure = transform.refusal_failure(answer)
            raise NotFoundError(
                f"WaafiPay {service}: {failure.code} {failure.message}".rstrip(), field="hpp_result_token"
            )
        return transform.result_info_outcome(
            answer, parse_answer(wire.HppResultInfo, answer.params, provider=self.name, operation=service)
        )
