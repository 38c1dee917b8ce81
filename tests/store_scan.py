"""What a database administrator can learn from a populated store, without any key.

Shared by ``tests/api/test_store_attack.py`` (the acceptance test) and
``benchmarks/store_attack.py`` (the same scan on a bigger population). The scan reads
every table as the schema owner and reports, for the tables that hold patient-derived
data:

* **repeats**: a text or binary value of 8 bytes or more that occurs in more than one
  row, of the same column or of any other column or table. A deterministic token, a
  Bloom filter or a plaintext attribute repeats; a sealed batch (random nonce) never
  does. Equality between records is what lets an attacker count frequencies and join.
* **plaintext**: a borough name or ONS code, an age band, a column of sex codes, an ISO
  date, an ICD-10 code, an adult social care service type or support reason, a column
  of admission-method codes, or an unencrypted Arrow stream (its magic or an attribute
  column's name inside a binary value).

Tables are discovered (every table the database has), not named: a new table is
scanned until someone argues it onto ``NON_PATIENT_TABLES``.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, MetaData, select

from app import REPO_ROOT
from privacy.normalise import AGE_BANDS, LONDON_BOROUGHS, SEX_CODES

__all__ = [
    "ALLOWED_COLUMNS",
    "NON_PATIENT_TABLES",
    "StoreScan",
    "TableScan",
    "scan_store",
]

#: Tables that hold no patient-derived data, and why.
NON_PATIENT_TABLES = {
    # Staff identities and credentials (hashed tokens and sessions, sign-in failures):
    # people who use the service, never people in the extracts.
    "iam_organisations": "organisations using the service",
    "iam_users": "staff accounts",
    "iam_api_tokens": "hashes of staff API tokens",
    "iam_web_sessions": "hashes of staff browser sessions",
    "iam_login_failures": "staff sign-in failures",
    # The audit log records who did what with counts and ids, never a value (the canary
    # scans it for raw values all the same); hashes chain its entries, so they repeat.
    "audit_events": "the audit log (who, what, when; counts, never values)",
    "audit_tree_heads": "signed heads of the audit log's Merkle tree",
    "keystore_keys": "wrapped keys: secret, but no patient's",
    "policy_loads": "Cedar policy text loaded at start-up",
    "alembic_version": "the schema's migration version",
    # Differential-privacy accounting: projects, members, budgets and charges are sums of
    # privacy loss per analyst or project.
    "release_projects": "research projects",
    "release_project_members": "analysts on projects",
    "release_budgets": "privacy budgets",
    "release_charges": "privacy-loss charges",
    "release_global_budgets": "the global privacy budget of each linked dataset",
    "release_global_charges": "privacy-loss charges against the global budget",
    # Released answers are noisy aggregates already given to an analyst; their group
    # labels (boroughs, age bands) are the query's, not any record's.
    "release_releases": "differentially private answers and their query specs",
    # The release register: who asked which query when, what it cost, refusals' reason
    # categories; the public register's switch and its views' addresses (staff and the
    # public, never people in the extracts).
    "release_register": "queries asked, by whom and when, and their charges",
    "release_register_switches": "the public register's switch",
    "release_register_views": "public register views per address (rate limit)",
    # A run's status, stage, counts and a safe problem text.
    "linkage_runs": "linkage runs (status and counts)",
}

#: Patient-derived tables scanned with some columns allowed: per-submission or
#: per-snapshot figures (counts, data-quality report, disclosure-controlled link rates)
#: and closed vocabularies (status, dataset, the rule a row broke). Any other column of
#: these tables is scanned like the rest.
ALLOWED_COLUMNS = {
    "ingest_submissions": frozenset(
        {
            "id",
            "organisation_id",
            "submitted_by",
            "dataset",
            "schema_name",
            "status",
            "upload_length",
            "upload_offset",
            "compressed",
            "encoding",
            "header",
            "next_line",
            "rows_seen",
            "rows_accepted",
            "rows_rejected",
            "sha256",
            "sha256_verified",
            "quality",
            "problem",
            "created_at",
            "finished_at",
        }
    ),
    "ingest_row_errors": frozenset({"id", "submission_id", "line", "column", "reason"}),
    "linkage_snapshots": frozenset(
        {
            "id",
            "previous_id",
            "created_at",
            "code_version",
            "settings",
            "records",
            "persons",
            "next_person_id",
            "summary",
            "report",
        }
    ),
}

MIN_REPEAT_BYTES = 8
#: The shortest plaintext needle sought inside a binary value (see _cell_plaintext).
MIN_BINARY_NEEDLE = 6

_DATA = REPO_ROOT / "app" / "synth" / "data"
_ISO_DATE = re.compile(rb"(?<![0-9])(?:19|20)[0-9]{2}-[01][0-9]-[0-3][0-9](?![0-9])")
_ICD10 = re.compile(r"[A-TV-Z][0-9]{2}(?:\.?[0-9X])?")
_ADMISSION_METHODS = frozenset(
    {"11", "12", "13", "21", "22", "23", "24", "25", "28", "31", "32", "81", "82", "83"}
)
_ARROW_MAGIC = b"ARROW1"
#: Attribute and linkage column names: inside a binary value they betray an Arrow schema.
_FIELD_NAMES = (
    b"age_band",
    b"borough",
    b"admission_date",
    b"service_type",
    b"tok_nhs_number",
    b"bf_given_name",
)


def _vocabulary(filename: str, column: str) -> frozenset[str]:
    with (_DATA / filename).open(encoding="utf-8", newline="") as handle:
        return frozenset(row[column] for row in csv.DictReader(handle))


@dataclass(frozen=True)
class Needles:
    """The plaintext an attacker would look for, grouped by kind."""

    by_kind: dict[str, tuple[bytes, ...]]

    @classmethod
    def build(cls) -> Needles:
        diagnoses = _vocabulary("diagnoses.csv", "code")
        return cls(
            {
                "borough name": tuple(n.encode() for n in LONDON_BOROUGHS.values()),
                "ONS code": tuple(c.encode() for c in LONDON_BOROUGHS),
                "ICD-10 code": tuple(
                    sorted(
                        {d.encode() for d in diagnoses}
                        | {d.replace(".", "").encode() for d in diagnoses if len(d) > 4}
                    )
                ),
                "service type": tuple(
                    s.encode() for s in _vocabulary("asc_services.csv", "service_type")
                ),
                "support reason": tuple(
                    s.encode() for s in _vocabulary("support_reasons.csv", "primary_support_reason")
                ),
            }
        )


@dataclass
class TableScan:
    table: str
    rows: int = 0
    bytes: int = 0
    values: int = 0  # text or binary values of MIN_REPEAT_BYTES or more
    distinct: int = 0
    repeated: int = 0  # distinct values that occur more than once (anywhere)
    largest_repeat: int = 0
    plaintext: Counter[str] = field(default_factory=Counter)
    columns_with_repeats: set[str] = field(default_factory=set)


@dataclass
class StoreScan:
    tables: dict[str, TableScan]
    skipped: dict[str, str]  # non-patient tables present, with the reason

    @property
    def patient_bytes(self) -> int:
        return sum(t.bytes for t in self.tables.values())

    def findings(self) -> list[str]:
        """One line per problem, values never shown (counts, tables, columns, kinds)."""
        found = []
        for name, t in sorted(self.tables.items()):
            if t.repeated:
                found.append(
                    f"{name}: {t.repeated} values of {MIN_REPEAT_BYTES}+ bytes repeat "
                    f"(at most {t.largest_repeat} times) in columns "
                    f"{', '.join(sorted(t.columns_with_repeats))}"
                )
            for kind, hits in sorted(t.plaintext.items()):
                found.append(f"{name}: {hits} plaintext {kind}")
        return found


def _as_bytes(value: Any) -> bytes | None:
    """A scanned value's bytes; None for numbers, booleans, timestamps and NULL."""
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True).encode("utf-8")
    return None


def _cell_plaintext(value: Any, raw: bytes | None, needles: Needles) -> Iterator[str]:
    """The kinds of plaintext one cell shows."""
    if isinstance(value, date) and not isinstance(value, datetime):
        yield "ISO date"
        return
    if raw is None:
        return
    if _ISO_DATE.search(raw):
        yield "ISO date"
    # In binary (ciphertext), short needles turn up by chance: a given 3-byte code occurs
    # about once in 16 MB of random bytes, a 4-byte one once in 4 GB. There a needle counts
    # from MIN_BINARY_NEEDLE bytes; a plaintext Arrow stream is caught by its magic and
    # its column names below whatever its values.
    shortest = 1 if isinstance(value, str | dict | list) else MIN_BINARY_NEEDLE
    for kind, items in needles.by_kind.items():
        if any(item in raw for item in items if len(item) >= shortest):
            yield kind
    if isinstance(value, str):
        if value.strip() in AGE_BANDS:
            yield "age band"
        if _ICD10.fullmatch(value.strip()):
            yield "ICD-10 code"
    else:
        bands = {band for band in AGE_BANDS if len(band) >= 3 and band.encode() in raw}
        if len(bands) >= 3:  # a plaintext column of bands, not a chance match in ciphertext
            yield "age band"
    binary = not isinstance(value, str | dict | list)
    if binary and (_ARROW_MAGIC in raw or any(name in raw for name in _FIELD_NAMES)):
        yield "unencrypted Arrow stream"


def _column_plaintext(values: list[Any]) -> Iterator[str]:
    """Kinds only a whole column shows: one-character sex codes, two-digit methods."""
    texts = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if len(texts) >= 2 and set(texts) <= set(SEX_CODES) | {"F", "M", "U"}:
        yield "sex code column"
    if len(texts) >= 2 and set(texts) <= _ADMISSION_METHODS:
        yield "admission-method code column"


def _size(value: Any) -> int:
    raw = _as_bytes(value)
    if raw is not None:
        return len(raw)
    return 0 if value is None else 8


def scan_store(engine: Engine, *, needles: Needles | None = None) -> StoreScan:
    """Read every table as ``engine``'s user may and report what it gives away."""
    needles = needles or Needles.build()
    metadata = MetaData()
    metadata.reflect(engine)
    occurrences: Counter[bytes] = Counter()
    where: dict[bytes, set[tuple[str, str]]] = defaultdict(set)
    per_table_values: dict[str, set[bytes]] = defaultdict(set)
    tables: dict[str, TableScan] = {}
    skipped: dict[str, str] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in NON_PATIENT_TABLES:
                skipped[table.name] = NON_PATIENT_TABLES[table.name]
                continue
            allowed = ALLOWED_COLUMNS.get(table.name, frozenset())
            scan = tables[table.name] = TableScan(table.name)
            columns: dict[str, list[Any]] = defaultdict(list)
            for row in conn.execute(select(table)).mappings():
                scan.rows += 1
                for column, value in row.items():
                    scan.bytes += _size(value)
                    if column in allowed:
                        continue
                    raw = _as_bytes(value)
                    columns[column].append(value)
                    scan.plaintext.update(set(_cell_plaintext(value, raw, needles)))
                    if raw is not None and len(raw) >= MIN_REPEAT_BYTES:
                        scan.values += 1
                        occurrences[raw] += 1
                        where[raw].add((table.name, column))
                        per_table_values[table.name].add(raw)
            for column_values in columns.values():
                scan.plaintext.update(_column_plaintext(column_values))
    for name, scan in tables.items():
        mine = per_table_values[name]
        scan.distinct = len(mine)
        repeats = [v for v in mine if occurrences[v] > 1]
        scan.repeated = len(repeats)
        scan.largest_repeat = max((occurrences[v] for v in repeats), default=0)
        scan.columns_with_repeats = {c for v in repeats for t, c in where[v] if t == name}
    return StoreScan(tables, skipped)


def format_scan(scan: StoreScan, records: int) -> Iterable[str]:
    """The figures as a table, for the benchmark's output."""
    yield (
        f"{'table':<30} {'rows':>9} {'bytes':>13} {'values>=8B':>11} {'distinct':>9} "
        f"{'repeated':>9} {'max rep':>8}  plaintext"
    )
    for name, t in sorted(scan.tables.items()):
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(t.plaintext.items())) or "-"
        yield (
            f"{name:<30} {t.rows:>9} {t.bytes:>13} {t.values:>11} {t.distinct:>9} "
            f"{t.repeated:>9} {t.largest_repeat:>8}  {kinds}"
        )
    per_record = scan.patient_bytes / records if records else float("nan")
    yield (
        f"patient tables: {scan.patient_bytes} bytes for {records} records "
        f"({per_record:.1f} bytes a record)"
    )
    yield f"not scanned (non-patient): {', '.join(sorted(scan.skipped))}"
