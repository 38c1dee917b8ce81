"""``hsclink query`` against the app (served in process) with the analyst's own token."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from tests.api.test_queries_api import give_budget


@pytest.fixture
def hsclink(api_server, people, ctx, linked):
    give_budget(ctx, 1)
    runner = CliRunner()
    env = {"HSCLINK_SERVER": api_server, "HSCLINK_TOKEN": people["analyst"].token}

    def invoke(*args: str):
        return runner.invoke(app, ["query", *args], env=env, catch_exceptions=False)

    return invoke


def test_an_analyst_previews_then_asks_and_sees_every_cell(hsclink, tmp_path):
    preview = hsclink("--group-by", "borough", "--epsilon", "0.4", "--preview", "--json")
    assert preview.exit_code == 0, preview.output
    assert json.loads(preview.stdout)["cells"] == 33
    shown = hsclink("--group-by", "borough", "--epsilon", "0.4", "--preview")
    # The preview as the query page words it: the question, cells by name, cost, noise.
    assert shown.stdout.splitlines()[:3] == [
        json.loads(preview.stdout)["question"],
        "33 cells (borough), on linkage snapshot 1.",
        "Asking it costs 0.4 epsilon; this preview read no data and spent nothing.",
    ]
    assert shown.stdout.splitlines()[3].startswith("Each count may be off by up to about ")
    assert "Laplace" not in shown.stdout and "scale" not in shown.stdout

    answer = hsclink("--group-by", "borough", "--epsilon", "0.4", "--json")
    assert answer.exit_code == 0, answer.output
    released = json.loads(answer.stdout)
    assert released["charged"] == 0.4 and len(released["cells"]) == 33

    spec = tmp_path / "query.json"
    spec.write_text(
        json.dumps({"measure": {"kind": "persons"}, "group_by": ["borough"], "epsilon": 0.4})
    )
    again = hsclink(str(spec))
    assert again.exit_code == 0 and "not charged" in again.stdout
    # One row a cell, the borough named beside its code (app/cli/answers.py).
    assert re.search(r"^City of London \(E09000001\) +-?\d+ +-?\d+ to -?\d+$", again.stdout, re.M)


def test_an_over_budget_query_exits_with_the_reason(hsclink):
    assert hsclink("--epsilon", "0.9").exit_code == 0
    refused = hsclink("--group-by", "sex", "--epsilon", "0.5")
    assert refused.exit_code == 4
    assert "Privacy budget exhausted" in refused.output


def test_dimensions_lists_what_can_be_asked_and_each_dimensions_values(api_server, people):
    runner = CliRunner()
    env = {"HSCLINK_SERVER": api_server, "HSCLINK_TOKEN": people["analyst"].token}

    def dimensions(*args: str):
        return runner.invoke(app, ["dimensions", *args], env=env, catch_exceptions=False)

    overview = dimensions()
    assert overview.exit_code == 0, overview.output
    assert re.search(r"^  borough +Borough, each person's: 33 values$", overview.stdout, re.M)
    assert re.search(
        r"^  weekly_cost +Weekly cost of care \(social care records\): 0 to 2500 pounds$",
        overview.stdout,
        re.M,
    )
    boroughs = dimensions("borough")
    assert "  E09000001  City of London" in boroughs.stdout.splitlines()
    as_data = json.loads(dimensions("sex", "--json").stdout)
    assert [v["code"] for v in as_data["values"]] == ["0", "1", "2", "9"]
    unknown = dimensions("postcode")
    assert unknown.exit_code == 3
    assert "the dimensions are admission_method, admission_type, age_band" in unknown.output
