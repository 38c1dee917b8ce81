"""Rotating the pseudonym wrap key keeps every stored token comparable; the linkage key
cannot be rotated under stored data."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import AuditEvent, IngestRecord, OptOut
from app.errors import Conflict
from app.keys.store import LINKAGE, PSEUDONYM_WRAP
from app.services import keys
from tests.api.test_submissions import VALID_NHS, extract, send, start


def nhs_tokens(ctx) -> list[tuple[int, bytes]]:
    with ctx.sessions() as session:
        query = select(IngestRecord.wrap_key_version, IngestRecord.tok_nhs_number)
        return [(v, t) for v, t in session.execute(query.order_by(IngestRecord.id))]


def test_rotating_the_wrap_key_rewraps_stored_tokens_so_new_uploads_still_match(client_as, ctx):
    submitter = client_as("submitter")
    first = extract(4)
    send(submitter, start(submitter, first).json()["id"], first)
    client_as("operator").put(
        "/api/v1/optouts",
        content=f"{VALID_NHS[0]}\n".encode(),
        headers={"Content-Type": "text/plain"},
    )
    before = nhs_tokens(ctx)
    info = keys.rotate_key(ctx, actor=Actor.cli(), purpose=PSEUDONYM_WRAP)
    after = nhs_tokens(ctx)
    assert info.version == 2
    assert {v for v, _ in after} == {2}
    assert all(a != b for (_, a), (_, b) in zip(before, after, strict=True))

    second = extract(4).replace(b"EP0000", b"EP9999")  # same people, new episodes
    submitter = client_as("submitter")  # the test client is shared between roles
    created = start(submitter, second)
    assert created.status_code == 201, created.text
    result = send(submitter, created.json()["id"], second).json()
    assert result["status"] == "accepted"
    tokens = nhs_tokens(ctx)
    assert [t for _, t in tokens[:4]] == [t for _, t in tokens[4:]]
    with ctx.sessions() as session:
        (optout,) = session.scalars(select(OptOut)).all()
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == "key.rotate")).one()
    assert optout.wrap_key_version == 2 and optout.tok_nhs_number == tokens[0][1]
    assert entry.details == {
        "purpose": PSEUDONYM_WRAP,
        "version": 2,
        "rewrapped_records": 4,
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
