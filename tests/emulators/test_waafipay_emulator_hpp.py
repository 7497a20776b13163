"""WaafiPay emulator: the hosted payment page, its redirects (including the literal
"?hppResultToken=" append), result and transaction inquiries, HPP refunds and the 5-minute timeout."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.emulators.waafipay_support import (
    BASE_URL,
    EVC,
    FAILURE_URL,
    STORE_ID,
    SUCCESS_URL,
    ZAAD,
    WaafiPayApi,
    fast_config,
    hpp_params,
    purchase_params,
    waafipay_client,
)


@pytest.fixture
async def waafipay() -> AsyncIterator[WaafiPayApi]:
    async with waafipay_client() as api:
        yield api


async def create(waafipay: WaafiPayApi, **kwargs: Any) -> dict[str, Any]:
    return await waafipay.ok("HPP_PURCHASE", hpp_params(**kwargs))


def result_token(redirect_url: str) -> str:
    match = re.search(r"\?hppResultToken=([0-9A-F]+)$", redirect_url)
    assert match, redirect_url
    return match.group(1)


async def test_hpp_purchase_answers_urls_under_the_public_base(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay, reference="OrderId_422334")
    assert set(created) == {"hppUrl", "directPaymentLink", "orderId", "hppRequestId", "referenceId"}
    assert re.fullmatch(rf"{BASE_URL}/hpp/token/[0-9A-F]+", created["hppUrl"])
    assert created["directPaymentLink"] == f"{created['hppUrl']}?r={created['hppRequestId']}"
    assert created["referenceId"] == "OrderId_422334"
    assert await waafipay.ledger() == []


async def test_approve_redirect_appends_the_token_with_a_literal_question_mark(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay, amount="12.345")
    acted = await waafipay.hpp_action(created["referenceId"], "approve")
    redirect = acted["redirect"]
    assert redirect["method"] == "GET"
    # SUCCESS_URL already has "?order=42"; WaafiPay still appends "?hppResultToken=".
    assert redirect["url"].startswith(f"{SUCCESS_URL}?hppResultToken=")
    token = result_token(redirect["url"])
    result = await waafipay.ok("HPP_GETRESULTINFO", {"hppResultToken": token})
    assert result["state"] == "APPROVED"
    assert (result["procCode"], result["procDescription"]) == ("2001", "RCS_SUCCESS")
    assert result["txAmount"] == "12.34"
    assert result["referenceId"] == created["referenceId"]
    assert result["cardNo"] == "252611****1111"
    assert result["transactionId"] == acted["order"]["transactionId"]
    [entry] = await waafipay.ledger()
    assert (entry["kind"], entry["amount"], entry["serviceName"], entry["storeId"]) == (
        "charge",
        "12.34",
        "HPP_PURCHASE",
        STORE_ID,
    )
    assert await waafipay.balance(EVC) == "987.66"


@pytest.mark.parametrize(
    ("action", "proc_code", "proc_description"),
    [
        ("decline", "5214", "RCS_PAYMENTBROKER_REQUEST_FAILED"),
        ("cancel", "5306", "RCS_HPP_USERACTION_CANCELLED"),
        ("timeout", "5309", "RCS_HPP_USERACTION_TIMEOUT"),
    ],
)
async def test_failures_redirect_to_the_failure_url_and_answer_2001_declined(
    waafipay: WaafiPayApi, action: str, proc_code: str, proc_description: str
) -> None:
    created = await create(waafipay)
    acted = await waafipay.hpp_action(created["hppRequestId"], action)
    assert acted["redirect"]["url"].startswith(f"{FAILURE_URL}?hppResultToken=")
    body = await waafipay.call("HPP_GETRESULTINFO", {"hppResultToken": result_token(acted["redirect"]["url"])})
    assert (body["responseCode"], body["responseMsg"]) == ("2001", "RCS_SUCCESS")  # 2001 but not paid
    assert body["params"]["state"] == "DECLINED"
    assert (body["params"]["procCode"], body["params"]["procDescription"]) == (proc_code, proc_description)
    assert body["params"]["transactionId"] == "0"
    tran = await waafipay.call("HPP_GETTRANINFO", {"referenceId": created["referenceId"]})
    assert tran["responseCode"] == "5213"
    assert await waafipay.ledger() == []


async def test_result_errors_top_level() -> None:
    async with waafipay_client(fast_config(hpp_result_errors_top_level=True)) as api:
        created = await create(api)
        acted = await api.hpp_action(created["orderId"], "cancel")
        body = await api.call("HPP_GETRESULTINFO", {"hppResultToken": result_token(acted["redirect"]["url"])})
        assert (body["responseCode"], body["responseMsg"], body["params"]) == (
            "5306",
            "RCS_HPP_USERACTION_CANCELLED",
            {},
        )


async def test_approve_with_too_little_balance_declines(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(ZAAD, balance="1.00")
    created = await create(waafipay, subscription_id=ZAAD)
    acted = await waafipay.hpp_action(created["orderId"], "approve")
    assert acted["order"]["status"] == "declined"
    result = await waafipay.ok("HPP_GETRESULTINFO", {"hppResultToken": acted["order"]["hppResultToken"]})
    assert result["state"] == "DECLINED"
    assert "kuguma filna" in result["procDescription"]


async def test_card_payment(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay, method="CREDIT_CARD", subscription_id=None)
    acted = await waafipay.hpp_action(created["orderId"], "approve", {"accountNo": "5555555555554444"})
    result = await waafipay.ok("HPP_GETRESULTINFO", {"hppResultToken": acted["order"]["hppResultToken"]})
    assert (result["state"], result["cardType"], result["cardNo"]) == ("APPROVED", "MASTERCARD", "555555****4444")


async def test_format_2_carries_the_result_in_the_query_string(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay, data_format="2")
    redirect = (await waafipay.hpp_action(created["orderId"], "approve"))["redirect"]
    parts = urlsplit(redirect["url"])
    query = parse_qs(parts.query)
    assert query["order"] == ["42"]  # the merchant's own parameter survives
    assert query["state"] == ["APPROVED"]
    assert query["referenceId"] == [created["referenceId"]]
    assert query["transactionId"][0].isdigit()


async def test_format_1_posts_the_result(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay, data_format=1)
    redirect = (await waafipay.hpp_action(created["orderId"], "decline"))["redirect"]
    assert (redirect["method"], redirect["url"]) == ("POST", FAILURE_URL)
    assert redirect["fields"]["state"] == "DECLINED"
    assert redirect["fields"]["procCode"] == "5214"


async def test_invalid_data_format_and_disabled_method(waafipay: WaafiPayApi) -> None:
    assert (await waafipay.call("HPP_PURCHASE", hpp_params(data_format=3)))["responseCode"] == "5001"
    waafipay.emulator.register_merchant(
        "M0910291", "1000416", "API-1901083745AHX", "1000297", "HPP-3AB2D7C91E0F44AA", ["MWALLET_ACCOUNT"]
    )
    body = await waafipay.call("HPP_PURCHASE", hpp_params(method="CREDIT_CARD"))
    assert (body["responseCode"], body["errorCode"], body["responseMsg"]) == (
        "5035",
        "E10222",
        "RCS_FAILED_TOCREATE_ORDER",
    )
    assert body["params"] == {}


async def test_wrong_hpp_key(waafipay: WaafiPayApi) -> None:
    envelope = waafipay.envelope("HPP_PURCHASE", hpp_params(), "hpp")
    envelope["serviceParams"]["hppKey"] = "HPP-WRONG"
    body = (await waafipay.http.post("/asm", json=envelope)).json()
    assert (body["responseCode"], body["responseMsg"]) == ("5301", "RCS_INVALID_HPPKEY")


async def test_unknown_result_token(waafipay: WaafiPayApi) -> None:
    body = await waafipay.call("HPP_GETRESULTINFO", {"hppResultToken": "ABCDEF"})
    assert (body["responseCode"], body["responseMsg"]) == ("5303", "RCS_INVALID_HPPRESULTTOKEN")


async def test_gettraninfo_by_reference_and_transaction_id(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay, amount="2")
    pending = await waafipay.call("HPP_GETTRANINFO", {"referenceId": created["referenceId"]})
    assert pending["responseCode"] == "5213"
    order = (await waafipay.hpp_action(created["referenceId"], "approve"))["order"]
    info = await waafipay.ok("HPP_GETTRANINFO", {"referenceId": created["referenceId"]})
    assert info["transactionId"] == order["transactionId"]
    assert (info["status"], info["tranStatusId"], info["tranStatusDesc"]) == ("Approved", "3", "Approved")
    assert (info["amount"], info["tranAmount"], info["currency"]) == ("2.0", "2.0", "USD")
    assert info["payerId"] == EVC
    assert info["paymentMethod"] == "mwallet_account"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{1,3}", info["tranDate"])
    assert await waafipay.ok("HPP_GETTRANINFO", {"transactionId": int(order["transactionId"])}) == info


async def test_gettraninfo_sees_api_purchases_only_when_configured(waafipay: WaafiPayApi) -> None:
    paid = await waafipay.ok("API_PURCHASE", purchase_params())
    assert (await waafipay.call("HPP_GETTRANINFO", {"referenceId": paid["referenceId"]}))["responseCode"] == "5213"
    async with waafipay_client(fast_config(tran_info_includes_api=True)) as api:
        paid = await api.ok("API_PURCHASE", purchase_params())
        info = await api.ok("HPP_GETTRANINFO", {"referenceId": paid["referenceId"]})
        assert info["transactionId"] == paid["transactionId"]


async def test_hpp_refunds(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay, amount="10")
    order = (await waafipay.hpp_action(created["orderId"], "approve"))["order"]
    by_reference = await waafipay.ok(
        "HPP_REFUNDPURCHASE", {"amount": "4", "referenceId": created["referenceId"], "description": "Hpp refund"}
    )
    assert by_reference["state"] == "approved"
    assert by_reference["referenceId"] == created["referenceId"]
    by_id = {"amount": 6, "transactionId": int(order["transactionId"])}
    too_much = await waafipay.call("HPP_REFUNDPURCHASE", {**by_id, "amount": "6.01"})
    assert too_much["responseCode"] == "5222"
    await waafipay.ok("HPP_REFUNDPURCHASE", by_id)
    again = await waafipay.call("HPP_REFUNDPURCHASE", by_id)
    assert (again["responseCode"], again["errorCode"], again["responseMsg"]) == (
        "5202",
        "E10207",
        "RCS_TRAN_ALREADY_CANCELLED",
    )
    assert "params" not in again
    assert [(e["kind"], e["amount"]) for e in await waafipay.ledger()] == [
        ("charge", "10.00"),
        ("refund", "4.00"),
        ("refund", "6.00"),
    ]
    unknown = await waafipay.call("HPP_REFUNDPURCHASE", {"amount": "1", "referenceId": "nope"})
    assert unknown["responseCode"] == "5213"


async def test_hpp_purchase_idempotency(waafipay: WaafiPayApi) -> None:
    params = hpp_params()
    first = await waafipay.ok("HPP_PURCHASE", params)
    assert await waafipay.ok("HPP_PURCHASE", params) == first
    changed = hpp_params(reference=params["transactionInfo"]["referenceId"], amount="11")
    assert (await waafipay.call("HPP_PURCHASE", changed))["responseCode"] == "5222"
    await waafipay.hpp_action(first["orderId"], "cancel")
    retry = await waafipay.ok("HPP_PURCHASE", changed)  # after a failed page, a new order
    assert retry["orderId"] != first["orderId"]


async def test_timeout_after_five_scaled_minutes(waafipay: WaafiPayApi) -> None:
    waafipay.emulator.config.hpp_timeout_s = 10  # 0.1 s at time_scale 0.01
    created = await create(waafipay)
    await waafipay.control("POST", "/clock/advance", {"seconds": 0.15})
    order = (await waafipay.control("GET", f"/hpp/{created['orderId']}")).json()
    assert order["status"] == "timed_out"
    late = await waafipay.control("POST", f"/hpp/{created['orderId']}/approve")
    assert late.status_code == 409
    result = await waafipay.ok("HPP_GETRESULTINFO", {"hppResultToken": order["hppResultToken"]})
    assert (result["state"], result["procCode"]) == ("DECLINED", "5309")


async def test_timeout_follows_the_clock(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay)
    await waafipay.control("POST", "/clock/advance", {"seconds": 2})  # 300 s x 0.01 = 3 s
    assert (await waafipay.control("GET", f"/hpp/{created['orderId']}")).json()["status"] == "pending"
    await waafipay.control("POST", "/clock/advance", {"seconds": 1.5})
    assert (await waafipay.control("GET", f"/hpp/{created['orderId']}")).json()["status"] == "timed_out"


# -- the page itself ----------------------------------------------------------------------------


async def test_page_approve_redirects_the_browser(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay)
    page = await waafipay.http.get(created["directPaymentLink"])
    assert page.status_code == 200
    assert created["referenceId"] in page.text
    for action in ("approve", "decline", "cancel"):
        assert "/hpp/token/" in page.text and f"/{action}" in page.text
    posted = await waafipay.http.post(
        created["hppUrl"], data={"hppRequestId": created["hppRequestId"], "referenceId": created["referenceId"]}
    )
    assert posted.status_code == 200
    response = await waafipay.http.post(f"{created['hppUrl']}/approve")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{SUCCESS_URL}?hppResultToken=")
    result = await waafipay.ok("HPP_GETRESULTINFO", {"hppResultToken": result_token(location)})
    assert result["state"] == "APPROVED"
    done = await waafipay.http.get(created["hppUrl"])
    assert "approved" in done.text and "Return to merchant" in done.text
    twice = await waafipay.http.post(f"{created['hppUrl']}/decline")
    assert "Not possible" in twice.text


async def test_page_cancel_and_format_1_auto_post(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay, data_format=1)
    response = await waafipay.http.post(f"{created['hppUrl']}/cancel")
    assert response.status_code == 200
    assert f'action="{FAILURE_URL}"' in response.text
    assert 'name="state" value="DECLINED"' in response.text


async def test_page_errors(waafipay: WaafiPayApi) -> None:
    created = await create(waafipay)
    assert (await waafipay.http.get(f"{BASE_URL}/hpp/token/ABC")).status_code == 404
    mismatch = await waafipay.http.get(f"{created['hppUrl']}?r=1")
    assert mismatch.status_code == 400 and "RCS_HPP_REQUESTID_MISMATCH" in mismatch.text
    wrong_ref = await waafipay.http.post(created["hppUrl"], data={"referenceId": "other"})
    assert "RCS_HPP_MERCHANT_REFERENCEID_MISMATCH" in wrong_ref.text
    assert (await waafipay.control("POST", f"/hpp/{created['orderId']}/explode")).status_code == 404
    assert (await waafipay.control("GET", "/hpp/unknown")).status_code == 404


@pytest.mark.parametrize("method", ["MWALLET_ACCOUNT", "mwallet_account"])
async def test_a_wallet_page_without_the_payers_number_is_refused(waafipay: WaafiPayApi, method: str) -> None:
    # Seed 002, HPP_PURCHASE: payerInfo.subscriptionId is "Required for MWALLET_ACCOUNT payment method".
    answer = await waafipay.call("HPP_PURCHASE", hpp_params(method=method, subscription_id=None))
    assert (answer["responseCode"], answer["errorCode"]) == ("5001", "E10001"), answer
    assert "payerInfo.subscriptionId" in answer["responseMsg"]
    assert waafipay.emulator.state.orders == {}


async def test_hpp_subscription_id_optional_relaxes_it() -> None:
    async with waafipay_client(fast_config(hpp_subscription_id_optional=True)) as api:
        created = await api.ok("HPP_PURCHASE", hpp_params(subscription_id=None))
        assert created["hppUrl"]
