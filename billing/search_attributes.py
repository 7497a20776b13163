"""Typed search attributes: what operators filter on in the Temporal UI. Never personal data.

``billing dev`` registers them on the dev server, the compose bootstrap on a cluster, and tests pass
:data:`ALL` to ``WorkflowEnvironment.start_local(search_attributes=...)``.

Who sets which (docs/architecture.md, "Search attributes"): :func:`at_start` is the one place that decides
an order's or subscription's attributes when its run starts. Whoever starts the run passes them
(``BillingClient``); a run started without them (an invoice order started by its subscription, a client
from before) upserts the same :func:`at_start` set on its first publish. After that the run upserts only
what changes: ``BillingStatus`` (and a subscription's ``NextBillingAt``).
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from billing.money import Money

BILLING_STATUS = SearchAttributeKey.for_keyword("BillingStatus")
PROVIDER = SearchAttributeKey.for_keyword("Provider")
#: The merchant's own opaque customer id, never an email, phone number or name.
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
AMOUNT_MINOR = SearchAttributeKey.for_int("AmountMinor")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
NEXT_BILLING_AT = SearchAttributeKey.for_datetime("NextBillingAt")

ALL: tuple[SearchAttributeKey, ...] = (  # type: ignore[type-arg]
    BILLING_STATUS,
    PROVIDER,
    CUSTOMER_ID,
    AMOUNT_MINOR,
    CURRENCY,
    NEXT_BILLING_AT,
)

#: The spelling `temporal server start-dev --search-attribute` and `temporal operator` expect.
_CLI_TYPES = {
    "KEYWORD": "Keyword",
    "INT": "Int",
    "DATETIME": "Datetime",
    "TEXT": "Text",
    "BOOL": "Bool",
    "FLOAT": "Double",
    "KEYWORD_LIST": "KeywordList",
}


def cli_definitions() -> list[str]:
    """``["BillingStatus=Keyword", ...]`` for the Temporal CLI."""
    return [f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}" for key in ALL]


def at_start(*, status: str, provider: str, customer_id: str, amount: Money) -> TypedSearchAttributes:
    """An order's or subscription's attributes as its run starts: its status then, and what never changes."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(BILLING_STATUS, status),
            SearchAttributePair(PROVIDER, provider),
            SearchAttributePair(CUSTOMER_ID, customer_id),
            SearchAttributePair(AMOUNT_MINOR, amount.amount_minor),
            SearchAttributePair(CURRENCY, amount.currency),
        ]
    )


def upserts(attributes: TypedSearchAttributes, *, without: tuple[str, ...] = ()) -> list[SearchAttributeUpdate[Any]]:
    """``attributes`` as upserts, in their order, leaving out the names in ``without``."""
    return [pair.key.value_set(pair.value) for pair in attributes if pair.key.name not in without]
