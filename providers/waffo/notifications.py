"""Waffo's inbound notifications: verify the raw bytes, then parse ``{eventType, result}`` into events.

Waffo POSTs every notification with ``X-SIGNATURE`` (SHA256withRSA over the raw body, Waffo's key) and
retries until it gets HTTP 200, ``Content-Type: application/json``, an ``X-SIGNATURE`` made with the
merchant key, and the body exactly ``{"message":"success"}`` (reference §1.4). Anything else, including
``{"message":"failed"}``, is retried (up to 8 attempts over about 20 hours).

Event types (reference §5): PAYMENT_NOTIFICATION (one-time payments and every subscription charge,
which carries ``subscriptionInfo``), REFUND_NOTIFICATION, SUBSCRIPTION_STATUS_NOTIFICATION,
SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION, SUBSCRIPTION_CHANGE_NOTIFICATION. Any other verified event
becomes an :class:`~providers.base.UnknownEvent`, to be acknowledged and recorded.

Every event has a stable ``event_key`` built from what it states (event type, ids, status, period),
never from delivery time, so a redelivered notification deduplicates and a new statement does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Self

from pydantic import SecretStr, ValidationError

from billing.errors import ConfigurationError, MalformedNotificationError, SignatureVerificationError
from providers.base import (
    NotificationReply,
    PaymentEvent,
    ProviderEvent,
    RefundEvent,
    SubscriptionChangeEvent,
    SubscriptionEvent,
    SubscriptionEventType,
    UnknownEvent,
)
from providers.waffo import transform, wire
from providers.waffo.settings import WaffoSettings
from providers.waffo.signing import (
    PRIVATE_KEY_SETTING,
    PUBLIC_KEY_SETTING,
    SIGNATURE_HEADER,
    BodySigner,
    BodyVerifier,
)

#: The exact reply bodies Waffo accepts (success) or retries on (failed).
SUCCESS_REPLY_BODY = b'{"message":"success"}'
FAILURE_REPLY_BODY = b'{"message":"failed"}'

_KEY_PREFIX = "waffo"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _event_key(event: str, ids: list[str | None], *details: str | None, body: bytes) -> str:
    """``waffo:<event>:<ids...>:<details...>``; with no id at all, a digest of the body stands in."""
    known_ids = [value for value in ids if value]
    if not known_ids:
        known_ids = [hashlib.sha256(body).hexdigest()[:32]]
    parts = [_KEY_PREFIX, event, *known_ids, *(detail or "-" for detail in details)]
    return ":".join(parts)


#: Deeper than any documented notification (a few levels): deeper ones are refused before validation.
MAX_DEPTH = 32


def _check_document(document: object) -> None:
    """Refuse what JSON allows but nothing downstream can carry: nesting beyond :data:`MAX_DEPTH`, and
    strings holding lone surrogates (``"\\ud800"``), which no UTF-8 encoder (the signal's payload, a log
    line) accepts. Iterative, so that the check itself cannot run out of stack."""
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise MalformedNotificationError("the notification holds a string that is not valid text") from exc
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise MalformedNotificationError(f"the notification is nested deeper than {MAX_DEPTH} levels")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)


class WaffoNotifications:
    """Verifies and parses Waffo notifications and builds the signed replies Waffo requires."""

    #: A verified notification of an event type the engine does not handle is answered with the failure
    #: reply, as Waffo's own SDKs answer it (reference §5.1, SDK ``WebhookHandler``): Waffo retries it, and
    #: an engine that learns the type later still receives it.
    acknowledges_unknown_events = False

    def __init__(self, waffo_public_key: str, merchant_private_key: str | SecretStr) -> None:
        self._verifier = BodyVerifier(waffo_public_key, setting=PUBLIC_KEY_SETTING)
        self._signer = BodySigner(merchant_private_key, setting=PRIVATE_KEY_SETTING)
        # PKCS#1 v1.5 is deterministic: the replies never change, so they are signed once.
        self._success_signature = self._signer.sign(SUCCESS_REPLY_BODY)
        self._failure_signature = self._signer.sign(FAILURE_REPLY_BODY)

    @classmethod
    def from_settings(cls, settings: WaffoSettings) -> Self:
        if not settings.public_key:
            raise ConfigurationError("is not set", setting=PUBLIC_KEY_SETTING)
        if settings.private_key is None:
            raise ConfigurationError("is not set", setting=PRIVATE_KEY_SETTING)
        return cls(settings.public_key, settings.private_key)

    def __repr__(self) -> str:
        return "WaffoNotifications(keys=<redacted>)"

    # -- replies --------------------------------------------------------------------------------

    def success_reply(self) -> NotificationReply:
        return self._reply(SUCCESS_REPLY_BODY, self._success_signature)

    def failure_reply(self) -> NotificationReply:
        return self._reply(FAILURE_REPLY_BODY, self._failure_signature)

    @staticmethod
    def _reply(body: bytes, signature: str) -> NotificationReply:
        return NotificationReply(
            status_code=200,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
            body=body,
        )

    # -- parsing --------------------------------------------------------------------------------

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify ``X-SIGNATURE`` over ``body`` exactly as received, then parse it.

        Raises SignatureVerificationError when the signature is missing or wrong (nothing is parsed),
        and MalformedNotificationError when a verified body is not ``{eventType, result}``.
        """
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            raise SignatureVerificationError("the notification has no X-SIGNATURE header")
        if not self._verifier.verify(body, signature):
            raise SignatureVerificationError("the notification's X-SIGNATURE does not verify over its body")

        try:
            document = json.loads(body, parse_float=Decimal)
        except ValueError as exc:
            raise MalformedNotificationError("the notification body is not JSON") from exc
        except RecursionError as exc:
            raise MalformedNotificationError("the notification body is nested too deeply") from exc
        _check_document(document)
        if not isinstance(document, dict):
            raise MalformedNotificationError("the notification body is not a JSON object")
        event_type = document.get("eventType")
        if not isinstance(event_type, str) or not event_type:
            raise MalformedNotificationError("the notification has no eventType")
        result = document.get("result")
        if not isinstance(result, dict):
            raise MalformedNotificationError(f"the {event_type} notification's result is not an object")

        try:
            return self._event(event_type, result, body)
        except ValidationError as exc:
            raise MalformedNotificationError(
                f"the {event_type} notification's result is not the documented shape"
            ) from exc

    def _event(self, event_type: str, result: dict[str, object], body: bytes) -> ProviderEvent:
        if event_type == wire.PAYMENT_NOTIFICATION:
            order = wire.OrderDetails.model_validate(result)
            payment = transform.payment_outcome(order)
            period = order.subscription_info.period if order.subscription_info else None
            key = _event_key(
                "payment",
                [order.acquiring_order_id, order.payment_request_id],
                order.order_status,
                period,
                body=body,
            )
            return PaymentEvent(event_key=key, outcome=payment)

        if event_type == wire.REFUND_NOTIFICATION:
            refund = wire.RefundDetails.model_validate(result)
            key = _event_key(
                "refund",
                [refund.refund_request_id, refund.acquiring_refund_order_id],
                refund.refund_status,
                body=body,
            )
            return RefundEvent(event_key=key, outcome=transform.refund_outcome(refund))

        if event_type in (
            wire.SUBSCRIPTION_STATUS_NOTIFICATION,
            wire.SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION,
        ):
            subscription = wire.SubscriptionDetails.model_validate(result)
            outcome = transform.subscription_outcome(subscription)
            period = subscription.product_info.current_period if subscription.product_info else None
            ids = [subscription.subscription_id, subscription.subscription_request]
            if event_type == wire.SUBSCRIPTION_STATUS_NOTIFICATION:
                event = SubscriptionEventType.STATUS
                key = _event_key("subscription-status", ids, subscription.subscription_status, period, body=body)
            else:
                event = SubscriptionEventType.PERIOD_CHANGED
                # The period's own result tells a successful renewal from a failed one in the same status.
                charge = next(
                    (item.order_status for item in subscription.payment_details if item.period == period),
                    None,
                )
                key = _event_key(
                    "subscription-period", ids, subscription.subscription_status, period, charge, body=body
                )
            return SubscriptionEvent(event_key=key, event_type=event, outcome=outcome)

        if event_type == wire.SUBSCRIPTION_CHANGE_NOTIFICATION:
            change = wire.SubscriptionChangeData.model_validate(result)
            key = _event_key(
                "subscription-change",
                [change.subscription_request, change.origin_subscription_request],
                change.subscription_change_status,
                body=body,
            )
            return SubscriptionChangeEvent(event_key=key, outcome=transform.change_outcome(change))

        digest = hashlib.sha256(body).hexdigest()[:32]
        return UnknownEvent(event_key=f"{_KEY_PREFIX}:{event_type}:{digest}", provider_event_type=event_type)
