"""`billing replay`: the committed histories, a history fresh from a real dev server (by query and as an
exported file), and a nondeterministic change reported with the workflow id and the first diverging event."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

from billing.gateway import Customer
from billing.orders import OrderStatus, order_workflow_id
from billing.temporal import data_converter
from starter.binaries import temporal_cli
from starter.replay import HistoryReplayer, describe_failure, load_history_file
from tests.support.stack import TEST_ORDER_POLICY, order_stack, waffo_order
from workflows.subscription import SubscriptionWorkflow

HISTORIES = Path(__file__).parent / "histories"


def billing(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    return subprocess.run([sys.executable, "-m", "starter.cli", *argv], capture_output=True, text=True, timeout=120,
                          check=False, env=dict(clean, COLUMNS="200", BILLING_CODEC_KEYS="", **env))  # fmt: skip


@workflow.defn(name="OrderWorkflow", sandboxed=False)
class DivergingOrderWorkflow:
    """A changed order workflow: it waits before it creates the payment, a different first command."""

    @workflow.run
    async def run(self, request: Any) -> None:
        await workflow.sleep(timedelta(minutes=1))


def test_the_committed_histories_replay() -> None:
    result = billing("replay", "--file", str(HISTORIES), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    files = sorted(HISTORIES.glob("*.json"))
    assert report["replayed"] == len(files) and report["failed"] == 0
    assert {row["source"] for row in report["results"]} == {str(path) for path in files}
    assert all(row["ok"] for row in report["results"])
    assert f"{len(files)} histories replay" in result.stderr  # progress and summary on stderr


def test_a_tampered_history_fails_naming_the_workflow_and_the_event(tmp_path: Path) -> None:
    raw = json.loads((HISTORIES / "order_cancelled.json").read_text())
    raw["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"] = "order-TAMPERED"
    scheduled = next(e for e in raw["events"] if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED")
    scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "renamed_activity"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(raw))

    result = billing("replay", "--file", str(tampered), "--file", str(HISTORIES / "order_expired.json"), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["replayed"], report["failed"]) == (2, 1)
    [failed] = [row for row in report["results"] if not row["ok"]]
    assert failed["workflow_id"] == "order-TAMPERED" and failed["nondeterministic"]
    assert (failed["event_id"], failed["event_type"]) == (int(scheduled["eventId"]), "ActivityTaskScheduled")
    assert "order-TAMPERED" in result.stderr and "1 of 2 histories do not replay" in result.stderr

    human = billing("replay", "--file", str(tampered))
    assert human.returncode == 1
    assert "order-TAMPERED" in human.stdout and "ActivityTaskScheduled" in human.stdout


async def test_a_nondeterministic_workflow_change_is_reported() -> None:
    history = load_history_file(HISTORIES / "order_cancelled.json")
    changed = HistoryReplayer(data_converter(), [DivergingOrderWorkflow, SubscriptionWorkflow], quiet=True)
    outcome = await changed.replay(history, "order_cancelled.json")
    assert not outcome.ok and outcome.nondeterministic
    assert outcome.workflow_id == "order_cancelled"  # recorded without an id in the start event: the file name
    # The SDK names the event: the first event after the first workflow task, which now starts a timer.
    assert outcome.event_id == 5 and outcome.event_type == "WorkflowExecutionUpdateAccepted"
    assert "nondeterminism at event 5 (WorkflowExecutionUpdateAccepted)" in describe_failure(outcome)
    unchanged = await HistoryReplayer(data_converter(), quiet=True).replay(history, "order_cancelled.json")
    assert unchanged.ok


async def test_a_fresh_history_replays_by_query_and_as_an_exported_file(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    order_id = f"replay-cli-{uuid.uuid4().hex[:8]}"
    client = dev_server_env.client
    async with order_stack(client) as stack:
        customer = Customer(customer_id="c-replay", email="replay.cli@example.com")
        await stack.billing.create_order(waffo_order(order_id, policy=TEST_ORDER_POLICY, customer=customer))
        await stack.customer(order_id, "pay")
        await stack.billing.wait_for_status(order_id, {OrderStatus.PAID})
        workflow_id = order_workflow_id(order_id)
        query = f'WorkflowType="OrderWorkflow" AND WorkflowId="{workflow_id}"'
        for _ in range(100):  # visibility is eventually consistent
            if [execution async for execution in client.list_workflows(query)]:
                break
            await asyncio.sleep(0.1)
        address = dev_server_env.client.service_client.config.target_host

        result = await asyncio.to_thread(
            billing, "replay", "--query", query, "--limit", "10", "--json", BILLING_TEMPORAL_ADDRESS=address
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        [row] = report["results"]
        assert row["ok"] and row["workflow_id"] == workflow_id and row["workflow_type"] == "OrderWorkflow"
        assert row["events"] > 10 and row["run_id"]

        exported = tmp_path / "exported" / "order.json"
        exported.parent.mkdir()
        shown = await asyncio.to_thread(
            subprocess.run,
            [str(temporal_cli()), "workflow", "show", "--workflow-id", workflow_id, "--address", address,
             "--output", "json"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        exported.write_text(shown.stdout)
        from_file = await asyncio.to_thread(billing, "replay", "--file", str(exported.parent), "--json")
        assert from_file.returncode == 0, from_file.stderr
        [row] = json.loads(from_file.stdout)["results"]
        assert row["ok"] and row["workflow_id"] == workflow_id and row["events"] == report["results"][0]["events"]

        nothing = await asyncio.to_thread(
            billing, "replay", "--query", 'WorkflowId="no-such-workflow"', BILLING_TEMPORAL_ADDRESS=address
        )
        assert nothing.returncode == 0 and "nothing was replayed" in nothing.stderr
        bad = await asyncio.to_thread(billing, "replay", "--query", "WorkflowId ===", BILLING_TEMPORAL_ADDRESS=address)
        assert bad.returncode == 2 and "query" in bad.stderr


def test_replay_needs_histories() -> None:
    result = billing("replay")
    assert result.returncode == 2 and "--query" in result.stderr
    missing = billing("replay", "--file", "/nonexistent/history.json")
    assert missing.returncode == 2 and "no such file" in missing.stderr
