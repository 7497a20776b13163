"""The engine's own URLs at its HTTP service: where providers notify, and where a customer's browser comes back.

One layout for both sides: the HTTP service serves these route templates (``webhooks/app.py``) and the
activities hand URLs built from them to providers (:class:`CallbackUrls`). Pure string building over the
service's public URL (``BILLING_HTTP_PUBLIC_URL``), no I/O.
"""

from __future__ import annotations

from typing import TypeVar

from billing.gateway import CaptureMode, CreatePayment, CreateRefund

#: Notifications that name their object in the body, routed by it.
WEBHOOK_ROUTE = "/webhooks/{provider}"
#: A notification about one order (the order in the path routes it).
ORDER_WEBHOOK_ROUTE = "/webhooks/{provider}/orders/{order_id}"
#: A notification about one subscription.
SUBSCRIPTION_WEBHOOK_ROUTE = "/webhooks/{provider}/subscriptions/{subscription_id}"
#: The customer's browser back from a provider's page: unsigned, a hint to inquire, never a statement.
REDIRECT_ROUTE = "/callbacks/{provider}/orders/{order_id}/{result}"

_Notified = TypeVar("_Notified", CreatePayment, CreateRefund)


class CallbackUrls:
    """The engine's URLs under ``public_url``, and the create and refund requests that carry them."""

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")

    def order(self, provider: str, order_id: str) -> str:
        return self.public_url + ORDER_WEBHOOK_ROUTE.format(provider=provider, order_id=order_id)

    def redirect(self, provider: str, order_id: str, result: str) -> str:
        """Where a provider sends the customer's browser back (unsigned: a hint, never a statement)."""
        return self.public_url + REDIRECT_ROUTE.format(provider=provider, order_id=order_id, result=result)

    def subscription(self, provider: str, subscription_id: str) -> str:
        return self.public_url + SUBSCRIPTION_WEBHOOK_ROUTE.format(provider=provider, subscription_id=subscription_id)

    def notified(self, request: _Notified, provider: str, order_id: str) -> _Notified:
        """``request`` with the order's own notification URL, unless it names one."""
        if request.notify_url is not None:
            return request
        return request.model_copy(update={"notify_url": self.order(provider, order_id)})

    def create_request(
        self, request: CreatePayment, provider: str, order_id: str, *, provider_notifies: bool
    ) -> CreatePayment:
        """The create call as the provider gets it: our notification URL and, when no signed notification
        would tell of the outcome, our redirect routes for the customer's return.

        A provider without signed notifications (``provider_notifies`` false), or an authorization (a provider
        may notify a manual-capture order only once it is captured): the customer's browser comes back
        through our HTTP service, which takes the redirect as a hint to inquire now and then sends the browser
        on to the merchant's page (kept on the order). So an authorization is known, and can be captured, as
        soon as the customer is back.
        """
        request = self.notified(request, provider, order_id)
        if provider_notifies and request.capture_mode is not CaptureMode.MANUAL:
            return request
        return request.model_copy(
            update={
                "success_url": self.redirect(provider, order_id, "success"),
                "failure_url": self.redirect(provider, order_id, "failure"),
                "cancel_url": self.redirect(provider, order_id, "failure"),
            }
        )
