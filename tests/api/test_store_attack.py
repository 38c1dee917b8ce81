"""The attacker's test: a database administrator with a populated store learns nothing.

Synthetic extracts go through the real app (two clean ones, then a header-less one, one
with names typed into ``service_type`` and one with a stray comma shifting identifiers
into attribute columns), are linked, and an opt-out list is loaded. Then the store is
read as its schema owner would (``admin_engine``; on PostgreSQL also a real
``pg_dump``, on SQLite the files' bytes) and must show, in every table that holds
patient-derived data (``tests/store_scan.py`` discovers them and says which are not):

(a) no text or binary value of 8 bytes or more that repeats across rows, columns or
    tables: no equality between records, so no frequencies and no joins;
(b) no plaintext borough, ONS code, age band, sex-code column, ISO date, ICD-10 code,
    service type, support reason or admission-method column;
(c) no raw identifier of any upload, anywhere (the canary's scan).

The test is written against these invariants, not against table names: today's store
(per-record tokens, Bloom filters and plaintext attributes in ``ingest_records``) fails
it, and the sealed store must pass it.
"""

from __future__ import annotations

import csv
import io

from app.auth.actor import Actor
from app.services import linkage
from app.synth import write_extracts
from tests.api.test_canary import (
    all_logs,
    database_places,
    identifiers,
    leaks,
    logical_dump,
    send,
    shifted_columns,
    words_of,
)
from tests.api.uploads import add_council_submitter, upload
from tests.store_scan import scan_store


def names_as_service_types(text_: str) -> bytes:
    """A council's extract with each client's name typed into ``service_type``."""
    rows = list(csv.reader(io.StringIO(text_, newline="")))
    header = rows[0]
    given, family = header.index("given_name"), header.index("family_name")
    service = header.index("service_type")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows[1:]:
        row[service] = f"{row[given]} {row[family]}".strip()
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def header_less(text_: str) -> bytes:
    return "".join(text_.splitlines(keepends=True)[1:]).encode("utf-8")


def test_a_database_administrator_learns_no_value_equality_or_frequency(
    client, ctx, settings, people, admin_engine, backend, caplog, tmp_path
):
    write_extracts(tmp_path, persons=400, seed=31)
    episodes, clients = tmp_path / "nhs_episodes.csv", tmp_path / "asc_clients.csv"
    trust, council = people["submitter"].token, add_council_submitter(ctx)
    baseline = words_of(logical_dump(admin_engine))

    with all_logs(caplog):
        first = upload(client, trust, episodes, "nhs_episodes")
        second = upload(client, council, clients, "asc_clients")
        assert first["status"] == second["status"] == "accepted"
        nhs_text, asc_text = episodes.read_text("utf-8"), clients.read_text("utf-8")
        send(client, trust, header_less(nhs_text), "nhs_episodes")
        send(client, council, names_as_service_types(asc_text), "asc_clients")
        send(client, trust, shifted_columns(nhs_text), "nhs_episodes")

        run = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
        assert run.snapshot_id is not None, "the linkage run failed"
        opted_out = [row["nhs_number"] for row in csv.DictReader(io.StringIO(nhs_text))][:20]
        loaded = client.put(
            "/api/v1/optouts",
            content=("nhs_number\n" + "\n".join(opted_out) + "\n").encode(),
            headers={
                "Authorization": f"Bearer {people['operator'].token}",
                "Content-Type": "text/plain",
            },
        )
        assert loaded.status_code == 200, "the opt-out list was refused"

    scan = scan_store(admin_engine)
    assert scan.tables, "no patient table found: the scan would prove nothing"
    findings = scan.findings()
    assert not findings, "\n".join(findings)

    exact, names = identifiers([episodes, clients])
    names -= baseline
    found = leaks(database_places(settings, admin_engine, backend), exact, names)
    assert not found, "\n".join(found)
