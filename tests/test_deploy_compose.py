"""The production compose file, read without a container engine: it must agree with the code
(the settings the worker reads, the search attributes the workflow uses, the databases the
ledger and Temporal expect) and with itself (ports, health, pinned images, no secrets)."""

from __future__ import annotations

import os
import re
import secrets
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from temporalio.api.enums.v1 import IndexedValueType

from worker.codec import generate_key
from worker.main import check_settings, load_settings
from worker.setting_checks import all_env_names
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
SETTING_PREFIXES = ("MENTORFLOW_", "TEMPORAL_")
WORKER_SERVICES = ("worker", "codec-server", "web")
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|KEYS")
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
MAILPIT_SMTP_PORT = 1025  # mailpit's default SMTP listener


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value
    return pairs


def filled_in_env() -> dict[str, str]:
    """.env.example with every CHANGE-ME replaced, the way an operator fills it in."""
    env = env_file(ROOT / ".env.example")
    for key, value in env.items():
        if value == "CHANGE-ME":
            is_key = key in ("MENTORFLOW_CODEC_KEYS", "MENTORFLOW_LEDGER_KEYS")
            is_link_key = key == "MENTORFLOW_LINK_KEYS"
            env[key] = (
                generate_key("2026a")
                if is_key
                else f"portal-2026a:{secrets.token_hex(32)}"
                if is_link_key
                else f"pw-{secrets.token_hex(8)}"
            )
    return env


def interpolate(value: Any, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = env.get(name)
        if op in (":-", ":?"):
            current = current or None
        if current is not None:
            return current
        if op and op.endswith("?"):
            raise AssertionError(f"compose would refuse to start: {name} unset ({arg})")
        return arg if op and op.endswith("-") else ""

    return VARIABLE.sub(replace, str(value))


def environment(service: str, env: dict[str, str] | None = None) -> dict[str, str]:
    raw = services()[service].get("environment", {})
    assert isinstance(raw, dict), f"{service}: write environment as a mapping"
    values = filled_in_env() if env is None else env
    return {key: interpolate(value, values) for key, value in raw.items()}


def depends_on(service: str) -> dict[str, str]:
    raw = services()[service].get("depends_on", {})
    return {name: spec["condition"] for name, spec in raw.items()}


def one_shots() -> set[str]:
    return {
        name
        for service in services()
        for name, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }


def published(service: str, container_port: int) -> tuple[str, int]:
    """(host ip, host port) publishing `container_port` of `service`."""
    for spec in services()[service].get("ports", []):
        parts = interpolate(spec, filled_in_env()).split(":")
        if int(parts[-1]) == container_port:
            return parts[0], int(parts[-2])
    raise AssertionError(f"{service} does not publish port {container_port}")


def healthcheck_text(service: str) -> str:
    test = services()[service]["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


# ----------------------------------------------------------------------------- topology


def test_the_worker_waits_for_everything_it_needs() -> None:
    assert depends_on("worker") == {
        "postgresql": "service_healthy",
        "temporal": "service_healthy",
        "temporal-create-namespace": "service_completed_successfully",
        "mailpit": "service_healthy",
    }
    assert depends_on("temporal") == {"temporal-admin-tools": "service_completed_successfully"}
    assert depends_on("temporal-admin-tools") == {"postgresql": "service_healthy"}
    assert depends_on("temporal-create-namespace") == {"temporal": "service_healthy"}


def test_the_worker_reaches_each_peer_by_its_service_name_and_port() -> None:
    env = environment("worker")
    host, _, port = env["TEMPORAL_ADDRESS"].rpartition(":")
    assert host == "temporal" and published("temporal", int(port))
    ledger = urlsplit(env["MENTORFLOW_LEDGER_URL"])
    assert ledger.scheme == "postgresql+psycopg"
    assert ledger.hostname == "postgresql" and ledger.port == 5432
    assert env["MENTORFLOW_SMTP_HOST"] == "mailpit"
    assert int(env["MENTORFLOW_SMTP_PORT"]) == MAILPIT_SMTP_PORT


def test_temporal_schema_comes_from_the_admin_tools_not_auto_setup() -> None:
    images = {name: spec.get("image", "") for name, spec in services().items()}
    assert not any("auto-setup" in image for image in images.values())
    server_tag = images["temporal"].removeprefix("temporalio/server:")
    assert images["temporal-admin-tools"] == f"temporalio/admin-tools:{server_tag}"
    script = (ROOT / "deploy/temporal/setup-schema.sh").read_text()
    for database, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"setup {database} {schema}\n" in script
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert f'temporal-sql-tool --db "${{database}}" {step}' in script


def test_every_database_in_use_is_created_by_the_init_script() -> None:
    init = (ROOT / "deploy/postgres/init-databases.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", init))
    roles = set(re.findall(r"CREATE ROLE (\w+) LOGIN", init))
    ledger = urlsplit(environment("worker")["MENTORFLOW_LEDGER_URL"])
    temporal = environment("temporal")

    assert (ledger.path.lstrip("/"), ledger.username) in created
    assert {("temporal", "temporal"), ("temporal_visibility", "temporal")} <= created
    assert {temporal["POSTGRES_USER"], environment("temporal-admin-tools")["SQL_USER"]} <= roles
    assert "/docker-entrypoint-initdb.d/" in " ".join(services()["postgresql"]["volumes"])


def test_the_namespace_job_registers_the_workflows_search_attributes() -> None:
    declared = dict(
        pair.split("=")
        for pair in environment("temporal-create-namespace")["SEARCH_ATTRIBUTES"].split()
    )

    def cli_type(key: Any) -> str:
        name = IndexedValueType.Name(key.indexed_value_type).removeprefix("INDEXED_VALUE_TYPE_")
        return name.title().replace("_", "")

    assert declared == {key.name: cli_type(key) for key in sa.ALL}


def test_mounted_files_exist() -> None:
    for name, spec in services().items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    for script in ("setup-schema.sh", "create-namespace.sh"):
        assert os.access(ROOT / "deploy/temporal" / script, os.X_OK)


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize("service", WORKER_SERVICES)
def test_every_setting_variable_in_the_file_is_one_the_code_reads(service: str) -> None:
    known = all_env_names()
    ours = [name for name in environment(service) if name.startswith(SETTING_PREFIXES)]

    assert ours and [name for name in ours if name not in known] == []


def test_the_worker_accepts_the_environment_compose_gives_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in environment("worker").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MENTORFLOW_DATA_DIR", str(tmp_path))  # the image sets /var/lib/mentorflow

    settings = load_settings()
    check_settings(settings)

    assert settings.temporal_address == "temporal:7233"
    assert settings.codec_keys is not None
    assert (settings.metrics_host, settings.log_format) == ("0.0.0.0", "json")
    assert settings.smtp_username is None  # empty ${VAR:-} means unset


def test_ports_agree_across_services() -> None:
    worker, codec, ui = (
        environment("worker"),
        environment("codec-server"),
        environment("temporal-ui"),
    )
    metrics = int(worker["MENTORFLOW_METRICS_PORT"])
    assert f":{metrics}/metrics" in healthcheck_text("worker")
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    worker_job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "mentorflow-worker")
    assert worker_job["dns_sd_configs"][0] == {"names": ["worker"], "type": "A", "port": metrics}

    codec_port = int(codec["MENTORFLOW_CODEC_PORT"])
    assert codec["MENTORFLOW_CODEC_HOST"] == "0.0.0.0"
    assert str(codec_port) in healthcheck_text("codec-server")
    _, host_port = published("codec-server", codec_port)
    assert urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"]).port == host_port

    _, ui_port = published("temporal-ui", int(ui["TEMPORAL_UI_PORT"]))
    assert codec["MENTORFLOW_CODEC_CORS_ORIGIN"] == f"http://localhost:{ui_port}"
    assert (
        codec["TEMPORAL_NAMESPACE"]
        == worker["TEMPORAL_NAMESPACE"]
        == ui["TEMPORAL_DEFAULT_NAMESPACE"]
    )


# ----------------------------------------------------------------------------- hygiene


def test_the_worker_scales_out() -> None:
    worker = services()["worker"]

    assert "build" in worker
    assert not {"container_name", "ports", "hostname"} & set(worker)


def test_every_image_is_pinned() -> None:
    for name, spec in services().items():
        if "image" not in spec:
            assert "build" in spec, f"{name} has neither image nor build"
            continue
        image = spec["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and "$" not in image, f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} names no version"


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart_forever() -> None:
    for name, spec in services().items():
        if name in one_shots():
            assert str(spec["restart"]).startswith("on-failure"), name
        else:
            assert spec["healthcheck"]["test"], name
            assert spec["restart"] == "unless-stopped", name


def test_data_lives_in_named_volumes() -> None:
    declared = set(compose()["volumes"])
    mounts = {
        volume.split(":")[0]: volume.split(":")[1]
        for spec in services().values()
        for volume in spec.get("volumes", [])
    }

    assert mounts.get("postgres-data") == "/var/lib/postgresql/data"
    assert {source for source in mounts if not source.startswith(("/", "."))} == declared


def from_env_without_default(text: str) -> bool:
    found = VARIABLE.fullmatch(text)
    if found is None or not found.group("name"):
        return False
    op, arg = found.group("op", "arg")
    return op is None or op.endswith("?") or not arg


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [str(node)]


def test_no_secret_is_written_into_the_file() -> None:
    for name, spec in services().items():
        for key, value in spec.get("environment", {}).items():
            text = str(value)
            if SECRET_NAME.search(key):
                assert from_env_without_default(text), f"{name}.{key}: take it from .env"
            password = urlsplit(text).password if "://" in text else None
            assert password is None or from_env_without_default(password), f"{name}.{key}"


def test_every_variable_the_file_uses_is_documented_in_env_example() -> None:
    used = {
        found.group("name")
        for text in strings(compose())
        for found in VARIABLE.finditer(text)
        if found.group("name")
    }

    assert used - set(env_file(ROOT / ".env.example")) == set()


def test_env_example_holds_placeholders_not_secrets() -> None:
    example = env_file(ROOT / ".env.example")
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert value in ("", "CHANGE-ME"), f".env.example sets {key}"


# ----------------------------------------------------------------------------- image


def test_the_image_is_slim_unprivileged_and_runs_the_worker() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M)
    user = re.findall(r"^USER (\S+)$", dockerfile, re.M)

    assert base and re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", base.group(1))
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"pip install \"\.(\[\w+\])?\"", dockerfile)
    assert 'ENTRYPOINT ["mentorflow"]' in dockerfile and 'CMD ["worker"]' in dockerfile
    assert services()["codec-server"]["command"] == ["codec-server"]


def test_the_build_context_leaves_secrets_and_local_state_out() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    assert rules[0] == "*"  # an allowlist: anything not named stays out, .env included
    allowed = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    assert {"pyproject.toml", "README.md"} <= allowed
    assert not allowed & {".env", ".venv", ".data", ".git", "tests"}
