"""docs/configuration.md names every setting the code reads, under its full variable name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from billing.clocks import ClockSettings
from billing.settings import (
    CodecSettings,
    HttpServiceSettings,
    MerchantEventSettings,
    TemporalSettings,
)
from host.logs import LogSettings
from host.settings import DevSettings, EmulatorSettings
from providers.kess import KessSettings
from providers.waafipay import WaafiPaySettings
from providers.waffo import WaffoSettings
from worker import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "configuration.md").read_text()
SETTINGS: list[type[BaseSettings]] = [
    TemporalSettings, WaffoSettings, KessSettings, WaafiPaySettings, HttpServiceSettings, CodecSettings,
    MerchantEventSettings, LogSettings, WorkerSettings, DevSettings, EmulatorSettings, ClockSettings,
]  # fmt: skip


def variables(group: type[BaseSettings]) -> list[str]:
    prefix = group.model_config.get("env_prefix", "")
    return [f"{prefix}{field}".upper() for field in group.model_fields]


@pytest.mark.parametrize("group", SETTINGS, ids=lambda group: group.__name__)
def test_every_setting_is_documented_by_its_full_name(group: type[BaseSettings]) -> None:
    documented = set(re.findall(r"`(BILLING_\w+)`", DOC))
    missing = [name for name in variables(group) if name not in documented]
    assert not missing, f"docs/configuration.md does not document {missing}"


def test_every_documented_variable_is_read_by_a_settings_class() -> None:
    known = {name for group in SETTINGS for name in variables(group)}
    documented = set(re.findall(r"`(BILLING_[A-Z0-9_]*[A-Z0-9])`", DOC))
    assert documented <= known, f"documented but read by no settings class: {sorted(documented - known)}"


def test_every_provider_has_its_own_section() -> None:
    sections = re.findall(r"^## (.+)$", DOC, flags=re.MULTILINE)
    for prefix in ("BILLING_WAFFO_", "BILLING_KESS_", "BILLING_WAAFIPAY_"):
        assert any(f"`{prefix}*`" in title for title in sections), f"no section for {prefix}*"
