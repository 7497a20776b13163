"""Replays committed histories against today's workflow code: a non-deterministic change fails here.

Histories are recorded by ``python -m tests.replay.record`` from real runs of the order stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from billing.temporal import data_converter
from worker import WORKFLOWS, checking_workflow_runner

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_committed() -> None:
    assert len(HISTORIES) >= 6, "record them with: python -m tests.replay.record"


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_replay(path: Path) -> None:
    raw = path.read_text()
    workflow_id = path.stem
    history = WorkflowHistory.from_json(workflow_id, raw)
    assert json.loads(raw)["events"], "empty history"
    converter = data_converter()
    replayer = Replayer(workflows=WORKFLOWS, data_converter=converter, workflow_runner=checking_workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
