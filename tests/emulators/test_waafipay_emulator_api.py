"""WaafiPay emulator: the /asm envelope, credentials, API purchases with scripted payers,
referenceId idempotency, reversals, pre-authorizations and refunds."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from emulators.waafipay import WaafiPayEmulatorConfig
from emulators.waafipay.codes import CodeBook
from emulators.waafipay.wire import format_timestamp
from tests.emulators.waafipay_support import (
    API_KEY,
    EVC,
    MERCHANT_UID,
    OTHER_UID,
    ZAAD,
    WaafiPayApi,
    fast_config,
    hpp_params,
    new_emulator,
    purchase_params,
    ref,
    waafipay_client,
)


@pytest.fixture
async def waafipay() -> AsyncIterator[WaafiPayApi]:
    async with waafipay_client() as api:
        yield api


def declined(body: dict[str, Any], text: str) -> None:
    assert (body["responseCode"], body["errorCode"]) == ("5206", "E10205"), body
    assert body["responseMsg"].startswith("RCS_TRAN_FAILED_AT_ISSUER_SYSTEM (")
    assert text in body["responseMsg"]
    assert ", TransactionId: " in body["responseMsg"]
    assert body["params"] == []


# -- envelope and credentials -------------------------------------------------------------------


async def test_purchase_success_envelope_and_params(waafipay: WaafiPayApi) -> None:
    params = purchase_params(amount=Decimal("12.5"), reference="ORD-1")
    response = await waafipay.raw("API_PURCHASE", params)
    body = response.json()
    assert list(body) == [
        "schemaVersion",
        "timestamp",
        "responseId",
        "requestId",
        "sessionId",
        "responseCode",
        "errorCode",
        "responseMsg",
        "params",
    ]
    assert body["schemaVersion"] == "1.0"
    assert body["requestId"].startswith("RPYWP")
    assert body["sessionId"] is None
    result = body["params"]
    assert result["state"] == "APPROVED"
    assert result["accountNo"] == "252611****1111"
    assert result["accountType"] == "MWALLET_ACCOUNT"
    assert result["txAmount"] == "12.5"
    assert result["referenceId"] == "ORD-1"
    assert result["transactionId"].isdigit() and result["issuerTransactionId"].isdigit()
    assert result["merchantCharges"] == "0"
    assert await waafipay.balance(EVC) == "987.50"


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (datetime(2024, 11, 5, 12, 19, 5, 50_000, tzinfo=UTC), "2024-11-05 12:19:05.05"),
        (datetime(2024, 11, 5, 10, 58, 50, tzinfo=UTC), "2024-11-05 10:58:50.0"),
        (datetime(2024, 11, 5, 9, 4, 44, 741_999, tzinfo=UTC), "2024-11-05 09:04:44.741"),
    ],
)
def test_timestamp_format_drops_trailing_zeros(when: datetime, text: str) -> None:
    assert format_timestamp(when) == text


async def test_response_timestamp_follows_the_clock(waafipay: WaafiPayApi) -> None:
    await waafipay.control("POST", "/clock/set", {"now": "2024-11-05T12:19:05+00:00"})
    body = await waafipay.call("API_PURCHASE", {"nothing": True})
    assert re.fullmatch(r"2024-11-05 12:19:0\d\.\d{1,3}", body["timestamp"])


@pytest.mark.parametrize(
    ("service", "override"),
    [
        ("API_PURCHASE", {"apiKey": "API-0000000000AHX"}),
        ("API_PURCHASE", {"apiUserId": "1000417"}),
        ("API_PURCHASE", {"merchantUid": "M000"}),
        ("API_REFUND", {"apiKey": None}),
    ],
)
async def test_wrong_api_credentials(waafipay: WaafiPayApi, service: str, override: dict[str, Any]) -> None:
    envelope = waafipay.envelope(service, purchase_params(), "api")
    envelope["serviceParams"].update(override)
    body = (await waafipay.http.post("/asm", json=envelope)).json()
    assert body["responseCode"] == "5110"
    assert body["responseMsg"] == "RCS_USER_IS_NOT_AUTHZ_TO_ACCESS_API"
    assert await waafipay.ledger() == []


async def test_api_credentials_do_not_open_hpp_services(waafipay: WaafiPayApi) -> None:
    body = await waafipay.call("HPP_GETTRANINFO", {"referenceId": "x"}, credentials="api")
    assert (body["responseCode"], body["responseMsg"]) == ("5301", "RCS_INVALID_HPPKEY")


async def test_unknown_service_and_bad_bodies(waafipay: WaafiPayApi) -> None:
    body = await waafipay.call("API_CREDITACCOUNT", {})
    assert (body["responseCode"], body["errorCode"]) == ("5222", "E10235")
    not_json = (await waafipay.http.post("/asm", content=b"{nope")).json()
    assert not_json["responseCode"] == "5001"
    assert not_json["requestId"] is None
    no_params = waafipay.envelope("API_PURCHASE", {}, "api")
    del no_params["serviceParams"]
    assert (await waafipay.http.post("/asm", json=no_params)).json()["responseCode"] == "5001"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["transactionInfo"].pop("referenceId"), "transactionInfo.referenceId"),
        (lambda p: p["transactionInfo"].update(amount="ten"), "transactionInfo.amount"),
        (lambda p: p["transactionInfo"].update(amount="0.001"), "transactionInfo.amount"),
        (lambda p: p["payerInfo"].update(accountNo="+25261abc"), "payerInfo.accountNo"),
        (lambda p: p["transactionInfo"].update(currency="$"), "transactionInfo.currency"),
    ],
)
async def test_validation_errors(waafipay: WaafiPayApi, mutate: Any, field: str) -> None:
    params = purchase_params()
    mutate(params)
    body = await waafipay.call("API_PURCHASE", params)
    assert body["responseCode"] == "5001"
    assert field in body["responseMsg"]
    assert body["params"] == {}


async def test_card_method_is_not_allowed_over_the_api(waafipay: WaafiPayApi) -> None:
    params = purchase_params()
    params["paymentMethod"] = "CREDIT_CARD"
    body = await waafipay.call("API_PURCHASE", params)
    assert body["responseCode"] == "5222"
    params["paymentMethod"] = "mwallet_account"  # case-insensitive, as apps send it
    assert (await waafipay.ok("API_PURCHASE", params))["state"] == "APPROVED"


@pytest.mark.parametrize(
    ("amount", "currency", "charged", "tx_amount"),
    [
        ("10.237", "USD", "10.23", "10.23"),
        (Decimal("10.999"), "USD", "10.99", "10.99"),
        (10, "USD", "10.00", "10.0"),
        ("1500.75", "DJF", "1500", "1500.0"),
        ("2000", "SLSH", "2000.00", "2000.0"),
    ],
)
async def test_amounts_are_truncated(
    waafipay: WaafiPayApi, amount: Any, currency: str, charged: str, tx_amount: str
) -> None:
    await waafipay.wallet(EVC, balance="100000")
    result = await waafipay.ok("API_PURCHASE", purchase_params(amount=amount, currency=currency))
    assert result["txAmount"] == tx_amount
    [entry] = await waafipay.ledger()
    assert (entry["amount"], entry["currency"]) == (charged, currency)


# -- payer behaviours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "text"),
    [
        ("reject", "User Aborted"),
        ("insufficient", "Hadhaagaagu kuguma filna. Hadhaagaagu waa 1000.0"),
        ("wrong_pin", "Invalid PIN code"),
        ("timeout", "Dialog Timedout"),
        ("not_found", "Subscriber not found"),
    ],
)
async def test_payer_declines(waafipay: WaafiPayApi, behaviour: str, text: str) -> None:
    await waafipay.wallet(EVC, behaviour=behaviour)
    declined(await waafipay.call("API_PURCHASE", purchase_params()), text)
    assert await waafipay.ledger() == []
    assert await waafipay.balance(EVC) == "1000.00"


async def test_no_route(waafipay: WaafiPayApi) -> None:
    body = await waafipay.call("API_PURCHASE", purchase_params(account="447700900123"))
    assert body["responseMsg"] == "RCS_NO_ROUTE_FOUND"
    await waafipay.wallet(ZAAD, behaviour="no_route")
    assert (await waafipay.call("API_PURCHASE", purchase_params(account=ZAAD)))["responseMsg"] == "RCS_NO_ROUTE_FOUND"


async def test_unknown_routable_number_is_not_found(waafipay: WaafiPayApi) -> None:
    declined(await waafipay.call("API_PURCHASE", purchase_params(account="252619999999")), "Subscriber not found")


async def test_auto_created_wallets() -> None:
    async with waafipay_client(fast_config(auto_create_wallets=True)) as api:
        assert (await api.ok("API_PURCHASE", purchase_params(account="252619999999")))["state"] == "APPROVED"
        assert await api.balance("252619999999") == "990.00"


async def test_real_balance_and_pin_checks(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(ZAAD, balance="5.00", pin="4321")
    declined(await waafipay.call("API_PURCHASE", purchase_params(account=ZAAD, amount="5.01")), "kuguma filna")
    await waafipay.wallet(ZAAD, behaviour={"action": "approve", "pin": "1212"})
    declined(await waafipay.call("API_PURCHASE", purchase_params(account=ZAAD, amount="1")), "Invalid PIN code")
    await waafipay.wallet(ZAAD, behaviour={"action": "approve", "pin": "4321"})
    assert (await waafipay.ok("API_PURCHASE", purchase_params(account=ZAAD, amount="5")))["txAmount"] == "5.0"
    assert await waafipay.balance(ZAAD) == "0.00"


async def test_behaviour_list_is_consumed_per_push(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour=["reject", "wrong_pin", "approve"])
    declined(await waafipay.call("API_PURCHASE", purchase_params()), "User Aborted")
    declined(await waafipay.call("API_PURCHASE", purchase_params()), "Invalid PIN code")
    for _ in range(2):  # the last step stays in force
        assert (await waafipay.ok("API_PURCHASE", purchase_params()))["state"] == "APPROVED"


async def test_reject_as_user_rejected() -> None:
    async with waafipay_client(fast_config(reject_as_user_rejected=True)) as api:
        await api.wallet(EVC, behaviour="reject")
        body = await api.call("API_PURCHASE", purchase_params())
        assert (body["responseCode"], body["responseMsg"]) == ("5310", "RCS_USER_REJECTED")


async def test_purchase_blocks_until_the_payer_answers_scaled(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour={"action": "approve", "afterS": 30})  # 0.3 s at time_scale 0.01
    started = time.monotonic()
    assert (await waafipay.ok("API_PURCHASE", purchase_params()))["state"] == "APPROVED"
    assert 0.3 <= time.monotonic() - started < 2


async def test_pin_dialog_times_out_after_pin_timeout(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour={"action": "approve", "afterS": 90})  # slower than the 60 s dialog
    started = time.monotonic()
    declined(await waafipay.call("API_PURCHASE", purchase_params()), "Dialog Timedout")
    assert 0.6 <= time.monotonic() - started < 2


async def test_client_giving_up_does_not_stop_the_payment(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour={"action": "approve", "afterS": 20})
    params = purchase_params()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(waafipay.call("API_PURCHASE", params), 0.05)
    assert (await waafipay.control("POST", "/settle", {"timeoutS": 5})).json() == {"settled": True}
    [entry] = await waafipay.ledger()
    assert (entry["kind"], entry["referenceId"]) == ("charge", params["transactionInfo"]["referenceId"])


# -- referenceId idempotency --------------------------------------------------------------------


async def test_same_reference_replays_the_approved_purchase(waafipay: WaafiPayApi) -> None:
    params = purchase_params()
    first = await waafipay.ok("API_PURCHASE", params)
    again = await waafipay.ok("API_PURCHASE", params)
    assert again == first
    assert len(await waafipay.ledger()) == 1


async def test_same_reference_joins_a_push_in_progress(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour={"action": "approve", "afterS": 20})
    params = purchase_params()
    first, second = await asyncio.gather(waafipay.ok("API_PURCHASE", params), waafipay.ok("API_PURCHASE", params))
    assert first["transactionId"] == second["transactionId"]
    assert len(await waafipay.ledger()) == 1


async def test_same_reference_with_other_parameters_is_refused(waafipay: WaafiPayApi) -> None:
    reference = ref()
    await waafipay.ok("API_PURCHASE", purchase_params(reference=reference))
    body = await waafipay.call("API_PURCHASE", purchase_params(reference=reference, amount="11"))
    assert (body["responseCode"], body["errorCode"]) == ("5222", "E10235")
    assert len(await waafipay.ledger()) == 1


async def test_same_reference_after_a_decline_is_a_new_attempt(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour=["reject", "approve"])
    params = purchase_params()
    declined(await waafipay.call("API_PURCHASE", params), "User Aborted")
    assert (await waafipay.ok("API_PURCHASE", params))["state"] == "APPROVED"


@pytest.mark.parametrize(("policy", "entries"), [("allow", 2), ("reject", 1)])
async def test_duplicate_reference_policies(policy: str, entries: int) -> None:
    config = fast_config(duplicate_reference=policy)
    async with waafipay_client(config) as api:
        params = purchase_params()
        await api.ok("API_PURCHASE", params)
        second = await api.call("API_PURCHASE", params)
        assert second["responseCode"] == ("2001" if policy == "allow" else "5222")
        assert len(await api.ledger()) == entries


# -- reversal -----------------------------------------------------------------------------------


def follow_up(transaction_id: str, **extra: Any) -> dict[str, Any]:
    return {"paymentMethod": "MWALLET_ACCOUNT", "transactionId": transaction_id, "description": "test", **extra}


async def test_cancel_purchase_reverses_once(waafipay: WaafiPayApi) -> None:
    paid = await waafipay.ok("API_PURCHASE", purchase_params(amount="25"))
    cancelled = await waafipay.ok(
        "API_CANCELPURCHASE", follow_up(paid["transactionId"], referenceId=paid["referenceId"])
    )
    assert cancelled["state"] == "approved"
    assert cancelled["description"] == "success"
    assert cancelled["transactionId"] != paid["transactionId"]
    assert cancelled["referenceId"] == paid["referenceId"]
    assert await waafipay.balance(EVC) == "1000.00"
    again = await waafipay.call("API_CANCELPURCHASE", follow_up(paid["transactionId"]))
    assert (again["responseCode"], again["errorCode"], again["responseMsg"]) == (
        "5202",
        "E10207",
        "RCS_TRAN_ALREADY_CANCELLED",
    )
    assert "params" not in again
    assert [(e["kind"], e["amount"]) for e in await waafipay.ledger()] == [("charge", "25.00"), ("void", "25.00")]


async def test_cancel_unknown_or_foreign_transaction(waafipay: WaafiPayApi) -> None:
    unknown = await waafipay.call("API_CANCELPURCHASE", follow_up("999"))
    assert (unknown["responseCode"], unknown["errorCode"], unknown["responseMsg"]) == (
        "5213",
        "E10206",
        "RCS_TRAN_NOT_FOUND",
    )
    assert unknown["params"] == []
    paid = await waafipay.ok("API_PURCHASE", purchase_params())
    wrong_reference = await waafipay.call("API_CANCELPURCHASE", follow_up(paid["transactionId"], referenceId="zzz"))
    assert wrong_reference["responseCode"] == "5213"
    envelope = waafipay.envelope("API_CANCELPURCHASE", follow_up(paid["transactionId"]), "none")
    envelope["serviceParams"].update(merchantUid=OTHER_UID, apiUserId="1000999", apiKey="API-9999999999AHX")
    assert (await waafipay.http.post("/asm", json=envelope)).json()["responseCode"] == "5213"


async def test_cancel_after_partial_refund_is_refused(waafipay: WaafiPayApi) -> None:
    paid = await waafipay.ok("API_PURCHASE", purchase_params(amount="10"))
    await waafipay.ok("API_REFUND", {"transactionId": paid["transactionId"], "amount": "4"})
    assert (await waafipay.call("API_CANCELPURCHASE", follow_up(paid["transactionId"])))["responseCode"] == "5213"


# -- pre-authorization --------------------------------------------------------------------------


async def test_preauthorize_then_commit(waafipay: WaafiPayApi) -> None:
    held = await waafipay.ok("API_PREAUTHORIZE", purchase_params(amount="30"))
    assert held["state"] == "APPROVED"
    wallet = (await waafipay.control("GET", f"/wallets/{EVC}")).json()
    assert (wallet["balance"], wallet["held"]) == ("970.00", "30.00")
    committed = await waafipay.ok(
        "API_PREAUTHORIZE_COMMIT", {"transactionId": held["transactionId"], "referenceId": held["referenceId"]}
    )
    assert committed["state"] == "approved"
    again = await waafipay.ok("API_PREAUTHORIZE_COMMIT", {"transactionId": held["transactionId"]})
    assert again == committed  # a repeated commit answers the same commit
    cancel = await waafipay.call("API_PREAUTHORIZE_CANCEL", {"transactionId": held["transactionId"]})
    assert cancel["responseCode"] == "5213"
    wallet = (await waafipay.control("GET", f"/wallets/{EVC}")).json()
    assert (wallet["balance"], wallet["held"]) == ("970.00", "0.00")
    # A committed hold is refundable like a purchase, by either id.
    await waafipay.ok("API_REFUND", {"transactionId": committed["transactionId"], "amount": "10"})
    kinds = [(e["kind"], e["amount"], e["serviceName"]) for e in await waafipay.ledger()]
    assert kinds == [
        ("authorization", "30.00", "API_PREAUTHORIZE"),
        ("capture", "30.00", "API_PREAUTHORIZE_COMMIT"),
        ("refund", "10.00", "API_REFUND"),
    ]


async def test_repeated_commit_can_answer_not_found() -> None:
    # Undocumented: what WaafiPay answers a commit of a hold it already committed. Either way, once.
    async with waafipay_client(fast_config(repeated_commit="not_found")) as waafipay:
        held = await waafipay.ok("API_PREAUTHORIZE", purchase_params(amount="30"))
        await waafipay.ok("API_PREAUTHORIZE_COMMIT", {"transactionId": held["transactionId"]})
        again = await waafipay.call("API_PREAUTHORIZE_COMMIT", {"transactionId": held["transactionId"]})
        assert (again["responseCode"], again["errorCode"]) == ("5213", "E10206")
        assert [e["kind"] for e in await waafipay.ledger()] == ["authorization", "capture"]


async def test_preauthorize_then_cancel(waafipay: WaafiPayApi) -> None:
    held = await waafipay.ok("API_PREAUTHORIZE", purchase_params(amount="30"))
    refund = await waafipay.call("API_REFUND", {"transactionId": held["transactionId"], "amount": "1"})
    assert refund["responseCode"] == "5213"
    reverse = await waafipay.call("API_CANCELPURCHASE", follow_up(held["transactionId"]))
    assert reverse["responseCode"] == "5213"
    released = await waafipay.ok("API_PREAUTHORIZE_CANCEL", {"transactionId": held["transactionId"]})
    assert released["state"] == "approved"
    assert await waafipay.balance(EVC) == "1000.00"
    for service in ("API_PREAUTHORIZE_CANCEL", "API_PREAUTHORIZE_COMMIT"):
        body = await waafipay.call(service, {"transactionId": held["transactionId"]})
        assert (body["responseCode"], body["errorCode"]) == ("5202", "E10207")
    assert [e["kind"] for e in await waafipay.ledger()] == ["authorization", "void"]


async def test_commit_of_a_purchase_is_not_found(waafipay: WaafiPayApi) -> None:
    paid = await waafipay.ok("API_PURCHASE", purchase_params())
    assert (await waafipay.call("API_PREAUTHORIZE_COMMIT", {"transactionId": paid["transactionId"]}))[
        "responseCode"
    ] == "5213"


async def test_preauthorize_declines_like_a_purchase(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour="reject")
    declined(await waafipay.call("API_PREAUTHORIZE", purchase_params()), "User Aborted")


# -- refunds ------------------------------------------------------------------------------------


async def test_partial_and_multiple_refunds_up_to_the_paid_amount(waafipay: WaafiPayApi) -> None:
    paid = await waafipay.ok("API_PURCHASE", purchase_params(amount="10"))
    txn = paid["transactionId"]
    first = await waafipay.ok("API_REFUND", {"transactionId": txn, "amount": "3.339", "description": "part"})
    assert first["state"] == "approved"
    second = await waafipay.ok("API_REFUND", {"transactionId": txn, "amount": 4})
    assert first["transactionId"] != second["transactionId"]
    too_much = await waafipay.call("API_REFUND", {"transactionId": txn, "amount": "2.68"})
    assert (too_much["responseCode"], too_much["errorCode"]) == ("5222", "E10235")
    await waafipay.ok("API_REFUND", {"transactionId": txn, "amount": "2.67"})
    done = await waafipay.call("API_REFUND", {"transactionId": txn, "amount": "0.01"})
    assert (done["responseCode"], done["errorCode"]) == ("5202", "E10207")
    assert await waafipay.balance(EVC) == "1000.00"
    refunds = [e["amount"] for e in await waafipay.ledger() if e["kind"] == "refund"]
    assert refunds == ["3.33", "4.00", "2.67"]
    view = (await waafipay.control("GET", f"/transactions/{txn}")).json()
    assert view["refunded"] == "10.0"
    assert len(view["refunds"]) == 3


async def test_refund_errors(waafipay: WaafiPayApi) -> None:
    assert (await waafipay.call("API_REFUND", {"transactionId": "1", "amount": "1"}))["responseCode"] == "5213"
    paid = await waafipay.ok("API_PURCHASE", purchase_params())
    missing = await waafipay.call("API_REFUND", {"transactionId": paid["transactionId"]})
    assert missing["responseCode"] == "5001"
    await waafipay.ok("API_CANCELPURCHASE", follow_up(paid["transactionId"]))
    after_cancel = await waafipay.call("API_REFUND", {"transactionId": paid["transactionId"], "amount": "1"})
    assert after_cancel["responseCode"] == "5202"


async def test_refund_reference_replay() -> None:
    async with waafipay_client(fast_config(refund_reference_replay=True)) as api:
        paid = await api.ok("API_PURCHASE", purchase_params(amount="10"))
        body = {"transactionId": paid["transactionId"], "amount": "2", "referenceId": "RF-1"}
        first = await api.ok("API_REFUND", body)
        assert await api.ok("API_REFUND", body) == first
        assert (await api.call("API_REFUND", {**body, "amount": "3"}))["responseCode"] == "5222"
        assert len([e for e in await api.ledger() if e["kind"] == "refund"]) == 1


# -- response shapes and configuration ----------------------------------------------------------


@pytest.mark.parametrize(("shape", "expected"), [("object", {}), ("list", []), ("absent", None)])
async def test_failure_params_shape(shape: str, expected: Any) -> None:
    async with waafipay_client(fast_config(failure_params=shape, echo_request_id=False)) as api:
        body = await api.call("API_CANCELPURCHASE", follow_up("404"))
        assert body.get("params") == expected
        assert "requestId" not in body and "sessionId" not in body


async def test_code_overrides() -> None:
    config = fast_config(code_overrides={"no_route": ("5999", "E19999", "RCS_NO_ROUTE")})
    async with waafipay_client(config) as api:
        body = await api.call("API_PURCHASE", purchase_params(account="11111111111"))
        assert (body["responseCode"], body["errorCode"], body["responseMsg"]) == ("5999", "E19999", "RCS_NO_ROUTE")
    with pytest.raises(ValueError, match="unknown code name"):
        CodeBook({"nope": ("1", "2", "3")})


async def test_strict_reference_id() -> None:
    async with waafipay_client(fast_config(strict_reference_id=True)) as api:
        body = await api.call("API_PURCHASE", purchase_params(reference="WS:6671753970"))
        assert body["responseCode"] == "5001"
    async with waafipay_client() as api:
        assert (await api.ok("API_PURCHASE", purchase_params(reference="WS:6671753970")))["state"] == "APPROVED"


def test_config_defaults_follow_the_reference() -> None:
    config = WaafiPayEmulatorConfig()
    assert (config.hpp_timeout_s, config.amount_decimals, config.time_scale) == (300, 2, 1.0)


def test_register_merchant_validation() -> None:
    emulator = new_emulator()
    with pytest.raises(ValueError, match="go together"):
        emulator.register_merchant(MERCHANT_UID, "1", API_KEY, store_id="1")
    with pytest.raises(ValueError, match="hpp_payment_methods"):
        emulator.register_merchant(MERCHANT_UID, "1", API_KEY, "1", "HPP-1", hpp_payment_methods=["CASH"])


@pytest.mark.parametrize(
    ("amount_json", "accepted", "refused"),
    [
        ("number_or_string", (10, "10", Decimal("10.50")), ()),  # what seeds 001/002 show, examples included
        ("number", (10, Decimal("10.50")), ("10", "10.50")),  # the type tables alone: Number
        ("string", ("10", "10.50"), (10, Decimal("10.50"))),  # the HPP_REFUNDPURCHASE example alone: "10"
    ],
)
async def test_amount_json_types(amount_json: str, accepted: tuple[Any, ...], refused: tuple[Any, ...]) -> None:
    async with waafipay_client(fast_config(amount_json=amount_json)) as api:
        for amount in accepted:
            await api.ok("HPP_PURCHASE", hpp_params(amount=amount))
        for amount in refused:
            answer = await api.call("HPP_PURCHASE", hpp_params(amount=amount))
            assert (answer["responseCode"], answer["errorCode"]) == ("5001", "E10001"), (amount, answer)
            assert "transactionInfo.amount" in answer["responseMsg"]
