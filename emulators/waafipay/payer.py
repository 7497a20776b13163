"""Scripted payer behaviour: how the holder of a wallet answers a PIN push."""

from __future__ import annotations

from typing import Any, cast

from emulators.waafipay.models import PAYER_ACTIONS, PayerAction, PayerStep


def parse_step(value: Any) -> PayerStep:
    """`"approve"` or `{"action": "approve", "afterS": 2, "pin": "1212"}`."""
    if isinstance(value, str):
        value = {"action": value}
    if not isinstance(value, dict):
        raise ValueError("a behaviour is an action name or an object with an action")
    action = value.get("action", "approve")
    if action not in PAYER_ACTIONS:
        raise ValueError(f"action must be one of {list(PAYER_ACTIONS)}")
    after = value.get("afterS")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int | float) or after < 0):
        raise ValueError("afterS must be a non-negative number")
    pin = value.get("pin")
    if pin is not None and not isinstance(pin, str):
        raise ValueError("pin must be a string")
    return PayerStep(cast(PayerAction, action), None if after is None else float(after), pin)


def parse_behaviour(value: Any) -> list[PayerStep]:
    """One step, or a list consumed one per push (the last one stays in force)."""
    if isinstance(value, list):
        if not value:
            raise ValueError("behaviour list must not be empty")
        return [parse_step(item) for item in value]
    return [parse_step(value)]
