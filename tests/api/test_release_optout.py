"""People under the national data opt-out are never counted: every record of a person
with an opted-out NHS number leaves the release data, and no stored answer computed
before the opt-out is served again."""

from __future__ import annotations

import csv
from datetime import date

from sqlalchemy import select

from app.auth.actor import Actor
from app.services import optout
from app.services.ingest import pseudonym_keys
from app.services.release import queries
from app.services.release.data import load_linked_data
from app.services.store import store_keys
from app.store import FACTS
from privacy.nhs_number import nhs_number
from tests.api.test_queries_api import give_budget
from tests.sealed import assignment, stored_records


def _opted_out_numbers(population, count: int) -> list[str]:
    with (population / "nhs_episodes.csv").open(newline="") as handle:
        numbers = {nhs_number(row["nhs_number"]) for row in csv.DictReader(handle)}
    return sorted(n for n in numbers if n)[:count]


def test_every_record_of_an_opted_out_person_leaves_the_release_data(ctx, population, linked):
    numbers = _opted_out_numbers(population, 60)
    optout.load_optouts(ctx, actor=Actor.cli(), lines=numbers)
    keys = pseudonym_keys(ctx)
    tokens = {keys.token("nhs_number", n) for n in numbers}
    persons = assignment(ctx, linked)
    person_of = dict(
        zip(
            persons.column("record_key").to_pylist(),
            persons.column("person_id").to_pylist(),
            strict=True,
        )
    )
    facts = stored_records(ctx, FACTS)
    opted_persons = {
        person_of[key]
        for key, token in zip(
            facts.column("record_key").to_pylist(),
            facts.column("tok_nhs_number").to_pylist(),
            strict=True,
        )
        if token in tokens and key in person_of
    }
    everyone = set(person_of.values())
    with ctx.sessions() as session:
        data = load_linked_data(session, linked, store_keys(ctx))
    assert len(opted_persons) >= 50
    kept = set(data.data.persons["person_id"].to_list())
    assert kept == everyone - opted_persons
    assert not opted_persons & set(data.data.records["person_id"].to_list())
    assert data.excluded_persons == len(opted_persons)


def test_an_answer_from_before_an_opt_out_is_never_served_again(ctx, people, population, linked):
    from app.db.models import User
    from app.services import identity

    give_budget(ctx, 3)
    with ctx.sessions() as session:
        analyst = identity.actor_for(
            session.scalars(select(User).where(User.username == "test.analyst")).one()
        )
    total = {"measure": {"kind": "persons"}, "epsilon": 1.0}
    before = queries.run_query(ctx, actor=analyst, query=total, today=date.today())
    optout.load_optouts(ctx, actor=Actor.cli(), lines=_opted_out_numbers(population, 200))
    after = queries.run_query(ctx, actor=analyst, query=total, today=date.today())
    assert not after.repeat and after.charged == 1.0
    # About 200 fewer persons, against Laplace noise of scale 1 in each answer.
    assert before.cells[0]["value"] - after.cells[0]["value"] > 150


def _iso(value: date | None) -> str | None:
    """A kept date as the old store kept it (ISO text)."""
    return None if value is None else value.isoformat()


def test_the_release_data_carries_each_records_kept_attributes(ctx, linked):
    import polars as pl

    with ctx.sessions() as session:
        data = load_linked_data(session, linked, store_keys(ctx)).data
    facts = stored_records(ctx, FACTS).to_pylist()
    stored = {
        (r["dataset"], _iso(r.get("admission_date") or r.get("event_start_date"))) for r in facts
    }
    records = data.records
    nhs = records.filter(pl.col("dataset") == "nhs_episodes")
    asc = records.filter(pl.col("dataset") == "asc_clients")
    assert nhs.height and asc.height
    assert nhs["event_date"].null_count() == 0 and nhs["admission_method"].null_count() == 0
    assert nhs["icd10_chapter"].null_count() < nhs.height * 0.05
    assert nhs["length_of_stay"].min() >= 0 and nhs["service_type"].null_count() == nhs.height
    assert asc["service_type"].null_count() == 0 and asc["weekly_cost"].null_count() < asc.height
    assert asc["admission_method"].null_count() == asc.height
    assert {(d, str(e)) for d, e in records.select("dataset", "event_date").iter_rows()} == stored
    persons = data.persons
    assert persons["person_id"].n_unique() == persons.height
    assert persons["borough"].null_count() < persons.height


def test_a_new_snapshot_is_read_into_the_release_cache_by_the_service_job(ctx, population):
    from app.services import linkage
    from app.services.release.data import release_cache

    ctx.settings = ctx.settings.model_copy(update={"release_warm_cache": True})
    run = linkage.start_run(ctx, actor=Actor.cli())
    view = linkage.run_in_service(ctx, run.id)
    cached = release_cache(ctx)._data
    assert cached is not None and cached.snapshot_id == view.snapshot_id
    assert cached.data.persons.height > 0


def test_warming_with_no_snapshot_does_nothing(ctx):
    from app.services.release.data import release_cache, warm_latest

    assert warm_latest(ctx) is None
    assert release_cache(ctx)._data is None
