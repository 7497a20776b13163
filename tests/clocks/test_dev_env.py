"""A command takes ``BILLING_TEST_CLOCKS`` from the running ``billing dev`` stack only when it talks to that
stack's Temporal server: pointed elsewhere (a real deployment), it never inherits the dev stack's permission."""

from __future__ import annotations

from pathlib import Path

import pytest

from starter import devenv

STACK = {
    "BILLING_TEMPORAL_ADDRESS": "127.0.0.1:7300",
    "BILLING_EMULATORS_URL": "http://127.0.0.1:8070",
    "BILLING_TEST_CLOCKS": "enabled",
}


@pytest.fixture(autouse=True)
def running_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devenv, "running_stack_environment", lambda data_dir: dict(STACK))
    monkeypatch.setenv("BILLING_DEV_DATA_DIR", str(Path("/nonexistent")))


def test_a_command_for_the_dev_stack_takes_its_permission() -> None:
    environ: dict[str, str] = {}
    devenv.use_running_dev_stack(environ)
    assert environ == STACK


def test_a_command_for_the_dev_stacks_temporal_given_by_hand_takes_it_too() -> None:
    environ = {"BILLING_TEMPORAL_ADDRESS": "127.0.0.1:7300", "BILLING_EMULATORS_URL": "http://127.0.0.1:8070"}
    devenv.use_running_dev_stack(environ)
    assert environ["BILLING_TEST_CLOCKS"] == "enabled"


def test_a_command_for_another_temporal_does_not() -> None:
    environ = {"BILLING_TEMPORAL_ADDRESS": "temporal.prod.example:7233"}
    devenv.use_running_dev_stack(environ)
    assert "BILLING_TEST_CLOCKS" not in environ
    assert environ["BILLING_EMULATORS_URL"] == STACK["BILLING_EMULATORS_URL"], "the emulators' URL as before"
