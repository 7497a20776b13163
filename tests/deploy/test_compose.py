"""docker-compose.yml cannot run here (no Docker engine), so it is parsed and checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from billing import search_attributes
from billing.settings import CodecSettings, EmulatorSettings, HttpServiceSettings, TemporalSettings, WaffoSettings
from worker import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = [name for name, service in SERVICES.items() if "build" in service]


def known_variables() -> set[str]:
    names: set[str] = set()
    groups: list[type[BaseSettings]] = [
        TemporalSettings, WaffoSettings, HttpServiceSettings, EmulatorSettings, WorkerSettings, CodecSettings,
    ]  # fmt: skip
    for group in groups:
        prefix = group.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in group.model_fields}
    return names


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
