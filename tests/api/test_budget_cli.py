"""``hsclink budget`` and ``hsclink project`` speak to the app (served in process) with the
user's own token: IG officers set budgets, analysts see their own, nobody else does either."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli.main import app


@pytest.fixture
def hsclink(api_server, people):
    runner = CliRunner()

    def invoke(role: str, *args: str):
        env = {"HSCLINK_SERVER": api_server, "HSCLINK_TOKEN": people[role].token}
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


def test_an_ig_officer_sets_and_renews_the_global_budget_and_an_analyst_sees_it(hsclink, linked):
    result = hsclink("ig_officer", "budget", "set", "global", "3", "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert (row["kind"], row["subject"], row["period"], row["total"], row["spent"]) == (
        "global",
        f"lineage:{linked}",
        "G1",
        3.0,
        0.0,
    )
    too_much = hsclink("ig_officer", "budget", "set", "global", "6")
    assert too_much.exit_code == 2 and "at most 5" in too_much.output
    renew = hsclink("ig_officer", "budget", "set", "global", "2", "--renew")
    assert renew.exit_code == 2 and "reason" in renew.output
    renewed = hsclink(
        "ig_officer",
        "budget",
        "set",
        "global",
        "2",
        "--renew",
        "--reason",
        "IG board 2026-12: refreshed extract",
    )
    assert renewed.exit_code == 0, renewed.output
    assert "global" in renewed.stdout and "G2" in renewed.stdout
    own = hsclink("analyst", "budget", "show")
    assert own.exit_code == 0
    assert f"global   lineage:{linked}" in own.stdout and "total 2  spent 0" in own.stdout
    refused = hsclink("analyst", "budget", "set", "global", "5")
    assert refused.exit_code == 5


def test_budget_set_global_takes_a_total_and_no_subject(hsclink):
    result = hsclink("ig_officer", "budget", "set", "global", "some.analyst", "3")
    assert result.exit_code == 2
    result = hsclink("ig_officer", "budget", "set", "global", "lots")
    assert result.exit_code == 2


def test_amounts_are_shown_to_three_figures_and_what_is_left_rounded_down(hsclink, linked):
    assert hsclink("ig_officer", "budget", "set", "analyst", "test.analyst", "2").exit_code == 0
    asked = hsclink("analyst", "query", "--group-by", "sex", "--epsilon", "0.123456", "--json")
    assert asked.exit_code == 0, asked.output
    own = hsclink("analyst", "budget", "show")
    assert "total 2  spent 0.123  remaining 1.87 epsilon" in own.stdout
    exact = json.loads(hsclink("analyst", "budget", "show", "--json").stdout)
    assert {(b["spent"], b["remaining"]) for b in exact if b["kind"] == "analyst"} == {
        (0.123456, 1.876544)
    }
