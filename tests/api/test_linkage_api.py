"""Linkage through the real app: an operator starts a run, a background job links the
uploaded extracts, and the run report obeys the disclosure-control rule."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import AuditEvent, LinkageRun
from app.services import linkage
from app.synth import write_extracts
from tests.api.uploads import upload
from tests.sealed import assignment


def as_(people, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {people[role].token}"}


def wait_for(client, people, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/linkage/runs/{run_id}", headers=as_(people, "operator")).json()
        if run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.1)
    raise AssertionError("the linkage run did not finish")


def is_controlled(value: object) -> bool:
    return value == "*" or (isinstance(value, int) and value % 5 == 0)


def test_an_operator_runs_linkage_and_an_ig_officer_reads_its_report(
    client, people, ctx, population
):
    started = client.post("/api/v1/linkage/runs", json={}, headers=as_(people, "operator"))
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    assert started.headers["location"] == f"/api/v1/linkage/runs/{run_id}"
    run = wait_for(client, people, run_id)
    assert run["status"] == "succeeded", run["problem"]
    assert run["stage"] == "done" and run["records"] > 500

    report = client.get(
        f"/api/v1/linkage/snapshots/{run['snapshot_id']}/report", headers=as_(people, "ig_officer")
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["run_id"] == run_id
    assert [d["dataset"] for d in body["datasets"]] == ["asc_clients", "nhs_episodes"]
    for row in body["datasets"]:
        assert all(is_controlled(row[k]) for k in ("records", "persons", "exact", "singleton"))
    assert all(is_controlled(c) or c == 0 for c in body["histogram"]["counts"])
    assert len(body["histogram"]["edges"]) == len(body["histogram"]["counts"]) + 1
    assert set(body["link_rates"]) == {"borough", "age_band", "sex"}
    assert {c["name"] for c in body["model"]["comparisons"]} >= {"nhs_number", "date_of_birth"}
    for comparison in body["model"]["comparisons"]:
        for level in comparison["levels"]:
            assert 0 <= level["m"] <= 1 and 0 <= level["u"] <= 1
    assert 0.9 < body["estimates"]["precision"] <= 1
    assert body["settings"]["policy_sha256"] == ctx.policy.sha256
    latest = client.get("/api/v1/linkage/snapshots/latest/report", headers=as_(people, "operator"))
    assert latest.json()["snapshot_id"] == body["snapshot_id"]

    with ctx.sessions() as session:
        entries = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        actions = [(e.action, e.actor, e.outcome) for e in entries]
    assert ("linkage.run", people["operator"].username, "allowed") in actions
    assert ("linkage.snapshot", Actor.service().name, "allowed") in actions
    assert ("linkage.read", people["ig_officer"].username, "allowed") in actions


def test_a_second_run_is_refused_while_one_is_active(client, people, ctx, population):
    queued = linkage.start_run(ctx, actor=Actor.cli())
    refused = client.post("/api/v1/linkage/runs", json={}, headers=as_(people, "operator"))
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/conflict"
    assert linkage.execute_run(ctx, queued.id).status == "succeeded"
    again = client.post(
        "/api/v1/linkage/runs", json={"mode": "full"}, headers=as_(people, "operator")
    )
    assert again.status_code == 202
    assert wait_for(client, people, again.json()["id"])["status"] == "succeeded"


def test_an_incremental_run_keeps_every_existing_persons_id(client, people, ctx, tmp_path):
    write_extracts(tmp_path / "first", persons=800, seed=31)
    write_extracts(tmp_path / "second", persons=800, seed=32)
    token = people["submitter"].token
    upload(client, token, tmp_path / "first" / "nhs_episodes.csv", "nhs_episodes")
    first = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
    upload(client, token, tmp_path / "second" / "nhs_episodes.csv", "nhs_episodes")
    second = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
    assert first.snapshot_id and second.snapshot_id

    def persons(snapshot_id: int) -> dict[int, int]:
        table = assignment(ctx, snapshot_id)
        return dict(
            zip(
                table.column("record_key").to_pylist(),
                table.column("person_id").to_pylist(),
                strict=True,
            )
        )

    before, after = persons(first.snapshot_id), persons(second.snapshot_id)
    assert len(after) > len(before)
    assert {r: after[r] for r in before} == before


def test_a_failed_run_records_a_safe_reason_and_frees_the_next_run(
    client, people, ctx, population, monkeypatch
):
    secret = "9434765919 Ann Lee SW1A 1AA"

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"engine crashed on {secret}")

    monkeypatch.setattr("app.services.linkage.runs.link", broken)
    run = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
    assert run.status == "failed" and run.stage == "failed"
    assert run.problem == "RuntimeError (see the service log)"
    with ctx.sessions() as session:
        entry = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "linkage.failed")
        ).one()
        assert secret not in str(entry.details)
    monkeypatch.undo()
    assert linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id).status == (
        "succeeded"
    )


def test_a_run_interrupted_by_a_stopped_service_is_failed_at_the_next_start(ctx, people):
    run = linkage.start_run(ctx, actor=Actor.cli())
    assert linkage.recover_interrupted_runs(ctx) == 1
    with ctx.sessions() as session:
        stored = session.get(LinkageRun, run.id)
        assert stored is not None
        assert (stored.status, stored.active) == ("failed", None)
        assert "interrupted" in (stored.problem or "")
    assert linkage.recover_interrupted_runs(ctx) == 0
