"""The emulators' saved state (``billing dev``'s ``emulators.db``): what one hub saved, the next one restores:
the KESS token key, WaafiPay wallets and id counters, and Waffo notifications still to be delivered."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from emulators.hub import EmulatorHub, build_hub
from emulators.kess.local import KessAccount
from emulators.waffo.local import WaffoAccount
from tests.emulators.waffo_support import new_key, public_b64


def _hub(state_file: Path, key_b64: str, *, fresh: bool = False) -> EmulatorHub:
    return build_hub(
        public_base_url="http://127.0.0.1:1",
        accounts={
            "waffo": WaffoAccount("key-1", "MID-1", b"", key_b64.encode(), b"", b""),
            "kess": KessAccount("user", "password", "109038"),
        },
        state_file=state_file,
        fresh=fresh,
    )


async def test_state_saved_by_one_hub_is_restored_by_the_next(tmp_path: Path) -> None:
    state_file = tmp_path / "emulators.db"
    key_b64 = public_b64(new_key())
    first = _hub(state_file, key_b64)
    assert first.restored == ()
    token = first.kess.issue_token("user", "password")
    assert token is not None
    first.waafipay.set_wallet("252611999999", balance=Decimal("42.00"))
    transaction_id = first.waafipay.state.ids.next_transaction()
    first.waffo.notify("MID-1", "http://127.0.0.1:1/unreachable", "PAYMENT_NOTIFICATION", {"orderStatus": "X"})
    first.waffo.clock.advance(3600)
    first.save_state()
    await first.aclose()
    assert state_file.stat().st_mode & 0o077 == 0

    second = _hub(state_file, key_b64)
    try:
        assert set(second.restored) == {"waffo", "kess", "waafipay"}
        assert second.kess.authenticate(token) is not None, "tokens issued before the restart stay valid"
        assert second.waafipay.state.wallets["252611999999"].balance == Decimal("42.00")
        assert int(second.waafipay.state.ids.next_transaction()) == int(transaction_id) + 1
        [notification] = second.waffo.notifier.notifications
        assert notification.status == "pending" and notification.owner == "MID-1"
        assert "queued again" in notification.notes[-1]
        assert second.waffo.clock.offset.total_seconds() == 3600
    finally:
        await second.aclose()

    fresh = _hub(state_file, key_b64, fresh=True)
    try:
        assert fresh.restored == ()
        assert fresh.waffo.notifier.notifications == []
        assert fresh.kess.authenticate(token) is None
    finally:
        await fresh.aclose()


async def test_a_change_made_through_a_request_is_on_disk_when_the_answer_arrives(tmp_path: Path) -> None:
    """Written on each change, before the caller sees the answer: a process killed right after loses nothing."""
    import pickle

    import httpx

    from emulators.common.persistence import StateFile

    state_file = tmp_path / "emulators.db"
    hub = _hub(state_file, public_b64(new_key()))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hub.app), base_url="http://hub.test") as http:
            answer = await http.post("/waffo/control/clock/advance", json={"seconds": 120})
            assert answer.status_code == 200
            on_disk = StateFile(state_file)  # another reader, as the next process would be
            try:
                saved = pickle.loads(on_disk.load()["waffo"])  # noqa: S301 - our own test file
            finally:
                on_disk.close()
            assert saved["clock"].total_seconds() == 120
    finally:
        await hub.aclose()


async def test_queued_faults_are_restored_with_what_is_left_of_them(tmp_path: Path) -> None:
    state_file = tmp_path / "emulators.db"
    key_b64 = public_b64(new_key())
    first = _hub(state_file, key_b64)
    for emulator in (first.waffo, first.kess, first.waafipay):
        emulator.faults.add("*", "http_500", count=3, params={"about": "order K-1"}, scope=["K-1"])
        assert emulator.faults.take("order/create", references={"K-1"}) is not None  # one of three used
    first.waffo.faults.add("notify", "drop", scope=["ORD-DROPPED"])
    first.save_state()
    await first.aclose()

    second = _hub(state_file, key_b64)
    try:
        for emulator in (second.waffo, second.kess, second.waafipay):
            [restored, *_] = emulator.faults.list()
            assert restored == {"id": 1, "operation": "*", "kind": "http_500", "count": 2,
                                "params": {"about": "order K-1"}, "scope": ["K-1"]}  # fmt: skip
        assert second.kess.faults.add("*", "e0001").id == 2, "ids go on after the restored ones"
        # The notifier holds the same queue: a restored webhook fault still hits the next webhook.
        second.waffo.notify("MID-1", "http://127.0.0.1:1/x", "PAYMENT_NOTIFICATION", {"orderId": "ORD-DROPPED"})
        [notification] = second.waffo.notifier.notifications
        assert notification.status == "dropped"
    finally:
        await second.aclose()
