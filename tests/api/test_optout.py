"""The national data opt-out: loaded as tokens only, and the records it excludes counted."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db.models import AuditEvent, OptOutList
from app.services.ingest import pseudonym_keys
from tests.api.test_submissions import VALID_NHS, extract, send, start
from tests.sealed import optout_tokens


def test_an_operator_loads_the_opt_out_list_and_sees_what_it_excludes(client_as, ctx):
    submitter = client_as("submitter")
    body = extract(8)  # NHS numbers cycle through VALID_NHS
    send(submitter, start(submitter, body).json()["id"], body)
    operator = client_as("operator")
    spaced = f"{VALID_NHS[1][:3]} {VALID_NHS[1][3:6]} {VALID_NHS[1][6:]}"
    listed = f"nhs_number\n{VALID_NHS[0]}\n{spaced}\n123\n"
    loaded = operator.put(
        "/api/v1/optouts", content=listed.encode(), headers={"Content-Type": "text/plain"}
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.json() == {"entries": 2, "invalid_lines": 1, "records_excluded": 4}
    assert VALID_NHS[0] not in loaded.text
    stored = optout_tokens(ctx)
    with ctx.sessions() as session:
        (sealed,) = session.scalars(select(OptOutList)).all()
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == "optout.load")).one()
    assert len(stored) == 2 and all(VALID_NHS[0].encode() not in t for t in stored)
    assert sealed.entries == 2 and VALID_NHS[0].encode() not in sealed.sealed
    assert not any(t in sealed.sealed for t in stored)  # the tokens are sealed too
    assert entry.details == {"entries": 2, "invalid": 1, "records_excluded": 4}
    summary = client_as("ig_officer").get("/api/v1/optouts").json()
    assert summary["entries"] == 2 and summary["records_excluded"] == 4


def test_a_new_list_replaces_the_old_one(client_as, ctx):
    operator = client_as("operator")
    put = {"headers": {"Content-Type": "text/plain"}}
    operator.put("/api/v1/optouts", content=f"{VALID_NHS[0]}\n{VALID_NHS[2]}\n".encode(), **put)
    again = operator.put("/api/v1/optouts", content=f"{VALID_NHS[3]}\n".encode(), **put)
    assert again.json()["entries"] == 1
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OptOutList)) == 1
    (token,) = optout_tokens(ctx)
    assert token == pseudonym_keys(ctx).token("nhs_number", VALID_NHS[3])
