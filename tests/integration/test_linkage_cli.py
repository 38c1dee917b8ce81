"""``hsclink link``: the demo store is linked at init; runs, reports and evaluation from
the command line, with no raw record id left in the audit log or the output."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import select

from app.db.models import AuditEvent
from app.services.setup import DEMO_PERSONS
from app.synth import ERROR_KINDS, write_extracts
from linkage.evaluation import NO_ERRORS


@pytest.fixture
def demo(run):
    result = run("init", "--demo", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["demo_linkage_snapshot"] == 1
    return run


def test_the_demo_is_linked_and_an_operator_can_run_report_and_evaluate(
    demo, settings, ctx, tmp_path
):
    ran = demo("link", "run", "--json")
    assert ran.exit_code == 0, ran.output
    view = json.loads(ran.stdout)
    assert (view["status"], view["snapshot_id"], view["mode"]) == ("succeeded", 2, "incremental")

    report = json.loads(demo("link", "report", "--json").stdout)
    assert report["snapshot_id"] == 2
    assert {d["dataset"] for d in report["datasets"]} == {"nhs_episodes", "asc_clients"}

    status = demo("link", "status")
    assert status.exit_code == 0 and "succeeded" in status.stdout

    # The demo's extracts are deleted once submitted: the same seed writes them again.
    write_extracts(tmp_path, persons=DEMO_PERSONS, seed=1)
    truth = tmp_path / "truth.csv"
    evaluated = demo("link", "evaluate", "--truth", str(truth), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.stdout)
    assert set(scores) >= {"pairwise", "cross_dataset", "person_exact_share"}
    assert set(scores["pairwise"]) >= {"precision", "recall", "f1"}
    assert scores["pairwise"]["f1"] > 0.99 and scores["cross_dataset"]["f1"] > 0.98
    assert scores["truth_rows_unmatched"] == 0
    # The synthetic truth labels error kinds: the recall of each kind's records follows.
    kinds = {k["kind"]: k for k in scores["error_kinds"]}
    assert set(kinds) <= {*ERROR_KINDS, NO_ERRORS} and "nhs_missing" in kinds
    assert sum(k["records"] for k in scores["error_kinds"] if k["kind"] != NO_ERRORS) > 0
    assert all(0 <= k["recall"] <= 1 for k in kinds.values())
    table = demo("link", "evaluate", "--truth", str(truth))
    assert table.exit_code == 0 and "nhs_missing" in table.stdout

    # A gold standard without the errors column (a clerical-review sample) still scores.
    plain = tmp_path / "plain.csv"
    with truth.open(newline="") as source, plain.open("w", newline="") as target:
        writer = csv.writer(target, lineterminator="\n")
        for row in csv.reader(source):
            writer.writerow(row[:3])
    old = json.loads(demo("link", "evaluate", "--truth", str(plain), "--json").stdout)
    assert "error_kinds" not in old and old["pairwise"] == scores["pairwise"]

    with truth.open(newline="") as handle:
        record_ids = {row["record_id"] for row in csv.DictReader(handle)}
    with ctx.sessions() as session:
        entries = session.scalars(select(AuditEvent)).all()
        logged = " ".join(f"{e.target} {e.details}" for e in entries)
    assert ("linkage.evaluate", "allowed") in {(e.action, e.outcome) for e in entries}
    assert not [r for r in record_ids if r in logged or r in evaluated.stdout]


def test_a_malformed_truth_file_is_refused_naming_the_line_never_the_value(demo, tmp_path):
    bad = tmp_path / "truth.csv"
    bad.write_text("dataset,record_id,person_key\nnhs_episodes,RAL-EP-SECRET-1\n")
    result = demo("link", "evaluate", "--truth", str(bad))
    assert result.exit_code == 2
    assert "line 2" in result.output and "SECRET" not in result.output
    wrong_header = tmp_path / "header.csv"
    wrong_header.write_text("ds,id,person\n")
    result = demo("link", "evaluate", "--truth", str(wrong_header))
    assert result.exit_code == 2 and "header" in result.output
    short = tmp_path / "short.csv"
    short.write_text("dataset,record_id,person_key,errors\nnhs_episodes,RAL-EP-SECRET-2,P1\n")
    result = demo("link", "evaluate", "--truth", str(short))
    assert result.exit_code == 2
    assert "line 2: expected 4 columns" in result.output and "SECRET" not in result.output
