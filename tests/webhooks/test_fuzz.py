"""Property-based fuzzing of every route of the HTTP service, over real HTTP, against real Temporal.

Arbitrary bytes, JSON, unicode, nesting, headers and paths, signed with the test run's Waffo key or not:
no reply is a 5xx, and nothing invalid reaches a workflow. Signed bodies go to orders that do not exist
(a signed *valid* statement for a real order is not invalid input); the one real order only sees
unsigned or forged bodies, and redirects, which may at most make it inquire within its hint budget.

Hypothesis runs in a worker thread with a blocking client while the service, the worker and the
time-skipping server run on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote, quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from billing.hints import HINTS_PER_HOUR
from billing.orders import order_workflow_id
from providers.waffo import sign_bytes
from providers.waffo.signing import load_private_key
from tests.support.keys import generate, waffo_keys
from tests.support.stack import OrderStack, order_stack
from tests.webhooks.test_redirect_flood import create, inquiries, settled_history
from workflows.order import OrderWorkflow

EXAMPLES = 200
#: A small limit for the fuzzed service, so that oversized bodies are among the inputs.
BODY_LIMIT = 4096

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

_WAFFO_KEY = load_private_key(waffo_keys().private_pem.decode())
_FORGED_KEY = load_private_key(generate().private_pem.decode())

# -- strategies ---------------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=False, allow_infinity=False).map(str)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
FIELDS = [
    "paymentRequestId",
    "merchantOrderId",
    "acquiringOrderId",
    "orderStatus",
    "orderAmount",
    "orderCurrency",
    "finalDealAmount",
    "refundRequestId",
    "acquiringRefundOrderId",
    "refundStatus",
    "refundAmount",
    "subscriptionId",
    "subscriptionRequest",
    "subscriptionStatus",
    "productInfo",
    "paymentDetails",
    "subscriptionInfo",
    "failedReason",
    "orderFailedReason",
]
EVENT_TYPES = [
    "PAYMENT_NOTIFICATION",
    "REFUND_NOTIFICATION",
    "SUBSCRIPTION_STATUS_NOTIFICATION",
    "SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION",
    "SUBSCRIPTION_CHANGE_NOTIFICATION",
]
notification_shaped = st.fixed_dictionaries(
    {
        "eventType": st.sampled_from(EVENT_TYPES) | st.text(max_size=20),
        "result": st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8),
    }
).map(lambda document: json.dumps(document).encode())


def _nest(depth: int, kind: str, closed: bool) -> bytes:
    opening, closing = ("[", "]") if kind == "array" else ('{"result":', "}")
    inner = "" if kind == "array" else "1"
    return (opening * depth + inner + (closing * depth if closed else "")).encode()


#: Depths around the JSON decoder's recursion limit (about 1000) are drawn as often as small ones.
depths = st.sampled_from([990, 1000, 1_010, 5_000, 20_000]) | st.integers(1, 20_000)
nested = st.builds(_nest, depths, st.sampled_from(["array", "object"]), st.booleans())
escaped_unicode = st.lists(st.integers(0, 0xFFFF), max_size=8).map(
    lambda points: (
        '{"eventType":"PAYMENT_NOTIFICATION","result":{"merchantOrderId":"'
        + "".join(f"\\u{p:04x}" for p in points)
        + '"}}'
    ).encode()
)
raw_unicode = st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass"))
bodies = (
    st.binary(max_size=600)
    | json_values.map(lambda value: json.dumps(value).encode())
    | notification_shaped
    | nested
    | escaped_unicode
    | raw_unicode
    | st.integers(BODY_LIMIT - 8, BODY_LIMIT + 64).map(lambda size: b" " * size)
)
#: Framing headers are the client's to set: a fuzzed one would only make the client refuse to send.
_FRAMING = {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade"}
header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-XSIGNATURE", min_size=1, max_size=16).filter(
    lambda name: name.lower() not in _FRAMING
)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(str.strip)
extra_headers = st.dictionaries(header_names, header_values, max_size=4)
path_ids = st.text(max_size=80).map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")) | st.binary(
    min_size=1, max_size=40
).map(lambda raw: quote_from_bytes(raw, safe=""))
missing_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20).map(
    lambda text: f"fuzz-missing-{text}"
)


def _quoted(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def webhook_paths(ids: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return (
        st.just("/webhooks/waffo")
        | ids.map(lambda id_: f"/webhooks/waffo/orders/{id_}")
        | ids.map(lambda id_: f"/webhooks/waffo/subscriptions/{id_}")
        | st.tuples(st.sampled_from(["kess", "waafipay", "x"]), ids).map(lambda p: f"/webhooks/{p[0]}/orders/{p[1]}")
    )


def signature(body: bytes, how: str) -> dict[str, str]:
    if how == "valid":
        return {"X-SIGNATURE": sign_bytes(body, _WAFFO_KEY)}
    if how == "forged":
        return {"X-SIGNATURE": sign_bytes(body, _FORGED_KEY)}
    if how == "garbage":
        return {"X-SIGNATURE": "not base64 at all =="}
    return {}


# -- the properties ---------------------------------------------------------------------------------------------


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, env=time_skipping_env) as running:
        running.webhooks.max_body_bytes = BODY_LIMIT
        yield running


async def fuzz(stack: OrderStack, body: Callable[[httpx.Client], None]) -> None:
    def run() -> None:
        with httpx.Client(base_url=stack.webhook_url, timeout=30) as http:
            body(http)

    await asyncio.to_thread(run)


def no_server_error(reply: httpx.Response, described: Any) -> None:
    assert reply.status_code < 500, f"{reply.status_code} for {described!r}: {reply.text[:200]}"


async def test_signed_and_unsigned_garbage_never_gets_a_5xx_and_signals_nothing(stack: OrderStack) -> None:
    def property_(http: httpx.Client) -> None:
        @FUZZ
        @given(
            path=webhook_paths(missing_ids | path_ids),
            body=bodies,
            how=st.sampled_from(["valid", "valid", "forged", "garbage", "none"]),
            headers=extra_headers,
        )
        def one(path: str, body: bytes, how: str, headers: dict[str, str]) -> None:
            sent = {**headers, **signature(body, how)}
            no_server_error(http.post(path, content=body, headers=sent), (path, body[:200], sent))

        one()

    await fuzz(stack, property_)
    assert stack.webhooks.counters.signalled == 0
    assert stack.webhooks.counters.received >= EXAMPLES // 2


async def test_a_real_order_is_untouched_by_unsigned_and_forged_bodies(stack: OrderStack) -> None:
    real_order = "fuzz-webhooks"
    await create(stack, real_order)
    handle = stack.client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id(real_order))
    before = await settled_history(handle)

    def property_(http: httpx.Client) -> None:
        @FUZZ
        @given(
            body=bodies | notification_shaped,
            how=st.sampled_from(["forged", "garbage", "none"]),
            headers=extra_headers,
            route=st.sampled_from([f"/webhooks/waffo/orders/{real_order}", "/webhooks/waffo"]),
        )
        def one(body: bytes, how: str, headers: dict[str, str], route: str) -> None:
            sent = {**headers, **signature(body, how)}
            no_server_error(http.post(route, content=body, headers=sent), (route, body[:200], sent))

        one()

    await fuzz(stack, property_)
    after = await settled_history(handle)
    assert len(after) == len(before)
    assert stack.webhooks.counters.signalled == 0


async def test_redirects_never_get_a_5xx_and_cost_a_real_order_at_most_its_hint_budget(stack: OrderStack) -> None:
    real_order = "fuzz-redirects"
    await create(stack, real_order)
    handle = stack.client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id(real_order))
    before = await settled_history(handle)
    queries = st.lists(
        st.tuples(
            st.sampled_from(["hppResultToken", "state", "referenceId", "x"]) | st.text(max_size=8),
            st.text(alphabet="ABCDEF0123456789", min_size=1, max_size=300) | st.text(max_size=40),
        ),
        max_size=3,
    ).map(lambda pairs: "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in pairs))

    def property_(http: httpx.Client) -> None:
        @FUZZ
        @given(
            provider=st.sampled_from(["waffo", "waafipay", "kess"]) | st.text(max_size=10).map(_quoted),
            order=st.just(real_order) | missing_ids | path_ids,
            result=st.sampled_from(["success", "failure", "cancel"]) | path_ids,
            query=queries,
            literal=st.booleans(),
            method=st.sampled_from(["GET", "POST"]),
            body=st.binary(max_size=200),
            headers=extra_headers,
        )
        def one(
            provider: str,
            order: str,
            result: str,
            query: str,
            literal: bool,
            method: str,
            body: bytes,
            headers: dict[str, str],
        ) -> None:
            if not provider or not result:
                return
            # WaafiPay appends ?hppResultToken= literally, even after an existing query.
            separator = "?" if not literal else "?x=1?"
            url = f"/callbacks/{provider}/orders/{order}/{result}{separator}{query}"
            reply = http.request(method, url, content=body if method == "POST" else None, headers=headers)
            no_server_error(reply, (method, url, headers))

        one()

    await fuzz(stack, property_)
    after = await settled_history(handle)
    assert inquiries(after) - inquiries(before) <= HINTS_PER_HOUR
