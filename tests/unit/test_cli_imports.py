"""``hsclink`` starts without the data, DP and service libraries (issue 14, item 5).

Every command, ``--help`` included, imports :mod:`app.cli.main`. Loading OpenDP,
scikit-learn, SciPy, pandas or Polars there cost seconds per command; the command
modules now import what they use inside the command functions. These tests pin that
in fresh interpreters (``sys.modules`` of the test process is polluted by other tests);
how fast it starts is measured by ``benchmarks/cli_startup.py``, not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from app.cli.main import app

#: The libraries the issue names, the rest of the data stack, and the service stack: none
#: is needed to parse arguments or print help. A command that needs one imports it in
#: its body (see ``app/cli/main.py``).
HEAVY = (
    "opendp",
    "sklearn",
    "scipy",
    "pandas",
    "polars",
    "numpy",
    "pyarrow",
    "recordlinkage",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "uvicorn",
    "cedarpy",
)

#: The command groups of today; a group registered later is checked too (from the app).
GROUPS = (
    "db",
    "user",
    "org",
    "token",
    "policy",
    "audit",
    "key",
    "optout",
    "link",
    "budget",
    "project",
    "witness",
)

_REPORT_MODULES = """
import json, sys
try:
    from app.cli.main import main
    {call}
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _fresh(call: str, *args: str) -> tuple[str, set[str]]:
    """Run ``call`` in a new interpreter: its standard output and the modules it loaded."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-c", _REPORT_MODULES.format(call=call), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, {name.partition(".")[0] for name in modules}


def _heavy(loaded: set[str]) -> list[str]:
    return [name for name in HEAVY if name in loaded]


def _group_names() -> list[str]:
    """The top-level groups and commands as Typer names them (``a_b`` becomes ``a-b``)."""
    return sorted(getattr(get_command(app), "commands", {}))


def test_importing_the_cli_loads_no_data_dp_or_service_library() -> None:
    _, loaded = _fresh("pass")
    assert {"app", "typer"} <= loaded  # the probe saw the import
    assert _heavy(loaded) == []


@pytest.mark.parametrize("args", [["--help"], ["user", "add", "--help"], ["query", "--help"]])
def test_printing_help_loads_no_data_dp_or_service_library(args: list[str]) -> None:
    """Help builds every command's parameters, so it also resolves their annotations."""
    out, loaded = _fresh("sys.argv[0] = 'hsclink'; main()", *args)
    assert "Usage: hsclink" in out
    assert _heavy(loaded) == []


def test_the_help_lists_every_command_group_and_command() -> None:
    out, _ = _fresh("sys.argv[0] = 'hsclink'; main()", "--help")
    names = _group_names()
    assert set(GROUPS) <= set(names)
    listed = {line.strip("│ ").split(" ")[0] for line in out.splitlines()}
    assert [name for name in names if name not in listed] == []


def _every_command_path() -> list[list[str]]:
    """Every group and command of the app, as the words that reach it."""
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize(
    "path", _every_command_path(), ids=lambda path: " ".join(path) or "hsclink"
)
def test_every_command_prints_its_help(path: list[str]) -> None:
    """A name a command's signature uses but its module no longer imports fails here."""
    result = CliRunner().invoke(app, [*path, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
