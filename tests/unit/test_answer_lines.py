"""``hsclink query`` prints an answer as the pages show it (``app.cli.answers``): boroughs
by name beside their ONS code, coded values beside their words, counts as whole numbers;
``--json`` prints the exact released values. The words and rounding are the pages' own
(``app.formatting``), imported without the service or data libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import query as query_command
from app.cli.answers import answer_lines
from app.cli.main import app
from app.web.answer_view import AnswerView
from tests.unit.test_answer_chart import release

ACCURACY = {"unit": "persons", "noise": "discrete Laplace", "half_width": 19.6, "scale": 6.5}


def answer(
    cells: list[dict[str, Any]], dims: list[str], *, measure: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A released answer as the API returns it (``POST /api/v1/queries``)."""
    return {
        "release_id": 7,
        "snapshot_id": 3,
        "plan_id": "0" * 64,
        "repeat": False,
        "charged": 0.4,
        "epsilon": 0.4,
        "unit": "epsilon",
        "dimensions": dims,
        "cells": cells,
        "accuracy": ACCURACY,
        "query": {"measure": measure or {"kind": "persons"}, "group_by": dims},
        "released_at": "2026-01-01T00:00:00+00:00",
    }


def cell(
    key: list[str], value: float, low: float | None, high: float | None, stat: str = "persons"
):
    return {"key": key, "statistic": stat, "value": value, "low": low, "high": high}


BY_BOROUGH_AND_SEX = answer(
    [
        cell(["E09000001", "2"], 1234.4999, 1214.9, 1254.1),
        cell(["E09000007", "1"], -3.2, -22.8, 16.4),
    ],
    ["borough", "sex"],
)


def test_boroughs_are_named_beside_their_code_and_counts_are_whole_numbers():
    lines = answer_lines(BY_BOROUGH_AND_SEX)
    assert lines[0] == "charged 0.4 epsilon (release 7, snapshot 3)"
    assert lines[1].startswith("Each count may be off by up to about 20 people")
    header, first, second = lines[2:]
    assert header.split() == ["Borough", "Sex", "Value", "95%", "interval"]
    assert first.split("  ")[0] == "City of London (E09000001)"
    assert "2 · female" in first and "1 · male" in second
    assert "Camden (E09000007)" in second
    # Whole numbers with separators, as the pages round them; a negative count as released.
    assert " 1,234  1,215 to 1,254" in first
    assert "   -3  -23 to 16" in second
    assert "1234.5" not in "\n".join(lines) and "E09000001 " not in first


def test_the_cli_rounds_every_cell_as_the_pages_do():
    """One rounding: the table's numbers are the answer view's, cell by cell."""
    view = AnswerView.of(release(BY_BOROUGH_AND_SEX["cells"], ["borough", "sex"]))
    for row, line in zip(view.rows, answer_lines(BY_BOROUGH_AND_SEX)[3:], strict=True):
        assert line.split()[-4:] == [row.value, row.low, "to", row.high]
        assert all(label in line for label in row.labels)


def test_means_have_two_decimals_and_a_quantile_its_statistic_and_no_interval():
    mean = answer(
        [cell(["65-69"], 4.256, 1.5, 7.0, "mean")],
        ["age_band"],
        measure={"kind": "mean", "attribute": "length_of_stay"},
    )
    assert answer_lines(mean)[-1].split() == ["65-69", "4.26", "1.50", "to", "7.00"]
    quantile = answer(
        [cell([], 12.0, None, None, "q0.5")],
        [],
        measure={"kind": "quantile", "attribute": "weekly_cost", "quantiles": [0.5]},
    )
    assert answer_lines(quantile)[-2:] == ["Statistic  Value  95% interval", "q0.5       12.00  —"]


def test_a_repeat_says_it_was_not_charged():
    assert answer_lines({**BY_BOROUGH_AND_SEX, "repeat": True, "charged": 0.0})[0] == (
        "a repeat of an earlier answer, not charged (release 7, snapshot 3)"
    )


@pytest.fixture
def hsclink(monkeypatch: pytest.MonkeyPatch):
    """``hsclink query`` answered with ``BY_BOROUGH_AND_SEX`` (no server: the API's side
    is ``tests/api/test_query_name_errors.py``)."""
    monkeypatch.setattr(query_command, "client", lambda server, token: object())
    monkeypatch.setattr(query_command, "call", lambda api, method, path, body: BY_BOROUGH_AND_SEX)
    env = {"HSCLINK_SERVER": "https://hsclink.test", "HSCLINK_TOKEN": "unused"}

    def invoke(*args: str):
        return CliRunner().invoke(app, ["query", *args], env=env, catch_exceptions=False)

    return invoke


def test_the_command_prints_names_and_whole_numbers_and_json_the_exact_values(hsclink):
    shown = hsclink("--group-by", "borough,sex", "--epsilon", "0.4")
    assert shown.exit_code == 0, shown.output
    assert "City of London (E09000001)" in shown.stdout and " 1,234 " in shown.stdout
    exact = hsclink("--group-by", "borough,sex", "--epsilon", "0.4", "--json")
    assert exact.exit_code == 0, exact.output
    released = json.loads(exact.stdout)
    assert released["cells"] == BY_BOROUGH_AND_SEX["cells"]  # 1234.4999, not 1,234
    assert "City of London" not in exact.stdout


def test_the_answer_text_loads_no_service_or_data_library():
    """``app.cli.answers`` (and ``app.formatting``, the pages' words) in a fresh
    interpreter: the catalogue's labels come without OpenDP, NumPy, FastAPI or SQLAlchemy."""
    probe = "import json, sys, app.cli.answers; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=True,
    )
    loaded = {name.partition(".")[0] for name in json.loads(done.stdout)}
    heavy = {"opendp", "numpy", "polars", "pandas", "fastapi", "sqlalchemy", "jinja2"}
    assert loaded & heavy == set()
