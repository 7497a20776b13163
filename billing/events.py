"""Merchant events: what the engine tells the merchant's endpoint when an order or subscription changes.

Every state change of an order (``order.paid``, ``order.failed``, ...), of a refund (``refund.succeeded``,
...) and of a subscription (``subscription.active``, ``subscription.renewed``, ...) becomes one
:class:`MerchantEvent`. Workflows build events here (deterministic, no I/O) and hand them to the
``deliver_merchant_event`` activity, which POSTs them and lets Temporal retry with backoff until the
endpoint answers 2xx.

- **Ids are stable.** An event's id is derived from the object and the event's sequence number within it,
  so every attempt, and every replay, sends the same id: merchants deduplicate on ``id``.
- **Per object, events are sent in order**, one at a time. ``sequence`` grows by one per event of an
  object; a merchant may drop an event whose sequence is lower than one already processed.
- **Signatures** follow Stripe's scheme: header ``Billing-Signature: t=<unix seconds>,v1=<hex>`` where
  the hex is HMAC-SHA256 over ``f"{t}.".encode() + body`` with the endpoint secret. During a secret
  rotation the header carries one ``v1`` per active secret. :func:`verify_signature` accepts the body when
  any ``v1`` matches any of the receiver's secrets and ``t`` is within the tolerance (default 5 minutes)
  of the receiver's clock, which bounds replays of a captured request.
- **No personal data** in events: ids, statuses, amounts and provider names; never emails, phone numbers,
  names or card data.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from billing.errors import InputError, SignatureError

if TYPE_CHECKING:
    from billing.invoices import Invoice
    from billing.orders import Order, Refund
    from billing.subscriptions import BillingPeriodRecord, Subscription

#: Memo key under which a workflow run's starter lists the engine features the run was started with.
FEATURES_MEMO = "billing-features"
#: Feature: the run sends merchant events (whether this deployment has an endpoint is asked once per run).
MERCHANT_EVENTS_FEATURE = "merchant-events"
#: Feature: the run coalesces redirect hints without asking ``workflow.patched`` in the signal handler. A
#: patch marker recorded by a handler is a command issued by a signal; a worker that takes over a workflow
#: task after another died may apply the signal after a timer's result where a replay applies it before,
#: and the marker then lands elsewhere than in the replay (docs/architecture.md, "Queries and cold workers").
HINTS_IN_RUN_FEATURE = "hints-in-run"
#: Feature: the subscription run issues invoices (numbers from the merchant's sequence) for its periods.
INVOICES_FEATURE = "invoices"
#: Feature: the subscription run takes the status its search attributes were started with (by the client,
#: or carried by continue-as-new) as published, and upserts it only when it changes.
ATTRIBUTES_AT_START_FEATURE = "attributes-at-start"
#: Feature: the subscription run takes invoice numbers in the workflow task that needs them (a local activity)
#: and confirms them from a later one (``workflows/subscription_invoicing.py``).
NUMBERS_IN_TASK_FEATURE = "numbers-in-task"
#: The run bounds its waits for the customer's balance in a workflow task (``workflows.subscription_balance``).
BALANCE_WAITS_BOUNDED_FEATURE = "balance-waits-bounded"


def features_memo() -> dict[str, list[str]]:
    """The memo every order and subscription run is started (or continued as new) with."""
    return {
        FEATURES_MEMO: [
            MERCHANT_EVENTS_FEATURE,
            HINTS_IN_RUN_FEATURE,
            INVOICES_FEATURE,
            ATTRIBUTES_AT_START_FEATURE,
            NUMBERS_IN_TASK_FEATURE,
            BALANCE_WAITS_BOUNDED_FEATURE,
        ]
    }


SIGNATURE_HEADER = "Billing-Signature"
EVENT_ID_HEADER = "Billing-Event-Id"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

ObjectKind = Literal["order", "subscription"]


class MerchantEvent(BaseModel):
    """One event as POSTed to the merchant's endpoint (the JSON body is this model)."""

    id: str
    type: str
    #: Workflow time of the change (UTC).
    created: datetime
    object: ObjectKind
    object_id: str
    #: 1, 2, 3, ... per object, in the order the changes happened.
    sequence: int = Field(ge=1)
    data: dict[str, Any]

    def body(self) -> bytes:
        """The exact bytes sent (and signed): the same on every attempt."""
        return self.model_dump_json().encode()


def event_id(kind: ObjectKind, object_id: str, sequence: int) -> str:
    digest = hashlib.sha256(f"{kind}:{object_id}:{sequence}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def _money(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"amount_minor": value.amount_minor, "currency": value.currency}


def order_data(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "status": order.status.value,
        "provider": order.provider,
        "customer_id": order.customer_id,
        "amount": _money(order.amount),
        "captured_amount": _money(order.captured_amount),
        "refunded_amount": _money(order.refunded),
        "late_payment": order.late_payment,
        "failure_code": order.failure.code if order.failure is not None else None,
        "paid_at": order.paid_at.isoformat() if order.paid_at is not None else None,
    }


def refund_data(order: Order, refund: Refund) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "refund_id": refund.refund_id,
        "status": refund.status.value,
        "amount": _money(refund.amount),
        "provider": order.provider,
        "order_refunded_amount": _money(order.refunded),
    }


def subscription_data(sub: Subscription) -> dict[str, Any]:
    return {
        "subscription_id": sub.subscription_id,
        "status": sub.status.value,
        "provider": sub.provider,
        "mode": sub.mode.value,
        "customer_id": sub.customer_id,
        "plan_id": sub.plan.plan_id,
        "amount": _money(sub.plan.amount),
        "interval": sub.plan.interval.value,
        "interval_count": sub.plan.interval_count,
        "current_period": sub.current_period,
        "next_billing_at": sub.next_billing_at.isoformat() if sub.next_billing_at is not None else None,
        "cancel_at_period_end": sub.cancel_at_period_end,
    }


def invoice_data(sub: Subscription, invoice: Invoice) -> dict[str, Any]:
    """An invoice as its events carry it: ids, state and totals in minor units; no personal data."""
    return {
        **subscription_data(sub),
        "invoice": {
            "number": invoice.number,
            "invoice_id": invoice.invoice_id,
            "state": invoice.state.value,
            "currency": invoice.currency,
            "subtotal": invoice.subtotal,
            "discount": invoice.discount,
            "total": invoice.total,
            "amount_due": invoice.amount_due,
            "amount_paid": invoice.amount_paid,
            "period": invoice.period,
            "order_id": invoice.order_id,
            "charged_by_provider": invoice.charged_by_provider,
        },
    }


def period_data(sub: Subscription, record: BillingPeriodRecord) -> dict[str, Any]:
    return {
        **subscription_data(sub),
        "period": {
            "generation": record.generation,
            "number": record.number,
            "status": record.status.value,
            "attempts": record.attempts,
            "amount": _money(record.amount),
            "start": record.start.isoformat() if record.start is not None else None,
            "end": record.end.isoformat() if record.end is not None else None,
            "order_id": record.order_id,
            #: Where the customer pays this period's invoice (engine-invoiced: a link or a QR payload).
            "checkout_url": record.checkout_url,
        },
    }


class EventLog(BaseModel):
    """A workflow's record of the events it emitted: the sequence, what was last announced, the outbox.

    It travels across continue-as-new, so ids keep counting and nothing waiting to be sent is lost.
    """

    kind: ObjectKind
    object_id: str
    sequence: int = 0
    #: What each announced topic last said (``status`` -> ``PAID``, ``refund:r1`` -> ``SUCCEEDED``).
    announced: dict[str, str] = Field(default_factory=dict)
    #: Events not yet acknowledged by the merchant's endpoint, oldest first.
    outbox: list[MerchantEvent] = Field(default_factory=list)
    undeliverable: int = 0

    def announce(
        self, topic: str, value: str, event_type: str, data: Callable[[], dict[str, Any]], at: datetime
    ) -> bool:
        """Queue an event when ``topic`` says something new; return whether one was queued."""
        if self.announced.get(topic) == value:
            return False
        self.announced[topic] = value
        self.sequence += 1
        self.outbox.append(
            MerchantEvent(
                id=event_id(self.kind, self.object_id, self.sequence),
                type=event_type,
                created=at,
                object=self.kind,
                object_id=self.object_id,
                sequence=self.sequence,
                data=data(),
            )
        )
        return True

    def start(self, topic: str, value: str) -> None:
        """Record a topic's starting value without an event (an order starts CREATED: nothing to say)."""
        self.announced.setdefault(topic, value)


# -- signatures -------------------------------------------------------------------------------------


def split_secrets(raw: str) -> list[str]:
    """Secrets as configured: comma-separated, blanks ignored (``BILLING_EVENTS_SECRETS``, ``--secret``)."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """The ``Billing-Signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    if not secrets:
        raise InputError("at least one signing secret is needed", field="secrets")
    parts = [f"t={timestamp}", *(f"{SIGNATURE_SCHEME}={_digest(secret, timestamp, body)}" for secret in secrets)]
    return ",".join(parts)


def verify_signature(
    body: bytes,
    header: str | None,
    secrets: str | Iterable[str],
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check ``header`` against the raw ``body``; return the signed timestamp. Raises :class:`SignatureError`."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys or not all(keys):
        raise InputError("at least one non-empty secret is needed", field="secrets")
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header", field=SIGNATURE_HEADER)
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("timestamp is not an integer", field=SIGNATURE_HEADER) from None
        elif name == SIGNATURE_SCHEME:
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("no timestamp (t=) in the signature header", field=SIGNATURE_HEADER)
    if not candidates:
        raise SignatureError(f"no {SIGNATURE_SCHEME} signature in the header", field=SIGNATURE_HEADER)
    expected = [_digest(key, timestamp, body) for key in keys]
    if not any(hmac.compare_digest(want, got) for want in expected for got in candidates):
        raise SignatureError("signature does not match the body", field=SIGNATURE_HEADER)
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"timestamp is {abs(now - timestamp):.0f}s away from now (tolerance {tolerance}s)", field=SIGNATURE_HEADER
        )
    return timestamp
