"""CSV rows in, pseudonymised records (or the reasons they were refused) out.

Raw values exist only as local variables and as keys of the bounded, in-memory memo
tables below, for the life of one processor (one upload request). Problems name the
line, the column and the reason, never the value.

Why memo tables: a column's raw cells repeat (the same date of birth, name or postcode
spelt the same way on every episode of a person; a handful of sex codes; a few hundred
admission dates), so each distinct cell is normalised, validated and keyed once and the
result reused, which is most of what makes the core fast. The NHS number and the local
record id are (nearly) unique per row and are never memoised. A table that reaches
``memo_size`` entries is emptied and starts again, so memory stays bounded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import jellyfish

from app.ingest._kernel import RowKernel
from app.ingest.attributes import attribute_outcome
from app.ingest.gcpause import cyclic_gc_paused
from app.ingest.schema import DatasetSchema, Field
from app.store.records import RECORD_COLUMNS, RecordColumns
from privacy import names as name_rules
from privacy import normalise, postcodes
from privacy.pseudonym import PseudonymKeys

__all__ = [
    "RECORD_COLUMNS",
    "Batch",
    "FieldQuality",
    "ProcessedRow",
    "RowProblem",
    "RowProcessor",
]


# The identifier types every schema declares, in the native loop's counter order.
_IDENTIFIER_KINDS: tuple[str, ...] = (
    "record_id",
    "nhs_number",
    "birth_date",
    "sex",
    "postcode",
    "given_name",
    "family_name",
)

#: The salt of family-name Bloom encodings: none. It was the year of birth, to harden
#: encodings stored in clear against pattern mining; the sealed store keeps none in clear,
#: and a salt only cost recall where the years disagree or one is missing (the records
#: that matter most: SECURITY.md, "Bloom-filter encodings"). The memo tables and the
#: native loop still carry a salt slot, so a salt could come back without a new layout.
FAMILY_SALT = ""

# Quality outcomes, indexes into a field's counters.
_OK, _MISSING, _INVALID, _NORMALISED = 0, 1, 2, 3

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str
    reason: str


@dataclass
class FieldQuality:
    """Counts per field: blank, present but invalid (treated as missing), and changed by
    normalisation (e.g. a postcode re-spaced). The data-quality report is made of these."""

    missing: int = 0
    invalid: int = 0
    normalised: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"missing": self.missing, "invalid": self.invalid, "normalised": self.normalised}


@dataclass
class ProcessedRow:
    line: int
    values: dict[str, Any] | None  # column -> pseudonymised value; None if refused
    problems: list[RowProblem] = field(default_factory=list)

    def __repr__(self) -> str:  # tokens and filters never print
        kept = "refused" if self.values is None else "[pseudonymised]"
        return f"ProcessedRow(line={self.line}, {kept}, problems={self.problems!r})"


@dataclass
class Batch:
    """What a batch of rows became: the accepted records (``RecordColumns``), the
    problems of the refused rows, and how many rows were refused."""

    columns: RecordColumns = field(default_factory=lambda: RecordColumns.from_rows([], []))
    problems: list[RowProblem] = field(default_factory=list)
    refused: int = 0
    prefix: tuple[Any, ...] = ()  # put before each record of ``rows``

    @property
    def accepted(self) -> int:
        return len(self.columns)

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        """The accepted records as tuples: ``prefix``, then ``RECORD_COLUMNS`` order."""
        return self.columns.rows(self.prefix)

    def __repr__(self) -> str:  # tokens and filters never print
        return (
            f"Batch(accepted={self.accepted}, refused={self.refused},"
            f" problems={len(self.problems)}, [pseudonymised])"
        )


class _Memo(dict[K, V]):
    """A dict that empties itself when full: a bounded cache with no bookkeeping per hit."""

    def __init__(self, compute: Callable[[K], V], limit: int) -> None:
        super().__init__()
        self._compute = compute
        self._limit = limit

    def __missing__(self, key: K) -> V:
        value = self._compute(key)
        if self._limit:
            if len(self) >= self._limit:
                self.clear()
            self[key] = value
        return value


def _outcome(raw: str, valid: bool, normalised_text: str | None) -> int:
    if not raw.strip():
        return _MISSING
    if not valid:
        return _INVALID
    if normalised_text is not None and normalised_text != raw:
        return _NORMALISED
    return _OK


class RowProcessor:
    """Bound to one submission: its schema, its matched columns and one key version."""

    def __init__(
        self,
        schema: DatasetSchema,
        columns: tuple[Field, ...],
        keys: PseudonymKeys,
        *,
        reference_date: date,
        today: date,
        memo_size: int = 1 << 16,
        native: bool = True,
        row_prefix: tuple[Any, ...] = (),
    ) -> None:
        self.schema = schema
        self.columns = columns
        self.keys = keys
        self.reference_date = reference_date
        self.today = today
        self.quality: dict[str, FieldQuality] = {f.name: FieldQuality() for f in schema.fields}
        self._width = len(columns)
        self._record_field = schema.record_id
        names = {f.type: f.name for f in schema.fields if f.is_identifier}
        # Column index of each identifier type (None: not in this file) and of each attribute.
        where = {c.type: i for i, c in enumerate(columns) if c.is_identifier}
        self._at = {kind: where.get(kind) for kind in names}
        self._names = names
        self._attribute_at = {c.name: i for i, c in enumerate(columns) if not c.is_identifier}
        self._attributes = schema.attributes
        token = keys.token
        self._token = token
        self._memo_dob = _Memo(self._dob, memo_size)
        self._memo_sex = _Memo(self._sex, memo_size)
        self._memo_postcode = _Memo(self._postcode, memo_size)
        self._memo_given = _Memo(self._given, memo_size)
        self._memo_family = _Memo(self._family, memo_size)
        self._memo_borough = _Memo(self._borough, memo_size)
        self._memo_attribute = {
            spec.name: _Memo(functools.partial(attribute_outcome, spec), memo_size)
            for spec in self._attributes
        }
        self._versions = (keys.linkage_version, keys.wrap_version)
        self._prefix = tuple(row_prefix)
        self._kernel = self._make_kernel(memo_size) if native else None

    def _make_kernel(self, memo_size: int) -> RowKernel | None:
        """The native loop (app/ingest/_kernel.pyx), or None for keys without native parts."""
        native_parts = getattr(self.keys, "native_parts", None)
        if native_parts is None or not self._names.keys() >= set(_IDENTIFIER_KINDS):
            return None
        tokens, masks = native_parts()
        return RowKernel(
            width=self._width,
            positions={kind: (-1 if i is None else i) for kind, i in self._at.items()},
            record_field=self._record_field,
            tokens=tokens,
            bloom=self.keys.bloom,
            masks=masks,
            attributes=[
                (
                    spec.name,
                    True,  # any reason refuses the row: a blank optional cell gives none
                    self._attribute_at.get(spec.name),
                    functools.partial(attribute_outcome, spec),
                )
                for spec in self._attributes
            ],
            memo_limit=memo_size,
            versions=self._versions,
            today=self.today,
            reference_date=self.reference_date,
            python={
                "age_bands": normalise.AGE_BANDS,
                "nhs_number": normalise.nhs_number,
                "birth_date": normalise.birth_date,
                "postcode": normalise.postcode,
                "postcode_pattern": postcodes._COMPACT,
                "name_parts": normalise.name_parts,
                "always_drop": name_rules._ALWAYS_DROP,
                "leading_titles": name_rules._LEADING_TITLES,
                "trailing_suffixes": name_rules._TRAILING_SUFFIXES,
                "given_equivalents": normalise.given_name_equivalents(),
                "metaphone": jellyfish.metaphone,
                "sex_miss": self._sex,
                "borough_miss": self._borough,
                "problem": RowProblem,
            },
        )

    # -- the public entry points --------------------------------------------------------

    def process(self, line: int, cells: list[str]) -> ProcessedRow:
        """One row; ``values`` maps ``RECORD_COLUMNS`` (but ``line``) to values."""
        batch = self.process_batch([(line, cells)])
        if not batch.rows:
            return ProcessedRow(line, None, batch.problems)
        values = dict(zip(RECORD_COLUMNS, batch.rows[0][len(self._prefix) :], strict=True))
        del values["line"]
        return ProcessedRow(line, values)

    def process_batch(self, rows: Iterable[Sequence[Any]]) -> Batch:
        """Many rows at once: the same result as ``process`` row by row, faster.

        Each row is a sequence whose first two items are the line number and the cells
        (a ``(line, cells)`` pair, or a reader ``Record``). The accepted records come
        out as ``RecordColumns``; ``Batch.rows`` gives them as tuples of ``row_prefix``
        followed by the ``RECORD_COLUMNS`` values.

        Runs the native loop when there is one, else ``_process_batch_reference``.
        """
        with cyclic_gc_paused():
            if self._kernel is None:
                return self._process_batch_reference(rows)
            values, kept, _count, problems, refused, counts = self._kernel.run(rows)
            for name, (_ok, missing, invalid, changed) in zip(
                self._slot_names, counts, strict=True
            ):
                totals = self.quality[name]
                totals.missing += missing
                totals.invalid += invalid
                totals.normalised += changed
            columns = RecordColumns(
                values=tuple(values),
                attributes=tuple(
                    (spec.name, column) for spec, column in zip(self._attributes, kept, strict=True)
                ),
            )
            return Batch(columns, problems, refused, self._prefix)

    @property
    def _slot_names(self) -> list[str]:
        """The field of each quality counter of the native loop, in its order."""
        names = self._names
        return [
            self._record_field,
            *(names[kind] for kind in _IDENTIFIER_KINDS[1:]),
            *(spec.name for spec in self._attributes),
        ]

    def _process_batch_reference(self, rows: Iterable[Sequence[Any]]) -> Batch:
        """The definition of ``process_batch``, in Python: the native loop must agree."""
        accepted: list[tuple[Any, ...]] = []
        problems: list[RowProblem] = []
        refused_rows = 0
        quality = self.quality
        counts: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in quality}
        names = self._names
        at = self._at
        width = self._width
        token = self._token
        memo_dob, memo_sex, memo_pc = self._memo_dob, self._memo_sex, self._memo_postcode
        memo_given, memo_family, memo_borough = (
            self._memo_given,
            self._memo_family,
            self._memo_borough,
        )
        i_record, i_nhs, i_dob = at["record_id"], at["nhs_number"], at["birth_date"]
        i_sex, i_pc = at.get("sex"), at.get("postcode")
        i_given, i_family = at.get("given_name"), at.get("family_name")
        q_record = counts[self._record_field]
        q_nhs = counts[names["nhs_number"]]
        q_dob = counts[names["birth_date"]]
        q_sex = counts[names["sex"]] if "sex" in names else [0, 0, 0, 0]
        q_pc = counts[names["postcode"]] if "postcode" in names else [0, 0, 0, 0]
        q_given = counts[names["given_name"]] if "given_name" in names else [0, 0, 0, 0]
        q_family = counts[names["family_name"]] if "family_name" in names else [0, 0, 0, 0]
        attributes = [
            (spec.name, True, self._attribute_at.get(spec.name), counts[spec.name])
            for spec in self._attributes
        ]
        attribute_memo = self._memo_attribute
        linkage_version, wrap_version = self._versions
        nhs_number = normalise.nhs_number
        append_row, append_problem = accepted.append, problems.append
        blank = ""
        for item in rows:
            line, cells = item[0], item[1]
            if len(cells) != width:
                reason = f"expected {width} columns, found {len(cells)}"
                append_problem(RowProblem(line, "(row)", reason))
                refused_rows += 1
                continue
            refused = False
            # record id: required, tokenised, never memoised
            record_id = cells[i_record].strip() if i_record is not None else blank
            if not record_id:
                append_problem(RowProblem(line, self._record_field, "a record id is required"))
                q_record[_MISSING] += 1
                refused = True
                tok_record = None
            elif len(record_id) > 100:
                append_problem(RowProblem(line, self._record_field, "longer than 100 characters"))
                q_record[_INVALID] += 1
                refused = True
                tok_record = None
            else:
                tok_record = token("record_id", record_id)
            # NHS number: never memoised
            nhs_raw = cells[i_nhs] if i_nhs is not None else blank
            nhs = nhs_number(nhs_raw)
            q_nhs[_outcome(nhs_raw, nhs is not None, nhs)] += 1
            tok_nhs = token("nhs_number", nhs) if nhs else None
            dob = memo_dob[cells[i_dob] if i_dob is not None else blank]
            q_dob[dob[0]] += 1
            sex = memo_sex[cells[i_sex] if i_sex is not None else blank]
            q_sex[sex[0]] += 1
            pc = memo_pc[cells[i_pc] if i_pc is not None else blank]
            q_pc[pc[0]] += 1
            given = memo_given[cells[i_given] if i_given is not None else blank]
            q_given[given[0]] += 1
            family = memo_family[(cells[i_family] if i_family is not None else blank, dob[6])]
            q_family[family[0]] += 1
            kept: dict[str, Any] = {}
            for name, required, index, q in attributes:
                value, outcome, refusal = attribute_memo[name][
                    cells[index] if index is not None else blank
                ]
                q[outcome] += 1
                if refusal is not None and required:
                    append_problem(RowProblem(line, name, refusal))
                    refused = True
                kept[name] = value
            if refused:
                refused_rows += 1
                continue
            borough = memo_borough[(kept.get("la_code"), pc[5])]
            append_row(
                (
                    line,
                    linkage_version,
                    wrap_version,
                    tok_record,
                    tok_nhs,
                    *dob[1:6],
                    *sex[1:],
                    *pc[1:5],
                    *given[1:],
                    *family[1:],
                    *borough,
                    kept,
                )
            )
        for name, (_ok, missing, invalid, changed) in counts.items():
            totals = quality[name]
            totals.missing += missing
            totals.invalid += invalid
            totals.normalised += changed
        columns = RecordColumns.from_rows(accepted, [spec.name for spec in self._attributes])
        return Batch(columns, problems, refused_rows, self._prefix)

    # -- identifiers: normalised, keyed, dropped (memoised per distinct raw cell) -------

    def _dob(self, raw: str) -> tuple[Any, ...]:
        """(outcome, tok_dob, tok_dob_year, tok_dob_month_day, bloom_dob, age_band, salt)."""
        born = normalise.birth_date(raw, today=self.today)
        if born is None:
            return (_outcome(raw, False, None), None, None, None, None, None, "")
        iso = born.isoformat()
        token = self._token
        reference = self.reference_date
        band = normalise.age_band(born, reference) if born <= reference else None
        return (
            _outcome(raw, True, iso),
            token("dob", iso),
            token("dob_year", iso[:4]),
            token("dob_month_day", iso[5:]),
            self.keys.bloom("dob", iso),
            band,
            FAMILY_SALT,
        )

    def _sex(self, raw: str) -> tuple[Any, ...]:
        """(outcome, sex code, tok_sex)."""
        code = normalise.sex(raw)
        return (
            _outcome(raw, code is not None, code),
            code,
            self._token("sex", code) if code else None,
        )

    def _postcode(self, raw: str) -> tuple[Any, ...]:
        """(outcome, tok_postcode, tok_sector, tok_district, bloom_postcode, district)."""
        pc = normalise.postcode(raw)
        if pc is None:
            return (_outcome(raw, False, None), None, None, None, None, None)
        token = self._token
        return (
            _outcome(raw, True, pc.full),
            token("postcode", pc.full),
            token("postcode_sector", pc.sector),
            token("postcode_district", pc.district),
            self.keys.bloom("postcode", pc.full),
            pc.district,
        )

    def _given(self, raw: str) -> tuple[Any, ...]:
        """(outcome, tok_given_name, tok_given_name_2, tok_given_phonetic, bloom_given_name)."""
        parts = normalise.name_parts(raw)
        outcome = _outcome(raw, bool(parts), " ".join(parts))
        if not parts:
            return (outcome, None, None, None, None)
        canonical = tuple(normalise.canonical_given_name(p) for p in parts)
        token = self._token
        return (
            outcome,
            token("given_name", canonical[0]),
            token("given_name", canonical[1]) if len(canonical) > 1 else None,
            token("given_phonetic", normalise.phonetic(canonical[0])),
            self.keys.bloom("given_name", " ".join(canonical)),
        )

    def _family(self, raw_and_salt: tuple[str, str]) -> tuple[Any, ...]:
        """(outcome, tok_family_name, tok_family_phonetic, bloom_family_name); the Bloom
        encoding's salt is ``FAMILY_SALT`` (see there)."""
        raw, salt = raw_and_salt
        parts = normalise.name_parts(raw)
        outcome = _outcome(raw, bool(parts), " ".join(parts))
        if not parts:
            return (outcome, None, None, None)
        joined = "".join(parts)
        token = self._token
        return (
            outcome,
            token("family_name", joined),
            token("family_phonetic", normalise.phonetic(joined)),
            self.keys.bloom("family_name", joined, salt=salt),
        )

    @staticmethod
    def _borough(key: tuple[str | None, str | None]) -> tuple[str | None, str]:
        la_code, district = key
        return normalise.district_borough(district, la_code)
