"""The canary: upload synthetic extracts through the real app, then look everywhere for
any raw identifier of the input and find none.

Scanned: a logical dump of every table (binary columns as hex, as pg_dump writes them);
on SQLite also the raw database, WAL and journal files; on PostgreSQL also a real
``pg_dump``; every file in the data directory; the app's temporary directory; and
every log line the run produced. Names are sought as whole words (4+ letters) minus
the words a store holds before any upload (policy text, audit vocabulary), so that a
surname that is also an English word in the policy does not cry wolf.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from app.auth.actor import Actor
from app.synth import write_extracts
from privacy import normalise
from tests.api.uploads import add_council_submitter, upload

WORD = re.compile(r"[a-z]{4,}")


IDENTIFIER_COLUMNS = {
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
    "episode_id",
    "client_id",
}


def identifiers(paths: list[Path]) -> tuple[set[str], set[str]]:
    """(exact strings to find anywhere, name words to find as whole words).

    A value that is also a kept attribute somewhere (a baby's date of birth that is also
    an admission date) is legitimately stored as that attribute, so it is left out.
    """
    exact: set[str] = set()
    names: set[str] = set()
    kept: set[str] = set()
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                for column, value in row.items():
                    if column not in IDENTIFIER_COLUMNS and value:
                        parsed = normalise.event_date(value)
                        kept.add(parsed.isoformat() if parsed else value.strip())
                nhs = row["nhs_number"].strip()
                if nhs:
                    exact.add(nhs)
                    exact.add(re.sub(r"\D", "", nhs))
                for name in (row["given_name"], row["family_name"]):
                    for part in normalise.name_parts(name):
                        if len(part) >= 4:
                            names.add(part)
                    names.update(w for w in WORD.findall(name.lower()))
                pc = normalise.postcode(row["postcode"])
                if pc is not None:
                    exact.update({pc.full, pc.full.replace(" ", ""), row["postcode"].strip()})
                born = normalise.birth_date(row["date_of_birth"], today=date.today())
                if born is not None:
                    exact.update(
                        {
                            row["date_of_birth"].strip(),
                            born.isoformat(),
                            born.strftime("%d/%m/%Y"),
                            f"{born.day}/{born.month}/{born.year}",
                            born.strftime("%Y%m%d"),
                            born.strftime("%d-%m-%Y"),
                        }
                    )
                record_id = row.get("episode_id") or row.get("client_id") or ""
                exact.add(record_id.strip())
    exact.discard("")
    return {e for e in exact if len(e) >= 6} - kept, names


def logical_dump(engine: Engine) -> str:
    lines = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    lines.append(
                        value.hex() if isinstance(value, bytes | memoryview) else str(value)
                    )
    return "\n".join(lines)


def words_of(text_: str) -> set[str]:
    return set(WORD.findall(text_.lower()))


def file_texts(directory: Path) -> dict[Path, str]:
    return {p: p.read_bytes().decode("latin-1") for p in directory.rglob("*") if p.is_file()}


@pytest.fixture
def council_submitter(ctx, people):
    return add_council_submitter(ctx)


def test_no_raw_identifier_is_kept_anywhere_after_real_uploads(
    client,
    ctx,
    settings,
    people,
    council_submitter,
    admin_engine,
    backend,
    caplog,
    capsys,
    tmp_path_factory,
    monkeypatch,
):
    from app.logs import configure_logging

    inputs = tmp_path_factory.mktemp("canary-input")
    write_extracts(inputs, persons=400, seed=11)
    episodes, clients = inputs / "nhs_episodes.csv", inputs / "asc_clients.csv"
    app_tmp = tmp_path_factory.mktemp("canary-apptmp")
    monkeypatch.setattr(tempfile, "tempdir", str(app_tmp))

    baseline = words_of(logical_dump(admin_engine))
    configure_logging("DEBUG")
    try:
        with caplog.at_level(logging.DEBUG):
            first = upload(client, people["submitter"].token, episodes, "nhs_episodes")
            second = upload(client, council_submitter, clients, "asc_clients")
    finally:
        logging.getLogger().handlers[:] = []
    assert first["status"] == second["status"] == "accepted"
    assert first["rows_accepted"] > 100 and second["rows_accepted"] > 5

    exact, names = identifiers([episodes, clients])
    names -= baseline
    assert len(exact) > 500 and len(names) > 100

    places: dict[str, str] = {"database (logical dump)": logical_dump(admin_engine)}
    if backend == "sqlite":
        db_file = Path(make_url(settings.database_url).database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            candidate = Path(f"{db_file}{suffix}")
            if candidate.exists():
                places[f"sqlite file {candidate.name}"] = candidate.read_bytes().decode("latin-1")
    else:
        url = make_url(settings.database_url)
        dumped = subprocess.run(
            [
                "pg_dump",
                "-h",
                url.host or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                url.database or "",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        places["pg_dump"] = dumped.stdout
    for path, content in {**file_texts(settings.data_dir), **file_texts(app_tmp)}.items():
        places[str(path)] = content
    captured = capsys.readouterr()
    places["logs"] = "\n".join(
        [r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records]
        + [captured.out, captured.err]
    )

    assert leaks(places, exact, names) == []


def leaks(places: dict[str, str], exact: set[str], names: set[str]) -> list[str]:
    """Where raw values turn up (counts only: the test output must not leak them either)."""
    found = []
    for where, content in places.items():
        hits = sum(1 for value in exact if value in content)
        name_hits = len(names & words_of(content))
        if hits or name_hits:
            found.append(f"{where}: {hits} values, {name_hits} names")
    return found


def test_the_canary_finds_a_planted_identifier(ctx, admin_engine, tmp_path):
    """Guard against a scan that cannot fail: plant one value of each kind and find it."""
    write_extracts(tmp_path, persons=50, seed=5)
    exact, names = identifiers([tmp_path / "nhs_episodes.csv"])
    nhs = next(v for v in exact if v.isdigit() and len(v) == 10)
    name = sorted(names)[0]
    from app.audit.log import AuditLog

    with ctx.sessions() as session, session.begin():
        AuditLog(session).record(Actor.cli(), "test.plant", details={"oops": f"{nhs} {name}"})
    found = leaks({"db": logical_dump(admin_engine)}, exact, names)
    assert found == ["db: 1 values, 1 names"]
