"""One error tree, drawn once, mapped once: every exception class of the product derives from
``billing.errors.BillingError`` (or is listed below with the reason it is not an engine error), is defined and
drawn in billing/errors.py, and the client maps back every class a workflow can refuse an update with."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import billing.errors as errors
from billing.codec import AesGcmCodec
from starter import client
from tests.support.source import parse

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("billing", "host", "providers", "workflows", "activities", "webhooks", "starter", "emulators")
#: Exceptions outside the tree, and why: the emulators stand in for the providers, and their errors are the
#: emulated providers' own (answered as HTTP replies), never raised by the engine.
OUTSIDE_THE_TREE = {
    "emulators.common.asgi.ConnectionDropped": "an emulated dropped connection (httpx's own error type)",
    "emulators.common.control.ControlError": "an emulator control API refusal",
    "emulators.kess.errors.KessApiError": "the emulated KESS's refusal",
    "emulators.kess.payments.StateConflict": "the emulated KESS's state conflict",
    "emulators.kess.tokens.InvalidToken": "the emulated KESS's token check",
    "emulators.waafipay.codes.WaafiPayError": "the emulated WaafiPay's refusal",
    "emulators.waafipay.hpp.StateConflict": "the emulated WaafiPay page's state conflict",
    "emulators.waffo.errors.WaffoApiError": "the emulated Waffo's refusal",
    "emulators.waffo.orders.StateConflict": "the emulated Waffo's state conflict",
}


def product_modules() -> list[str]:
    names = ["worker"]
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names.extend(info.name for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."))
    return names


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class the product's modules define (not the ones they import)."""
    found: dict[str, type[BaseException]] = {}
    for name in product_modules():
        module = importlib.import_module(name)
        for _, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{value.__qualname__}"] = value
    return found


def test_the_check_reads_every_package_of_the_product() -> None:
    # tests and scripts (benchmarks, tools) are not the product.
    top = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "scripts"}
    assert top <= set(PACKAGES), f"add to PACKAGES: {sorted(top - set(PACKAGES))}"
    assert {"worker", "host.temporal", "billing.codec", "starter.client"} <= set(product_modules())


def test_every_exception_of_the_product_is_in_the_tree() -> None:
    outside = {
        name
        for name, cls in defined_exceptions().items()
        if not issubclass(cls, errors.BillingError) and name not in OUTSIDE_THE_TREE
    }
    assert not outside, f"derive these from billing.errors.BillingError: {sorted(outside)}"


def test_the_tree_is_defined_and_drawn_in_billing_errors() -> None:
    tree = {name: cls for name, cls in defined_exceptions().items() if issubclass(cls, errors.BillingError)}
    elsewhere = sorted(name for name, cls in tree.items() if cls.__module__ != "billing.errors")
    assert not elsewhere, f"define these in billing/errors.py: {elsewhere}"
    drawing = errors.__doc__ or ""
    undrawn = sorted(cls.__name__ for cls in tree.values() if cls.__name__ not in drawing)
    assert not undrawn, f"draw these in billing/errors.py's tree: {undrawn}"
    assert set(errors.ERRORS.values()) == set(tree.values())
    assert errors.ERRORS == {cls.__name__: cls for cls in tree.values()}


def test_the_client_maps_back_every_input_error() -> None:
    input_errors = {cls for cls in errors.ERRORS.values() if issubclass(cls, errors.InputError)}
    assert set(client.INPUT_ERRORS.values()) == input_errors
    assert all(client.INPUT_ERRORS[cls.__name__] is cls for cls in input_errors)


def test_application_errors_name_their_type_from_the_tree() -> None:
    """A literal ``type="..."`` goes stale silently when a class is renamed; the class's ``__name__`` cannot."""
    literal: list[str] = []
    for package in ("workflows", "activities"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ApplicationError":
                    for keyword in node.keywords:
                        if keyword.arg == "type" and isinstance(keyword.value, ast.Constant):
                            literal.append(f"{path.relative_to(ROOT)}:{node.lineno} {keyword.value.value!r}")
    assert not literal, literal


def test_workflows_refuse_with_an_input_error_only_through_rejected() -> None:
    """An ``InputError`` refusal is built in one place (``workflows.common.rejected``: message, field, type and
    non-retryable together); an ``ApplicationError`` typed after an InputError class by hand is a second map."""
    input_errors = {name for name, cls in errors.ERRORS.items() if issubclass(cls, errors.InputError)}
    by_hand: set[str] = set()
    for path in sorted((ROOT / "workflows").rglob("*.py")):
        tree = parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or function.name == "rejected":
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ApplicationError":
                    for keyword in node.keywords:
                        value = keyword.value
                        named = (
                            isinstance(value, ast.Attribute)
                            and value.attr == "__name__"
                            and isinstance(value.value, ast.Name)
                            and value.value.id in input_errors
                        )
                        if keyword.arg == "type" and named:
                            by_hand.add(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not by_hand, f"raise rejected(<InputError>(...)) instead: {sorted(by_hand)}"


@pytest.mark.parametrize(
    ("keys", "active", "message"),
    [
        ({"k1": bytes(32)}, "k2", "active key 'k2' is not in the keyring"),
        ({"k1": bytes(16)}, "k1", "key 'k1' must be 32 bytes (AES-256)"),
    ],
)
def test_an_unusable_keyring_is_a_configuration_error_naming_the_setting(
    keys: dict[str, bytes], active: str, message: str
) -> None:
    with pytest.raises(errors.ConfigurationError, match=re.escape(message)) as refused:
        AesGcmCodec(keys, active)
    assert refused.value.setting in ("BILLING_CODEC_ACTIVE_KEY", "BILLING_CODEC_KEYS")
