"""``hsclink budget`` and ``hsclink project`` speak to a live server with the user's own
token: IG officers set budgets, analysts see their own, nobody else does either."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli.main import app


@pytest.fixture
def hsclink(live_server, people):
    runner = CliRunner()

    def invoke(role: str, *args: str):
        env = {"HSCLINK_SERVER": live_server, "HSCLINK_TOKEN": people[role].token}
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return invoke


def test_an_ig_officer_sets_budgets_and_an_analyst_sees_their_own(hsclink):
    made = hsclink("ig_officer", "project", "add", "discharge", "--name", "Discharge", "--json")
    assert made.exit_code == 0, made.output
    joined = hsclink("ig_officer", "project", "member", "discharge", "test.analyst", "--json")
    assert json.loads(joined.stdout)["members"] == ["test.analyst"]
    for kind, subject, total in (("analyst", "test.analyst", "2"), ("project", "discharge", "8")):
        result = hsclink("ig_officer", "budget", "set", kind, subject, total, "--json")
        assert result.exit_code == 0, result.output
    listed = json.loads(hsclink("ig_officer", "budget", "list", "--json").stdout)
    assert {(b["kind"], b["subject"], b["total"]) for b in listed} == {
        ("analyst", "test.analyst", 2.0),
        ("project", "discharge", 8.0),
    }
    own = hsclink("analyst", "budget", "show")
    assert own.exit_code == 0 and "remaining 2 epsilon" in own.stdout


@pytest.mark.parametrize("role", ["analyst", "operator", "submitter"])
def test_only_ig_officers_set_budgets(hsclink, role):
    result = hsclink(role, "budget", "set", "analyst", "test.analyst", "5")
    assert result.exit_code == 5
    assert "Not permitted" in result.output


def test_a_budget_above_the_policy_limit_is_refused_with_the_reason(hsclink):
    result = hsclink("ig_officer", "budget", "set", "analyst", "test.analyst", "6")
    assert result.exit_code == 2
    assert "at most 5" in result.output


def test_plain_http_to_a_remote_server_is_refused_before_the_token_is_sent(people):
    result = CliRunner().invoke(
        app,
        ["budget", "show", "--server", "http://hsclink.example", "--token", "hsk_x"],
        catch_exceptions=False,
    )
    assert result.exit_code != 0 and "plain HTTP" in result.output
