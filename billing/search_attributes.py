"""Typed search attributes: what operators filter on in the Temporal UI. Never personal data.

``billing dev`` registers them on the dev server, the compose bootstrap on a cluster, and tests pass
:data:`ALL` to ``WorkflowEnvironment.start_local(search_attributes=...)``.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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
