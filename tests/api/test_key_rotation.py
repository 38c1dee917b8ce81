"""Rotating the pseudonym wrap key keeps every stored token comparable; rotating the
data-seal key reseals the whole store; the linkage key cannot be rotated under stored data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import AssignmentBatch, AuditEvent, OptOutList
from app.errors import Conflict
from app.keys.store import DATA_SEAL, LINKAGE, PSEUDONYM_WRAP
from app.services import keys, linkage, optout
from app.services.linkage.data import load_records
from app.services.release.data import load_linked_data
from app.services.store import store_keys
from app.store import FACTS, LINKAGE_PART
from tests.api.test_release_optout import _opted_out_numbers
from tests.api.test_submissions import VALID_NHS, extract, send, start
from tests.sealed import (
    assignment,
    optout_tokens,
    record_batches,
    record_count,
    stored_records,
)


def token_columns(table: pa.Table) -> list[str]:
    return [name for name in table.column_names if name.startswith("tok_")]


def stored_tokens(ctx) -> dict[str, pa.Table]:
    """Every record's tokens (and Bloom encodings) in both parts, in record-key order."""
    return {part: stored_records(ctx, part).sort_by("record_key") for part in (LINKAGE_PART, FACTS)}


def nhs_tokens(ctx) -> list[bytes]:
    return stored_records(ctx, FACTS).sort_by("record_key").column("tok_nhs_number").to_pylist()


def test_rotating_the_wrap_key_rewraps_stored_tokens_so_new_uploads_still_match(client_as, ctx):
    submitter = client_as("submitter")
    first = extract(4)
    send(submitter, start(submitter, first).json()["id"], first)
    client_as("operator").put(
        "/api/v1/optouts",
        content=f"{VALID_NHS[0]}\n".encode(),
        headers={"Content-Type": "text/plain"},
    )
    batches_before = record_batches(ctx)
    assert {b.wrap_key_version for b in batches_before} == {1}
    before = stored_tokens(ctx)
    optouts_before = optout_tokens(ctx)
    info = keys.rotate_key(ctx, actor=Actor.cli(), purpose=PSEUDONYM_WRAP)
    after = stored_tokens(ctx)
    assert info.version == 2
    batches_after = record_batches(ctx)
    assert [b.wrap_key_version for b in batches_after] == [2] * len(batches_before)
    # Every token of every record, in both sealed parts, is wrapped anew; nothing else moves.
    for part in (LINKAGE_PART, FACTS):
        assert after[part].num_rows == before[part].num_rows == 4
        for name in after[part].column_names:
            old, new = before[part].column(name).to_pylist(), after[part].column(name).to_pylist()
            if name.startswith("tok_"):
                assert all(a != b for a, b in zip(old, new, strict=True) if a is not None), name
                assert [a is None for a in old] == [b is None for b in new], name
            else:
                assert old == new, name
    (optout_after,) = optout_tokens(ctx)
    assert optouts_before != [optout_after]

    second = extract(4).replace(b"EP0000", b"EP9999")  # same people, new episodes
    submitter = client_as("submitter")  # the test client is shared between roles
    created = start(submitter, second)
    assert created.status_code == 201, created.text
    result = send(submitter, created.json()["id"], second).json()
    assert result["status"] == "accepted"
    # Tokens made under the new key compare equal to the re-wrapped ones, in every column
    # but the record id (new episodes).
    both = stored_tokens(ctx)
    for part in (LINKAGE_PART, FACTS):
        table = both[part]
        assert table.num_rows == 8
        for name in token_columns(table):
            values = table.column(name).to_pylist()
            if name == "tok_record_id":
                assert not set(values[:4]) & set(values[4:])
            else:
                assert values[:4] == values[4:], name
    tokens = nhs_tokens(ctx)
    with ctx.sessions() as session:
        (optout,) = session.scalars(select(OptOutList)).all()
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == "key.rotate")).one()
    assert optout.wrap_key_version == 2 and optout_tokens(ctx) == [tokens[0]]
    assert entry.details == {
        "purpose": PSEUDONYM_WRAP,
        "version": 2,
        "rewrapped_record_batches": len(batches_before),
        "rewrapped_optouts": 1,
    }


def test_the_linkage_key_cannot_be_rotated_under_stored_tokens(client_as, ctx):
    submitter = client_as("submitter")
    body = extract(2)
    send(submitter, start(submitter, body).json()["id"], body)
    try:
        keys.rotate_key(ctx, actor=Actor.cli(), purpose=LINKAGE)
    except Conflict as error:
        assert "resubmit" in error.safe_detail
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("rotating the linkage key under stored tokens must be refused")


def linkage_answers(ctx, snapshot_id: int):
    """What linkage and release read from the store: the engine's input records, and the
    release data of ``snapshot_id``."""
    with ctx.reads() as session:
        sealed = store_keys(ctx)
        records = load_records(session, sealed)
        linked = load_linked_data(session, snapshot_id, sealed)
    return records, linked


def persons_of(ctx, snapshot_id: int) -> dict[int, int]:
    table = assignment(ctx, snapshot_id)
    return dict(
        zip(
            table.column("record_key").to_pylist(),
            table.column("person_id").to_pylist(),
            strict=True,
        )
    )


def test_rotating_the_data_seal_key_reseals_every_batch_and_changes_no_answer(
    client_as, ctx, population, linked
):
    optout.load_optouts(ctx, actor=Actor.cli(), lines=_opted_out_numbers(population, 20))
    batches_before = record_batches(ctx)
    assert batches_before and {b.seal_key_version for b in batches_before} == {1}
    with ctx.sessions() as session:
        assignments_before = list(session.scalars(select(AssignmentBatch)))
        optout_before = session.scalars(select(OptOutList)).one()
        session.expunge_all()
    records_before, data_before = linkage_answers(ctx, linked)
    parts_before = {part: stored_records(ctx, part) for part in (LINKAGE_PART, FACTS)}
    optouts_before = optout_tokens(ctx)

    info = keys.rotate_key(ctx, actor=Actor.cli(), purpose=DATA_SEAL)
    assert info.version == 2

    batches_after = record_batches(ctx)
    assert [(b.submission_id, b.first_line, b.rows) for b in batches_after] == [
        (b.submission_id, b.first_line, b.rows) for b in batches_before
    ]
    assert {b.seal_key_version for b in batches_after} == {2}
    for old, new in zip(batches_before, batches_after, strict=True):
        assert new.linkage_part != old.linkage_part and new.facts_part != old.facts_part
        assert new.digest != old.digest
        assert new.wrap_key_version == old.wrap_key_version
    with ctx.sessions() as session:
        assignments_after = list(session.scalars(select(AssignmentBatch)))
        optout_after = session.scalars(select(OptOutList)).one()
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == "key.rotate")).one()
    assert assignments_after and {a.seal_key_version for a in assignments_after} == {2}
    before_sealed = {a.id: a.sealed for a in assignments_before}
    assert {a.id for a in assignments_after} == before_sealed.keys()
    assert all(a.sealed != before_sealed[a.id] for a in assignments_after)
    assert optout_after.seal_key_version == 2 and optout_after.sealed != optout_before.sealed
    assert entry.details == {
        "purpose": DATA_SEAL,
        "version": 2,
        "resealed_record_batches": len(batches_before),
        "resealed_assignment_batches": len(assignments_before),
        "resealed_optouts": len(optouts_before),  # entries of the list resealed
    }

    # The records still open, to the same values; linkage and release read the same.
    for part, table in parts_before.items():
        assert stored_records(ctx, part).equals(table)
    assert optout_tokens(ctx) == optouts_before
    assert record_count(ctx) == sum(b.rows for b in batches_before)
    records_after, data_after = linkage_answers(ctx, linked)
    assert same_linkage_input(records_after.records, records_before.records)
    assert records_after.groups.keys() == records_before.groups.keys()
    for name, values in records_before.groups.items():
        assert list(records_after.groups[name]) == list(values)
    assert data_after.excluded_persons == data_before.excluded_persons > 0
    assert data_after.data.persons.equals(data_before.data.persons)
    assert data_after.data.records.equals(data_before.data.records)
    # A new run over the resealed store links every record to the same person.
    rerun = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
    assert rerun.status == "succeeded" and rerun.snapshot_id is not None, rerun.problem
    assert persons_of(ctx, rerun.snapshot_id) == persons_of(ctx, linked)

    # The linkage key is still refused while records exist, whatever seals them.
    with pytest.raises(Conflict, match="resubmit"):
        keys.rotate_key(ctx, actor=Actor.cli(), purpose=LINKAGE)


def same_linkage_input(a, b) -> bool:
    """Two ``RecordFrame``s hold the same records with the same codes and filters."""
    if not (np.array_equal(a.record_key, b.record_key) and np.array_equal(a.dataset, b.dataset)):
        return False
    for column in a.codes:
        if not np.array_equal(a.codes[column], b.codes[column]):
            return False
    for column in a.bloom_codes:
        if not np.array_equal(
            a.bloom_words[column][a.bloom_codes[column]],
            b.bloom_words[column][b.bloom_codes[column]],
        ):
            return False
    return True


def test_an_hsm_backed_service_seals_uploads_and_rotates_its_kek_without_changing_a_record(
    settings, tmp_path
):
    """The real app over a SoftHSM2 token: every data key unwrapped in the HSM at start,
    uploads sealed, then a KEK rotation and a data-seal rotation change no record."""
    from fastapi.testclient import TestClient

    from app.bootstrap import create_app
    from app.services import identity
    from tests.hsm import hsm_settings, initialised, make_token

    hsm = hsm_settings(settings, make_token(tmp_path / "hsm"))
    with initialised(hsm) as ctx:
        cli = Actor.cli()
        identity.create_organisation(ctx, actor=cli, code="RAL", name="Royal Free", kind="trust")
        identity.create_user(
            ctx, actor=cli, username="hsm.submitter", role="submitter", organisation="RAL"
        )
        token = identity.issue_token(ctx, actor=cli, username="hsm.submitter").token
        with TestClient(create_app(hsm, ctx=ctx), base_url="https://testserver") as client:
            client.headers["Authorization"] = f"Bearer {token}"
            body = extract(4)
            result = send(client, start(client, body).json()["id"], body).json()
            assert result["status"] == "accepted"
        before = stored_tokens(ctx)
        assert before[FACTS].num_rows == 4
        assert keys.rotate_kek(ctx, actor=cli).kek == "hsm:hsclink-kek-2"
        assert keys.rotate_key(ctx, actor=cli, purpose=DATA_SEAL).version == 2
        after = stored_tokens(ctx)
        for part in (LINKAGE_PART, FACTS):
            assert after[part].equals(before[part])
