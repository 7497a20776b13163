"""A request's fingerprint: worked out in one place, and the same digest as before for a running workflow.

A running order or subscription keeps the fingerprint of the request that started it and compares each
later ``submit`` against it: the digest of the same request must never change between versions, or a
repeated create would be refused as a conflict.
"""

from __future__ import annotations

from billing.gateway import Customer
from billing.idempotency import Fingerprinted
from billing.money import Money
from billing.orders import CreateOrder
from billing.subscriptions import StartSubscription
from tests.billing.test_subscriptions import start


def _order(**changes: object) -> CreateOrder:
    fields: dict[str, object] = {
        "order_id": "o-1",
        "provider": "waffo",
        "amount": Money(amount_minor=1000, currency="USD"),
        "description": "Tea",
        "customer": Customer(customer_id="c-1", email="c@example.com"),
    }
    return CreateOrder.model_validate(fields | changes)


def test_orders_and_subscriptions_share_one_fingerprint() -> None:
    assert issubclass(CreateOrder, Fingerprinted) and issubclass(StartSubscription, Fingerprinted)
    assert CreateOrder.fingerprint is StartSubscription.fingerprint is Fingerprinted.fingerprint


def test_the_digest_of_a_request_never_changes() -> None:
    # A request's fields and their values decide it, so a client and a worker of different versions agree.
    # A changed default changes the digest of a request that leaves it unset: the default late-payment
    # watch did (an order created before it and repeated after it with the default is a conflict).
    assert _order().fingerprint() == "736c850fcb84ae954525b2f2f46729f24b74cbac8db5472ea129f021883ef5e7"
    assert start().fingerprint() == "364573f73684e0be8951aa0a11d324007b1f614695f7abd28c9fb211ed8dfcc1"


def test_any_parameter_changes_it() -> None:
    assert _order().fingerprint() == _order().fingerprint()
    assert _order().fingerprint() != _order(amount=Money(amount_minor=1001, currency="USD")).fingerprint()
    assert _order().fingerprint() != _order(description="Coffee").fingerprint()
