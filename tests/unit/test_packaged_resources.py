"""Policies, migrations and dataset schemas are read from the package, never the checkout.

An installed wheel has no source tree: ``deploy/smoke.py`` installs one into a fresh
venv and runs the whole flow. These tests pin the parts that can be checked in-suite.
"""

from __future__ import annotations

import ast
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

import pytest

import app
from app import REPO_ROOT
from app.config import Settings
from app.db.migrate import alembic_config
from app.resources import ResourceName, resource_dir

RESOURCES: tuple[ResourceName, ...] = ("policies", "migrations", "datasets")
PACKAGE = Path(app.__file__).parent


def runtime_modules() -> list[Path]:
    modules = [
        path
        for package in ("app", "linkage", "privacy")
        for path in (REPO_ROOT / package).rglob("*.py")
    ]
    return [path for path in modules if "_resources" not in path.parts]


def test_no_runtime_module_refers_to_the_source_tree():
    offenders = []
    for path in runtime_modules():
        if path == REPO_ROOT / "app" / "__init__.py":
            continue  # defines REPO_ROOT, for tests and development tools
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            named = (isinstance(node, ast.Name) and node.id == "REPO_ROOT") or (
                isinstance(node, ast.alias) and node.name == "REPO_ROOT"
            )
            if named or (isinstance(node, ast.Attribute) and node.attr == "REPO_ROOT"):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("policies", "schema.cedarschema"),
        ("migrations", "env.py"),
        ("datasets", "nhs_episodes.toml"),
    ],
)
def test_each_resource_resolves_inside_the_installed_package(name, expected):
    directory = resource_dir(name)
    assert directory.is_relative_to(PACKAGE)
    assert (directory / expected).is_file()


def test_settings_and_alembic_default_to_the_packaged_resources():
    fields = Settings.model_fields
    assert fields["policy_dir"].default == resource_dir("policies")
    assert fields["dataset_dir"].default == resource_dir("datasets")
    assert alembic_config().get_main_option("script_location") == str(resource_dir("migrations"))


@pytest.mark.parametrize("name", RESOURCES)
def test_in_a_checkout_the_packaged_resources_are_the_top_level_directories(name):
    # IG officers and operators read policies/ and migrations/ at the top of the repository.
    assert (PACKAGE / "_resources" / name).resolve() == (REPO_ROOT / name).resolve()


def test_the_wheel_ships_every_file_of_each_resource_directory():
    """A new policy file, migration or schema cannot be left out of the wheel unnoticed."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["app"]

    def shipped(relative: PurePosixPath) -> bool:
        return any(
            len(pattern.split("/")) == len(relative.parts)
            and all(map(fnmatchcase, relative.parts, pattern.split("/")))
            for pattern in patterns
        )

    missing = [
        str(path.relative_to(REPO_ROOT))
        for name in RESOURCES
        for path in (REPO_ROOT / name).rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and not shipped(PurePosixPath("_resources", path.relative_to(REPO_ROOT).as_posix()))
    ]
    assert missing == []
