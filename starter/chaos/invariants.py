"""The invariants a chaos run must keep, checked against the emulators' ledgers (the providers' truth).

Each check takes the engine's final view (every order's and subscription's state, as queried), the
ledgers and the merchant events received, and returns :class:`Violation` values. NEEDS_REVIEW is not a
violation: it is an honest "an operator must decide", listed separately with its reason.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from billing.idempotency import payment_key
from billing.money import Money
from billing.orders import (
    CLOSED_STATUSES,
    FINAL_STATUSES,
    PAID_STATUSES,
    Order,
    OrderStatus,
    RefundState,
)
from billing.subscriptions import FINAL_SUBSCRIPTION_STATUSES, BillingMode, PeriodStatus, Subscription
from emulators.registry import EMULATORS
from starter.events import MerchantEvent

#: Ledger entry kinds that move the customer's money to the merchant.
CAPTURE_KINDS = frozenset({"charge", "capture"})
#: The field of each provider's ledger entries that carries our payment request id.
REFERENCE_FIELD = {local.name: local.ledger_reference for local in EMULATORS}
#: Payment attempts per order whose request ids are recognised in the ledgers.
ATTEMPTS = 3
PAID_RANK = {OrderStatus.PAID: 0, OrderStatus.PARTIALLY_REFUNDED: 1, OrderStatus.REFUNDED: 2}

INVARIANTS = (
    "double_charge",
    "lost_payment",
    "phantom_paid",
    "captured_mismatch",
    "refunded_mismatch",
    "over_refund",
    "stuck",
    "replay_nondeterminism",
    "final_state_backwards",
    "refund_state_backwards",
    "event_gap",
    "event_duplicate",
    "event_regression",
)


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    provider: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Review:
    subject: str
    provider: str
    status: str
    reason: str


@dataclass
class LedgerView:
    """One order's money at its provider, from the ledger entries."""

    captures: int = 0
    captured: int = 0
    refunded: int = 0
    entries: list[str] = field(default_factory=list)


def minor(entry: Mapping[str, Any]) -> int:
    """A ledger entry's amount in minor units (KESS: the merchant's amount, without the buyer's fee)."""
    text = entry.get("merchant_amount") or entry["amount"]
    return Money.parse(str(text), str(entry["currency"])).amount_minor


def ledger_by_order(
    order_ids: Iterable[tuple[str, str]], ledgers: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, LedgerView]:
    """``order_ids``: (order id, provider) pairs. Entries are matched by our payment request ids."""
    keys: dict[tuple[str, str], str] = {}
    views: dict[str, LedgerView] = {}
    for order_id, provider in order_ids:
        views[order_id] = LedgerView()
        for attempt in range(1, ATTEMPTS + 1):
            keys[(provider, payment_key(order_id, attempt))] = order_id
    for provider, entries in ledgers.items():
        reference = REFERENCE_FIELD[provider]
        for item in entries:
            found = keys.get((provider, str(item.get(reference))))
            if found is None:
                continue
            view = views[found]
            kind = str(item["kind"])
            view.entries.append(f"{kind} {item['amount']}")
            if kind in CAPTURE_KINDS:
                view.captures += 1
                view.captured += minor(item)
            elif kind == "refund":
                view.refunded += minor(item)
    return views


def check_orders(orders: Mapping[str, Order], ledger: Mapping[str, LedgerView]) -> list[Violation]:
    out: list[Violation] = []
    for order_id, order in orders.items():
        money = ledger.get(order_id, LedgerView())
        provider = order.provider

        def flag(invariant: str, detail: str, order_id: str = order_id, provider: str = provider) -> None:
            out.append(Violation(invariant, order_id, provider, detail))

        paid = order.status in PAID_STATUSES
        if money.captures > 1:
            flag("double_charge", f"{money.captures} captures at the provider: {', '.join(money.entries)}")
        if money.captured > 0 and not paid and order.status is not OrderStatus.NEEDS_REVIEW:
            flag("lost_payment", f"{money.captured} minor units captured at the provider, order is {order.status}")
        if paid and money.captured == 0:
            flag("phantom_paid", f"order is {order.status}, nothing captured at the provider")
        if paid and money.captured > 0:
            engine = (order.captured_amount or order.amount).amount_minor
            if engine != money.captured:
                flag("captured_mismatch", f"engine captured {engine}, provider {money.captured}")
        engine_refunded = sum(r.amount.amount_minor for r in order.refunds if r.status is RefundState.SUCCEEDED)
        # A refund an operator must settle (its answer was lost) may or may not have moved money.
        in_review = sum(r.amount.amount_minor for r in order.refunds if r.status is RefundState.NEEDS_REVIEW)
        if not engine_refunded <= money.refunded <= engine_refunded + in_review:
            pending = [r.refund_id for r in order.refunds if r.status is not RefundState.SUCCEEDED]
            flag(
                "refunded_mismatch",
                f"engine refunded {engine_refunded}, provider {money.refunded} (refunds not succeeded: {pending})",
            )
        if paid and order.captured_amount is not None:
            expected = (
                OrderStatus.PAID
                if engine_refunded == 0
                else OrderStatus.REFUNDED
                if engine_refunded >= order.captured_amount.amount_minor
                else OrderStatus.PARTIALLY_REFUNDED
            )
            if order.status is not expected:
                refunds = ", ".join(f"{r.refund_id} {r.amount} {r.status}" for r in order.refunds)
                flag(
                    "refund_state_backwards",
                    f"order is {order.status} but its refunds say {expected} (refunds: {refunds or 'none'})",
                )
        if money.refunded > money.captured:
            flag("over_refund", f"provider refunded {money.refunded} of {money.captured} captured")
        out.extend(Violation("final_state_backwards", order_id, provider, d) for d in order_regressions(order))
    return out


def order_regressions(order: Order) -> list[str]:
    """Moves of a final state in the order's timeline that are not forward.

    A paid order only moves further along PAID -> PARTIALLY_REFUNDED -> REFUNDED; a closed order
    (FAILED, EXPIRED, CANCELLED) only moves to PAID (a late payment that did happen).
    """
    found: list[str] = []
    previous: OrderStatus | None = None
    for entry in order.timeline:
        status = entry.status
        if status is None or status == previous:
            continue
        if previous in PAID_STATUSES and (status not in PAID_STATUSES or PAID_RANK[status] < PAID_RANK[previous]):
            found.append(f"{previous} -> {status} at {entry.at.isoformat()} ({entry.event})")
        elif previous in CLOSED_STATUSES and status not in PAID_STATUSES:
            found.append(f"{previous} -> {status} at {entry.at.isoformat()} ({entry.event})")
        previous = status
    return found


def notification_trail(notifications: Iterable[Mapping[str, Any]], reference: str) -> str:
    """What became of the provider's notifications naming ``reference``, from the emulators' journals
    (``GET /<provider>/control/notifications``): each event, its period and its delivery status, in order."""
    trail = []
    for notification in notifications:
        payload = notification.get("payload")
        if reference not in json.dumps(payload):
            continue
        result = payload.get("result", {}) if isinstance(payload, dict) else {}
        period = result.get("currentPeriod") or result.get("period") if isinstance(result, dict) else None
        name = str(notification.get("eventType", "?")).removesuffix("_NOTIFICATION").lower()
        trail.append(f"{name}{f' p{period}' if period else ''} {notification.get('status')}")
    return "; ".join(trail) if trail else "no notification journaled"


def check_subscriptions(
    subscriptions: Mapping[str, Subscription],
    managed_ledger: Sequence[Mapping[str, Any]],
    notifications: Sequence[Mapping[str, Any]] = (),
) -> list[Violation]:
    """Provider-managed subscriptions: one charge per period at most, and the engine's paid periods are the
    provider's charged ones. ``managed_ledger`` holds the ledgers of the providers that bill subscriptions
    themselves; ``notifications`` their notification journals, which a lost payment's detail summarises.
    (Engine-billed periods are orders, checked with the orders.)"""
    charges: dict[tuple[str, str], int] = defaultdict(int)
    for item in managed_ledger:
        if item.get("subscriptionId") and str(item["kind"]) in CAPTURE_KINDS:
            charges[(str(item["subscriptionId"]), str(item.get("period")))] += 1
    out: list[Violation] = []
    for subscription_id, subscription in subscriptions.items():
        provider = subscription.provider
        reference = subscription.provider_reference
        if subscription.mode is BillingMode.PROVIDER_MANAGED and reference:
            for (sub, number), count in charges.items():
                if sub == reference and count > 1:
                    out.append(
                        Violation("double_charge", subscription_id, provider, f"period {number}: {count} charges")
                    )
            for period in subscription.periods:
                if period.generation != subscription.generation:
                    continue
                charged = charges.get((reference, str(period.number)), 0)
                if period.status is PeriodStatus.PAID and charged == 0:
                    out.append(
                        Violation(
                            "phantom_paid", subscription_id, provider, f"period {period.number} PAID, nothing charged"
                        )
                    )
            for (sub, period_no), _ in charges.items():
                if sub != reference:
                    continue
                record = next((p for p in subscription.periods if str(p.number) == period_no), None)
                if record is None or record.status is not PeriodStatus.PAID:
                    state = "unknown to the engine" if record is None else str(record.status)
                    trail = notification_trail(notifications, reference) if notifications else ""
                    detail = f"period {period_no} charged, {state}" + (f" (notifications: {trail})" if trail else "")
                    out.append(Violation("lost_payment", subscription_id, provider, detail))
        previous = None
        for entry in subscription.timeline:
            if entry.status is None or entry.status == previous:
                continue
            if previous in FINAL_SUBSCRIPTION_STATUSES:
                out.append(
                    Violation(
                        "final_state_backwards",
                        subscription_id,
                        provider,
                        f"{previous} -> {entry.status} ({entry.event})",
                    )
                )
            previous = entry.status
    return out


def check_events(events: Sequence[MerchantEvent], subjects: Mapping[str, str]) -> list[Violation]:
    """Per order or subscription: every sequence number 1..n once, delivered in order.

    ``events`` are every verified delivery in arrival order, repeats included; ``subjects`` maps object ids
    of this run to their provider (events of other objects are ignored).
    """
    out: list[Violation] = []
    by_object: dict[str, list[MerchantEvent]] = defaultdict(list)
    for event in events:
        if event.object_id in subjects:
            by_object[event.object_id].append(event)
    for object_id, received in by_object.items():
        provider = subjects[object_id]
        first: dict[int, MerchantEvent] = {}
        highest = 0
        for event in received:
            seen = first.get(event.sequence)
            if seen is None:
                if event.sequence < highest:
                    out.append(
                        Violation(
                            "event_regression",
                            object_id,
                            provider,
                            f"sequence {event.sequence} ({event.type}) arrived after {highest}",
                        )
                    )
                first[event.sequence] = event
                highest = max(highest, event.sequence)
            elif seen.id != event.id or seen.type != event.type or seen.data != event.data:
                out.append(
                    Violation(
                        "event_duplicate",
                        object_id,
                        provider,
                        f"sequence {event.sequence}: {seen.type} and {event.type}",
                    )
                )
        missing = sorted(set(range(1, highest + 1)) - set(first))
        if missing:
            out.append(
                Violation("event_gap", object_id, provider, f"sequences {missing} never arrived (last {highest})")
            )
    return out


def reviews(orders: Mapping[str, Order]) -> list[Review]:
    found: list[Review] = []
    for order_id, order in orders.items():
        if order.status is OrderStatus.NEEDS_REVIEW:
            reason = order.review.reason if order.review else "(no reason recorded)"
            found.append(Review(order_id, order.provider, order.status.value, reason))
        for refund in order.refunds:
            if refund.status is RefundState.NEEDS_REVIEW:
                found.append(
                    Review(
                        f"{order_id}/{refund.refund_id}",
                        order.provider,
                        "refund NEEDS_REVIEW",
                        refund.review_reason
                        or (
                            refund.failure.message
                            if refund.failure
                            else f"outcome of refund of {refund.amount} not known"
                        ),
                    )
                )
    return found


def settled(order: Order) -> bool:
    """Nothing more is expected of the order: final (or with an operator) and no refund in flight."""
    done = order.status in FINAL_STATUSES or order.status is OrderStatus.NEEDS_REVIEW
    return done and not order.open_refunds()
