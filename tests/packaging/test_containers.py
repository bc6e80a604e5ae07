"""The Dockerfile and docker-compose.yml, checked without Docker: the compose file against the
Compose Specification's JSON schema (tests/data/compose_spec.json, vendored), and what both must
say for a user's `docker compose up` to run one easlab from a built image, as a non-root user,
with its data in a volume and /healthz as its health check."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "compose_spec.json"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def active(services: dict, profiles: set[str]) -> set[str]:
    """The services Compose starts under `profiles` (those without profiles always start)."""
    return {name for name, service in services.items()
            if not service.get("profiles") or profiles & set(service["profiles"])}


def default_profiles() -> set[str]:
    """COMPOSE_PROFILES from the .env beside the compose file: what Compose uses without --profile."""
    for line in (ROOT / ".env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "COMPOSE_PROFILES":
            return {p.strip() for p in value.split(",") if p.strip()}
    return set()


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            out.append((instruction.upper(), " ".join(arguments.split())))
    return out


def test_compose_file_is_valid_against_the_compose_specification():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft201909Validator(schema).validate(compose())


def test_the_schema_rejects_what_compose_rejects():
    """The validation can fail: an unknown service key and a bad depends_on condition are refused."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    broken = compose()
    broken["services"]["easlab"]["comand"] = "easlab serve"
    assert not validator.is_valid(broken)
    broken = compose()
    broken["services"]["easlab-pg"]["depends_on"]["postgres"]["condition"] = "healthy"
    assert not validator.is_valid(broken)


@pytest.mark.parametrize("profiles, expected", [
    (None, {"easlab"}),  # docker compose up
    ({"postgres"}, {"easlab-pg", "postgres"}),  # docker compose --profile postgres up
    ({"sqlite"}, {"easlab"}),  # docker compose --profile sqlite up
])
def test_each_invocation_starts_exactly_one_easlab(profiles, expected):
    services = compose()["services"]
    started = active(services, default_profiles() if profiles is None else profiles)
    assert started == expected
    assert sum(1 for name in started if "command" in services[name] or "build" in services[name]) == 1


def test_easlab_services_build_the_image_once_and_mount_no_checkout():
    services = compose()["services"]
    for name in ("easlab", "easlab-pg"):
        service = services[name]
        assert (service["build"], service["image"]) == (".", "easlab:local")
        assert service["restart"] in ("unless-stopped", "on-failure", "always")
        assert "command" not in service  # the image's CMD: nothing installed at start
        assert service["volumes"] == ["easlab-data:/data"]  # a named volume, never a host path
    assert "EASLAB_DB" not in services["easlab"]["environment"]  # SQLite in /data, the image's EASLAB_HOME
    assert services["easlab-pg"]["environment"]["EASLAB_DB"] == "postgresql://easlab:easlab@postgres:5432/easlab"


def test_postgres_variant_waits_for_a_healthy_database():
    services = compose()["services"]
    assert services["easlab-pg"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    check = services["postgres"]["healthcheck"]
    assert check["test"][:2] == ["CMD", "pg_isready"]
    assert services["postgres"]["restart"] == "unless-stopped"


def test_dockerfile_runs_as_non_root_with_data_volume_and_healthcheck():
    instructions = dockerfile()
    kinds = [kind for kind, _ in instructions]
    args = dict(instructions)  # the last of each kind
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert args["USER"] not in ("root", "0")
    assert args["VOLUME"] == '["/data"]'
    assert "EASLAB_HOME=/data" in " ".join(a for k, a in instructions if k == "ENV")
    assert "EASLAB_HOST=0.0.0.0" in " ".join(a for k, a in instructions if k == "ENV")
    assert {"8080", "2525"} <= set(args["EXPOSE"].split())  # HTTP and SMTP, the CLI's default ports
    assert "/healthz" in args["HEALTHCHECK"] and "urllib.request.urlopen" in args["HEALTHCHECK"]
    assert json.loads(args["CMD"]) == ["easlab", "serve"]
    # The data folder is chowned before it is declared a volume (later changes would be discarded),
    # and the user is switched to after every RUN that needs root.
    chown = next(i for i, (k, a) in enumerate(instructions) if k == "RUN" and "chown easlab:easlab /data" in a)
    assert chown < kinds.index("VOLUME") < kinds.index("USER")
    assert "RUN" not in kinds[kinds.index("USER"):]


def test_dockerfile_installs_dependencies_before_copying_the_sources():
    instructions = dockerfile()
    copies = [(i, a) for i, (k, a) in enumerate(instructions) if k == "COPY"]
    assert [a for _, a in copies] == ["pyproject.toml ./", ". ."]
    installs = [(i, a) for i, (k, a) in enumerate(instructions) if k == "RUN" and "pip install" in a]
    assert copies[0][0] < installs[0][0] < copies[1][0] < installs[1][0]
    assert "-e " not in installs[1][1] and "--editable" not in installs[1][1]


def test_dockerignore_keeps_user_state_and_tooling_out_of_the_image():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "*.db", "**/__pycache__", ".pytest_cache"} <= ignored
    assert not {"setup.py", "pyproject.toml", "README.md", "eas", "server", "storage", "testing"} & ignored
