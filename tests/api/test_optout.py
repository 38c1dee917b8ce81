"""The national data opt-out: loaded as tokens only, and the records it excludes counted."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import AuditEvent, OptOut
from tests.api.test_submissions import VALID_NHS, extract, send, start


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
    with ctx.sessions() as session:
        stored = session.scalars(select(OptOut.tok_nhs_number)).all()
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == "optout.load")).one()
    assert len(stored) == 2 and all(VALID_NHS[0].encode() not in t for t in stored)
    assert entry.details == {"entries": 2, "invalid": 1, "records_excluded": 4}
    summary = client_as("ig_officer").get("/api/v1/optouts").json()
    assert summary["entries"] == 2 and summary["records_excluded"] == 4


def test_a_new_list_replaces_the_old_one(client_as):
    operator = client_as("operator")
    put = {"headers": {"Content-Type": "text/plain"}}
    operator.put("/api/v1/optouts", content=f"{VALID_NHS[0]}\n{VALID_NHS[2]}\n".encode(), **put)
    again = operator.put("/api/v1/optouts", content=f"{VALID_NHS[3]}\n".encode(), **put)
    assert again.json()["entries"] == 1
