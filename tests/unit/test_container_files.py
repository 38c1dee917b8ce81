"""The image and compose files keep their security properties when edited.

Building and running the image is `deploy/container_smoke.sh` (minutes, podman, root);
these read the files themselves: what the build may see, who the image runs as, and how
compose runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _runtime_stage() -> list[str]:
    """The Containerfile's last stage, one logical instruction a line (continuations joined)."""
    text = (ROOT / "Containerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.startswith("FROM "))
    return instructions[last_from:]


def _compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
    return document


def test_the_build_context_is_an_allow_list_that_leaves_out_data_keys_and_the_venv():
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:].strip("/") for line in lines if line.startswith("!")}
    assert included.isdisjoint({".venv", ".git", "var", "var-keys", "tests", "benchmarks"})
    assert not any(name.startswith("var") for name in included)


def test_the_runtime_image_runs_unprivileged_with_a_health_check_and_copies_nothing_in():
    stage = _runtime_stage()
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert any(line.startswith("HEALTHCHECK ") and "/health" in line for line in stage)
    # The wheel arrives through a build-time bind mount: no COPY or ADD can carry a key,
    # a data directory or the build CA into the image's layers.
    assert not [line for line in stage if line.split()[0] in {"COPY", "ADD"}]


def test_every_compose_service_from_the_image_is_read_only_without_capabilities():
    services = _compose()["services"]
    ours = {
        name: s for name, s in services.items() if s.get("image", "").endswith("hsclink:latest")
    }
    assert {"init", "hsclink", "witness"} <= set(ours)
    for service in ours.values():
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert not service.get("privileged", False)


def test_the_compose_service_is_configured_with_the_witness_it_runs():
    services = _compose()["services"]
    assert services["witness"]["command"][:2] == ["witness", "serve"]
    environment = services["hsclink"]["environment"]
    assert environment["HSCLINK_AUDIT_WITNESSES"]
    assert environment["HSCLINK_DATABASE_URL"].startswith("postgresql://")
    assert "db" in services
