"""Each provider is one folder: the engine reads declarations and never names a provider.

``billing/``, ``workflows/``, ``activities/``, ``webhooks/`` and ``worker.py`` (code, comments and docstrings
alike) name no provider; ``providers/registry.py`` is the one list of them. Workflow code reads the
declarations, which are pure: importing the workflows loads no provider client. The declarations give
exactly the answers the engine's per-provider sets gave before them (a workflow that asked one on an old
history must get the same answer on replay).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from providers.registry import PROVIDER_NAMES, PROVIDERS, provider_spec
from providers.spec import ENGINE_CHARGED, ENGINE_INVOICED, PROVIDER_MANAGED

ROOT = Path(__file__).resolve().parents[2]
#: Where no provider may be named.
ENGINE = ("billing", "workflows", "activities", "webhooks", "worker.py")
#: The registered providers, and the ones this engine shipped with (so the scan holds even if one is removed).
NAMES = sorted({*PROVIDER_NAMES, "waffo", "kess", "waafipay"}, key=len, reverse=True)
NAME_PATTERN = re.compile("|".join(re.escape(name) for name in NAMES), re.IGNORECASE)


def provider_mentions(paths: list[Path]) -> list[str]:
    """``file:line: text`` for every line of ``paths`` (``.py`` files under a directory) naming a provider."""
    found: list[str] = []
    for path in paths:
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            for number, line in enumerate(file.read_text().splitlines(), start=1):
                if NAME_PATTERN.search(line):
                    found.append(f"{file.relative_to(path.parent)}:{number}: {line.strip()}")
    return found


def test_the_engine_names_no_provider() -> None:
    mentions = provider_mentions([ROOT / part for part in ENGINE])
    assert not mentions, "provider names outside providers/ (read the declaration instead):\n" + "\n".join(mentions)


def test_the_scan_finds_a_name_in_code_comments_and_docstrings(tmp_path: Path) -> None:
    package = tmp_path / "billing"
    package.mkdir()
    (package / "a.py").write_text('"""Polled like WaafiPay."""\nx = 1\n')
    (package / "b.py").write_text("y = 2  # see KESS\n")
    (package / "c.py").write_text('if provider == "waffo":\n    pass\n')
    (package / "d.py").write_text("z = 3\n")
    assert [entry.split(":")[0] for entry in provider_mentions([package])] == [
        "billing/a.py",
        "billing/b.py",
        "billing/c.py",
    ]


def test_every_provider_folder_is_registered_under_its_own_name() -> None:
    folders = sorted(path.parent.name for path in (ROOT / "providers").glob("*/spec.py"))
    assert folders == sorted(PROVIDER_NAMES)
    for spec in PROVIDERS:
        assert spec.settings_prefix == f"BILLING_{spec.name.upper()}_"
        settings = spec.settings()
        assert settings and all(cls.__module__ == f"providers.{spec.name}.settings" for cls in settings)
    with pytest.raises(KeyError, match="unknown provider 'nope'; expected one of waffo, kess, waafipay"):
        provider_spec("nope")


def test_importing_the_workflows_loads_only_declarations() -> None:
    """Workflow code may read declarations; clients, settings and signing stay out of the workflow sandbox."""
    script = (
        "import sys, workflows.order, workflows.subscription, workflows.invoice_sequence\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('providers'))))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True, text=True)
    modules = set(loaded.stdout.split())
    allowed = {"providers", "providers.base", "providers.spec", "providers.registry"}
    for name in PROVIDER_NAMES:
        allowed |= {f"providers.{name}", f"providers.{name}.spec", f"providers.{name}.timing"}
    assert modules - allowed == set()
    assert {f"providers.{name}.spec" for name in PROVIDER_NAMES} <= modules


def _having(flag: str) -> set[str]:
    return {spec.name for spec in PROVIDERS if getattr(spec, flag)}


def test_capabilities_answer_as_the_engine_always_has() -> None:
    """The sets these flags replaced (billing.orders, billing.subscriptions): workflows branch on them, so
    any change here changes commands on existing histories and needs a workflow.patched gate."""
    assert PROVIDER_NAMES == ("waffo", "kess", "waafipay")
    assert _having("polled") == {"kess", "waafipay"}
    assert _having("single_shot_refunds") == {"waafipay"}
    assert _having("create_resend") == {"waffo", "kess"}
    assert _having("lapsing_checkout") == {"waafipay"}
    assert _having("late_paying") == {"kess"}
    assert {spec.name: spec.longest_wait for spec in PROVIDERS} == {
        "waffo": timedelta(seconds=30),
        "kess": timedelta(seconds=60),
        "waafipay": timedelta(seconds=120),
    }
    assert {spec.name: spec.default_billing_mode for spec in PROVIDERS} == {
        "waffo": PROVIDER_MANAGED,
        "kess": ENGINE_INVOICED,
        "waafipay": ENGINE_CHARGED,
    }
    assert {spec.name: spec.billing_modes for spec in PROVIDERS} == {
        "waffo": {PROVIDER_MANAGED, ENGINE_INVOICED},
        "kess": {ENGINE_INVOICED},
        "waafipay": {ENGINE_CHARGED, ENGINE_INVOICED},
    }
    assert {spec.name: spec.invoice_payment_method for spec in PROVIDERS} == {
        "waffo": None,
        "kess": None,
        "waafipay": "HPP",
    }


@pytest.mark.parametrize(
    ("provider", "method", "fields", "waits", "window"),
    [
        ("waffo", "", ["email"], False, None),
        ("waffo", "CREDITCARD", ["email"], False, None),
        ("kess", "", [], False, None),
        ("kess", "QUICKPAY:134567890123456789", [], True, timedelta(seconds=45)),
        ("kess", "ALIPAY", [], False, None),
        ("waafipay", "", ["phone"], True, None),
        ("waafipay", "MWALLET_ACCOUNT", ["phone"], True, None),
        ("waafipay", "HPP", [], False, None),
        ("waafipay", "HPP:CREDIT_CARD", [], False, None),
        ("waafipay", "HPP:MWALLET_ACCOUNT", ["phone"], False, None),
    ],
)
def test_rules_by_payment_method(
    provider: str, method: str, fields: list[str], waits: bool, window: timedelta | None
) -> None:
    spec = provider_spec(provider)
    assert [requirement.field for requirement in spec.requirements(method)] == fields
    assert spec.waits_for_payer(method) is waits
    assert spec.payment_window_limit(method) == window


def test_redirect_tokens_are_read_only_where_the_provider_puts_one() -> None:
    url = "https://billing.example/callbacks/x/orders/o-1/failure?hppResultToken=ABC123"
    assert {spec.name: spec.redirect_token(url) if spec.redirect_token else None for spec in PROVIDERS} == {
        "waffo": None,
        "kess": None,
        "waafipay": "ABC123",
    }


def test_subscription_requirements_by_billing_mode() -> None:
    needs = {
        (spec.name, mode): [requirement.field for requirement in spec.subscription_requirements(mode)]
        for spec in PROVIDERS
        for mode in sorted(spec.billing_modes)
    }
    assert needs == {
        ("waffo", ENGINE_INVOICED): [],
        ("waffo", PROVIDER_MANAGED): [],
        ("kess", ENGINE_INVOICED): [],
        ("waafipay", ENGINE_CHARGED): ["phone"],
        ("waafipay", ENGINE_INVOICED): ["phone"],
    }


async def test_the_worker_and_the_http_service_build_what_each_declaration_offers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clients for every configured provider, a verifier for the one that signs notifications, from each
    provider's own settings (real keys, real clients; no call is made)."""
    from tests.support.keys import merchant_keys, waffo_keys
    from webhooks.main import build_verifiers
    from worker import build_providers

    prefixes = tuple(spec.settings_prefix for spec in PROVIDERS)
    for variable in [name for name in os.environ if name.startswith(prefixes)]:
        monkeypatch.delenv(variable)
    assert build_providers().names() == []
    assert build_verifiers() == {}

    settings = {
        "BILLING_WAFFO_API_KEY": "key",
        "BILLING_WAFFO_MERCHANT_ID": "M-1",
        "BILLING_WAFFO_PRIVATE_KEY": merchant_keys().private_b64,
        "BILLING_WAFFO_PUBLIC_KEY": waffo_keys().public_b64,
        "BILLING_WAFFO_GOODS_URL": "https://shop.example/goods",
        "BILLING_KESS_USER": "user",
        "BILLING_KESS_PASSWORD": "secret",
        "BILLING_KESS_STORE_ID": "109038",
        "BILLING_WAAFIPAY_MERCHANT_UID": "M0910291",
        "BILLING_WAAFIPAY_STORE_ID": "1000297",
        "BILLING_WAAFIPAY_HPP_KEY": "hpp-secret",
    }
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)
    providers = build_providers()
    try:
        assert providers.names() == sorted(PROVIDER_NAMES)
        assert all(providers.get(name).name == name for name in PROVIDER_NAMES)
    finally:
        await providers.aclose()
    assert sorted(build_verifiers()) == ["waffo"]
