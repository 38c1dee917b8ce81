"""Dependencies point inward: the domain packages never import the service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app import REPO_ROOT

FORBIDDEN = ("app", "fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "typer")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["linkage", "privacy"])
def test_domain_packages_import_nothing_from_the_service(package):
    files = list((REPO_ROOT / package).rglob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert name.split(".")[0] not in FORBIDDEN, f"{path} imports {name}"


def test_pure_audit_modules_do_no_io_and_use_no_database():
    for name in ("merkle.py", "entries.py", "verify.py"):
        for module in imported_modules(REPO_ROOT / "app" / "audit" / name):
            assert not module.startswith(("sqlalchemy", "fastapi", "app.db")), (name, module)
