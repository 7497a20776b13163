"""docker-compose.yml cannot run here (no Docker engine), so it is parsed and checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from billing import search_attributes
from billing.settings import (
    CodecSettings,
    HttpServiceSettings,
    MerchantEventSettings,
    TemporalSettings,
)
from emulators.registry import EMULATORS
from host import telemetry
from host.logs import LogSettings
from host.settings import EmulatorSettings
from providers.kess import KessSettings
from providers.waafipay import WaafiPaySettings
from providers.waffo import WaffoSettings
from starter.stackbuilder import LocalMerchant
from worker import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = [name for name, service in SERVICES.items() if "build" in service]


def known_variables() -> set[str]:
    names: set[str] = set()
    groups: list[type[BaseSettings]] = [
        TemporalSettings, WaffoSettings, KessSettings, WaafiPaySettings, HttpServiceSettings, EmulatorSettings,
        WorkerSettings, CodecSettings,
        MerchantEventSettings, LogSettings,
    ]  # fmt: skip
    for group in groups:
        prefix = group.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in group.model_fields}
    return names | set(telemetry.OTEL_VARIABLES)


def test_every_service_has_an_image_or_a_build() -> None:
    for name, service in SERVICES.items():
        assert ("image" in service) != ("build" in service), name


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service.get("image")
        if image:
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
    assert SERVICES["temporal"]["image"].startswith("temporalio/server:1.32")
    assert SERVICES["temporal-ui"]["image"].startswith("temporalio/ui:2.54")
    assert SERVICES["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert SERVICES["jaeger"]["image"].startswith("jaegertracing/all-in-one:")


def test_dependencies_exist() -> None:
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"


def test_engine_variables_are_settings_the_code_reads() -> None:
    known = known_variables()
    for name in OURS:
        for variable in SERVICES[name].get("environment", {}):
            assert variable in known, f"{name}: {variable} is read by no settings class"


def test_engine_services_run_real_commands() -> None:
    for name in OURS:
        command = SERVICES[name]["command"]
        words = [word for word in command if not word.startswith("-") and "$" not in word][:2]
        argv = words if words and words[0] == "emulators" else words[:1]
        result = subprocess.run([sys.executable, "-m", "starter.cli", *argv, "--help"], capture_output=True,
                                text=True, check=False)  # fmt: skip
        assert result.returncode == 0, f"{name}: billing {' '.join(argv)}: {result.stderr}"


def test_mounted_files_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{name}: {source} is missing"


def test_host_ports_are_unique() -> None:
    ports = [port.split(":")[0] for service in SERVICES.values() for port in service.get("ports", [])]
    assert len(ports) == len(set(ports)), ports


def test_bootstrap_registers_the_codes_search_attributes() -> None:
    script = (ROOT / "deploy" / "temporal-bootstrap.sh").read_text()
    registered = dict(re.findall(r"--name (\w+) --type (\w+)", script))
    expected = dict(definition.split("=") for definition in search_attributes.cli_definitions())
    assert registered == expected


@pytest.mark.parametrize("name", ["worker", "http"])
def test_engine_services_wait_for_the_bootstrap(name: str) -> None:
    assert SERVICES[name]["depends_on"]["temporal-bootstrap"]["condition"] == "service_completed_successfully"


def _default(value: str) -> str:
    """The default of a ``${NAME:-default}`` or ``${NAME-default}`` value (the value itself when it has none)."""
    match = re.fullmatch(r"\$\{\w+:?-(.*)\}", value)
    return match.group(1) if match else value


def test_env_example_documents_every_variable_compose_reads() -> None:
    read = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    documented = set(re.findall(r"^#? ?(\w+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert read, "docker-compose.yml reads variables"
    assert read <= documented, f"not in .env.example: {sorted(read - documented)}"
    assert documented <= read, f"documented but never read: {sorted(documented - read)}"


@pytest.mark.parametrize("name", ["worker", "http"])
def test_engine_services_send_traces_and_metrics_to_the_collector(name: str) -> None:
    environment = SERVICES[name]["environment"]
    assert _default(environment["OTEL_TRACES_EXPORTER"]) == "otlp"
    assert _default(environment["OTEL_METRICS_EXPORTER"]) == "otlp"
    endpoint = urlsplit(_default(environment["OTEL_EXPORTER_OTLP_ENDPOINT"]))
    assert endpoint.hostname == "otel-collector" and endpoint.hostname in SERVICES
    assert endpoint.port == 4318, "OTLP over HTTP, the protocol of the engine's exporters"
    assert environment["OTEL_SERVICE_NAME"] == f"billing-{name}"
    assert "otel-collector" in SERVICES[name]["depends_on"]


def test_the_image_installs_the_otlp_exporter() -> None:
    assert "pip install '.[otlp]'" in (ROOT / "Dockerfile").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(requirement.startswith("opentelemetry-exporter-otlp-proto-http") for requirement in extras["otlp"])


def test_collector_config_receives_otlp_and_exports_to_jaeger_and_debug() -> None:
    collector = SERVICES["otel-collector"]
    config_flag = next(arg for arg in collector["command"] if arg.startswith("--config="))
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in collector["volumes"]}
    source = mounted[config_flag.removeprefix("--config=")]
    config: dict[str, Any] = yaml.safe_load((ROOT / source).read_text())

    http_endpoint = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http_endpoint.endswith(":4318")
    exporters = config["exporters"]
    assert "debug" in exporters
    jaeger = urlsplit("//" + exporters["otlp/jaeger"]["endpoint"])
    assert jaeger.hostname == "jaeger" and jaeger.port == 4317
    assert _default(SERVICES["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"]) == "true"
    assert "16686:16686" in SERVICES["jaeger"]["ports"]
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics"}
    for name, pipeline in pipelines.items():
        assert pipeline["receivers"] == ["otlp"], name
        assert set(pipeline["exporters"]) <= set(exporters), name
        assert set(pipeline.get("processors", [])) <= set(config.get("processors", {})), name
        assert "debug" in pipeline["exporters"], name
    assert "otlp/jaeger" in pipelines["traces"]["exporters"]
    prometheus_port = exporters["prometheus"]["endpoint"].rsplit(":", 1)[1]
    assert f"{prometheus_port}:{prometheus_port}" in collector["ports"]


#: What an operator sets to enable each provider (docs/configuration.md), the secrets as mounted files.
PROVIDER_VARIABLES: dict[str, list[str]] = {
    "waffo": [
        "BILLING_WAFFO_BASE_URL", "BILLING_WAFFO_API_KEY", "BILLING_WAFFO_MERCHANT_ID",
        "BILLING_WAFFO_PRIVATE_KEY_FILE", "BILLING_WAFFO_PUBLIC_KEY_FILE", "BILLING_WAFFO_GOODS_URL",
        "BILLING_WAFFO_APP_NAME",
    ],
    "kess": [
        "BILLING_KESS_BASE_URL", "BILLING_KESS_USER", "BILLING_KESS_PASSWORD_FILE", "BILLING_KESS_STORE_ID",
        "BILLING_KESS_CURRENCY",
    ],
    "waafipay": [
        "BILLING_WAAFIPAY_ENVIRONMENT", "BILLING_WAAFIPAY_BASE_URL", "BILLING_WAAFIPAY_MERCHANT_UID",
        "BILLING_WAAFIPAY_API_USER_ID", "BILLING_WAAFIPAY_API_KEY_FILE", "BILLING_WAAFIPAY_STORE_ID",
        "BILLING_WAAFIPAY_HPP_KEY_FILE",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", ["worker", "http"])
@pytest.mark.parametrize("provider", sorted(PROVIDER_VARIABLES))
def test_every_providers_variables_reach_the_engine_from_the_env_file(name: str, provider: str) -> None:
    environment = SERVICES[name]["environment"]
    for variable in PROVIDER_VARIABLES[provider]:
        assert variable in environment, f"{name}: {variable} is not passed"
        assert re.fullmatch(rf"\$\{{{variable}:?-.*\}}", str(environment[variable])), (
            f"{name}: {variable} must come from .env (${{{variable}:-default}})"
        )


def _settings_classes() -> dict[str, type[BaseSettings]]:
    return {"waffo": WaffoSettings, "kess": KessSettings, "waafipay": WaafiPaySettings}


@pytest.mark.parametrize("provider", sorted(PROVIDER_VARIABLES))
def test_the_compose_defaults_enable_every_provider_against_the_emulators(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defaults point at the emulators' merchant: the key files the emulators write into the volume."""
    from starter.devstack import build_dev_hub

    emulators = SERVICES["emulators"]
    data_dir = emulators["command"][emulators["command"].index("--data-dir") + 1]
    volume = next(v for v in emulators["volumes"] if v.split(":")[1] == data_dir).split(":")[0]
    build_dev_hub(tmp_path, "http://localhost:8070")  # what `emulators serve --data-dir` writes
    worker_mount = next(v for v in SERVICES["worker"]["volumes"] if v.split(":")[0] == volume).split(":")[1]

    for key in list(os.environ):
        if key.startswith("BILLING_"):
            monkeypatch.delenv(key)
    for variable, value in SERVICES["worker"]["environment"].items():
        default = _default(str(value))
        if variable.startswith("BILLING_") and default:
            monkeypatch.setenv(variable, default.replace(worker_mount, str(tmp_path), 1))
    settings = _settings_classes()[provider]()
    assert settings.configured(), f"{provider}: not enabled by the compose defaults"  # type: ignore[attr-defined]
    base_url = urlsplit(settings.base_url or "")  # type: ignore[attr-defined]
    assert base_url.hostname == "emulators" and base_url.path.startswith(f"/{provider}")
    # The emulator's merchant (as `emulators serve --data-dir` registers it) is the one the defaults configure.
    local = next(local for local in EMULATORS if local.name == provider)
    expected = local.settings(LocalMerchant.dev(tmp_path).accounts[provider], "http://emulators:8070")
    credentials = {key: value for key, value in expected.items() if key != "base_url" and not key.endswith("_file")}
    assert credentials, f"{provider}: no credentials to compare"
    registered = (credentials, {key: _secret(getattr(settings, key, None)) for key in credentials})
    assert registered[0] == registered[1], f"{provider}: the defaults are not the emulator's merchant"


def _secret(value: object) -> object:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value
