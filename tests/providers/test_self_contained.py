"""Each provider is one folder: the engine reads declarations and never names a provider.

``billing/``, ``workflows/``, ``activities/``, ``webhooks/`` and ``worker.py`` (code, comments and docstrings
alike) name no provider; ``providers/registry.py`` is the one list of them (``emulators/registry.py`` of
their emulators). ``starter/`` wires no provider outside the few files of :data:`STARTER_ALLOWLIST`. Workflow
code reads the declarations, which are pure: importing the workflows loads no provider client. The
declarations give exactly the answers the engine's per-provider sets gave before them (a workflow that
asked one on an old history must get the same answer on replay).
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


# -- starter/: the CLI, the dev stack, the chaos run --------------------------------------------------

#: The files of ``starter/`` that must name providers, and why. Everywhere else in ``starter/`` a provider is
#: reached through the registries (``providers.registry``, ``emulators.registry``); help text and prose may
#: still name one.
STARTER_ALLOWLIST = {
    "starter/provider_cli.py": "`billing provider config waffo`: a look-up only Waffo offers, through its client",
    "starter/cli_faults.py": "fault kinds particular to one emulator (Waffo's E0001 and webhooks, KESS errors)",
    "starter/chaos/faults.py": "the faults the chaos run injects, by emulator operation",
    "starter/chaos/workload.py": "the chaos workload's mix: each provider's customer, methods and late payments",
    "starter/chaos/invariants.py": "the provider-managed subscriptions' ledger check reads Waffo's renewals",
}

_NAMES = "|".join(re.escape(name) for name in NAMES)
#: A string literal that wires a provider: its name alone, a path segment of it, one of its settings'
#: variables, its package.
WIRING_STRING = re.compile(
    rf"^(?:{_NAMES})$|/(?:{_NAMES})(?:/|$)|^BILLING_(?:{_NAMES})_\w*$|^(?:providers|emulators)\.(?:{_NAMES})\b",
    re.IGNORECASE,
)


def provider_wiring(paths: list[Path], root: Path) -> list[str]:
    """``file:line: token`` for every identifier naming a provider and every string literal wiring one
    (:data:`WIRING_STRING`) in the ``.py`` files under ``paths``. Comments and prose are not wiring."""
    import ast
    import io
    import tokenize

    found: list[str] = []
    for path in paths:
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            relative = file.relative_to(root).as_posix()
            for token in tokenize.generate_tokens(io.StringIO(file.read_text()).readline):
                if token.type == tokenize.NAME and NAME_PATTERN.search(token.string):
                    found.append(f"{relative}:{token.start[0]}: {token.string}")
                elif token.type == tokenize.STRING:
                    try:
                        value = ast.literal_eval(token.string)
                    except ValueError:  # an f-string: its literal parts
                        value = token.string
                    parts = re.split(r"\{[^}]*\}", value) if isinstance(value, str) else []
                    if any(WIRING_STRING.search(part.strip("\"'")) for part in parts):
                        found.append(f"{relative}:{token.start[0]}: {token.string}")
    return found


def test_the_starter_reads_the_registries_instead_of_naming_providers() -> None:
    starter = ROOT / "starter"
    files = [
        file for file in sorted(starter.rglob("*.py")) if file.relative_to(ROOT).as_posix() not in STARTER_ALLOWLIST
    ]
    wiring = provider_wiring(files, ROOT)
    assert not wiring, "providers named in starter/ (read providers.registry or emulators.registry):\n" + "\n".join(
        wiring
    )
    assert all((ROOT / name).is_file() for name in STARTER_ALLOWLIST), "the allowlist names a file that is gone"


def test_the_wiring_scan_tells_wiring_from_prose(tmp_path: Path) -> None:
    package = tmp_path / "starter"
    package.mkdir()
    (package / "a.py").write_text('provider = "waafipay"\n')
    (package / "b.py").write_text('url = f"{base}/kess/control/faults"\n')
    (package / "c.py").write_text('env = {"BILLING_WAFFO_API_KEY": key}\n')
    (package / "d.py").write_text("from providers.waffo import WaffoClient\n")
    (package / "e.py").write_text("hub.kess.config.ttl = 1\n")
    (package / "f.py").write_text('HELP = "Provider method, e.g. HPP (WaafiPay), QUICKPAY:<code> (KESS)"  # Waffo\n')
    (package / "g.py").write_text(
        '"""Give the worker the same in BILLING_KESS_QR_LIFETIME_S (Waffo under /waffo)."""\n'
    )
    found = [entry.split(":")[0] for entry in provider_wiring([package], tmp_path)]
    assert sorted(set(found)) == ["starter/a.py", "starter/b.py", "starter/c.py", "starter/d.py", "starter/e.py"]
