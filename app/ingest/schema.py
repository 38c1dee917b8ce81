"""Declarative dataset schemas (``datasets/*.toml``) and header matching.

A schema maps header names (and aliases, matched case-, space- and underscore-
insensitively) to the fields of a dataset, each an ``identifier`` (pseudonymised,
never stored) or an ``attribute`` (kept). Several schemas may feed one dataset
(a council's own headers); they must declare exactly the dataset's fields, with the
same domains, and may each map their own labels onto the national codes.

Every attribute declares its domain, so no free text is kept: a ``code`` lists its codes
(``codes``) or a strict ``pattern``; ``date``, ``money`` and ``icd10`` are domains of their
own (the rules are in ``app.ingest.attributes``). Header errors name positions, rules
and the schema's own field names, never a cell: a header-less extract's first row is a
patient's record.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from privacy import normalise

__all__ = [
    "ATTRIBUTE_TYPES",
    "IDENTIFIER_TYPES",
    "DatasetSchema",
    "Field",
    "HeaderError",
    "SchemaError",
    "header_key",
    "label_key",
    "load_schemas",
]

IDENTIFIER_TYPES = frozenset(
    {"nhs_number", "given_name", "family_name", "birth_date", "sex", "postcode", "record_id"}
)
#: No ``text``: a kept attribute is a closed vocabulary or a strict type.
ATTRIBUTE_TYPES = frozenset({"date", "code", "icd10", "money"})
#: Identifier columns every schema must have (values may be blank; the column may not).
REQUIRED_IDENTIFIERS = ("nhs_number", "given_name", "family_name", "birth_date", "sex", "postcode")
_SEPARATORS = re.compile(r"[\s_\-]+")


class SchemaError(ValueError):
    """A schema file is malformed (names the file and the field, never data)."""


class HeaderError(ValueError):
    """A submitted header does not fit the schema; ``columns`` names the offending ones."""

    def __init__(self, message: str, columns: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.columns = columns


def header_key(text: str) -> str:
    """``"Date_of Birth "`` and ``"date of birth"`` match: casefold, one space between words."""
    return _SEPARATORS.sub(" ", text.strip().lstrip("\ufeff")).casefold()


def label_key(text: str) -> str:
    """``"long term support:  NURSING"`` and ``"Long Term Support: Nursing"`` match:
    casefold, one space between words (punctuation is part of a code)."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Field:
    """One column of a dataset.

    A ``code`` attribute's domain is ``codes`` (the national codes, each kept as written
    here) or a strict ``pattern``; ``labels`` maps a submitter's own labels onto
    ``codes`` (pairs of label and code; both matched by ``label_key``). ``domain`` names
    the vocabulary in refusals: "not a Client Level Data service type". A ``money``
    attribute's declared range is 0 to ``max_pounds`` (at most, and by default, one
    million pounds): an amount outside it refuses the row.
    """

    name: str
    kind: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    pattern: str | None = None
    codes: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    domain: str | None = None
    max_pounds: int | None = None

    def __post_init__(self) -> None:
        if self.kind == "identifier" and self.type not in IDENTIFIER_TYPES:
            raise SchemaError(f"field {self.name}: unknown identifier type {self.type!r}")
        if self.kind == "attribute" and self.type not in ATTRIBUTE_TYPES:
            raise SchemaError(f"field {self.name}: unknown attribute type {self.type!r}")
        if self.kind not in ("identifier", "attribute"):
            raise SchemaError(f"field {self.name}: kind is identifier or attribute")
        if self.type == "code" and not self.is_identifier:
            self._check_code_domain()
        elif self.codes or self.labels or self.pattern is not None:
            raise SchemaError(f"field {self.name}: only a code attribute has codes or a pattern")
        if self.max_pounds is not None and not (
            self.type == "money"
            and type(self.max_pounds) is int
            and 1 <= self.max_pounds <= 1_000_000
        ):
            raise SchemaError(f"field {self.name}: max_pounds is for money, 1 to 1,000,000")

    def _check_code_domain(self) -> None:
        if bool(self.codes) == (self.pattern is not None):
            raise SchemaError(f"field {self.name}: a code lists its codes or has a pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern, re.ASCII)
            except re.error:
                raise SchemaError(f"field {self.name}: its pattern is not valid") from None
            if self.labels:
                raise SchemaError(f"field {self.name}: labels map onto listed codes only")
            return
        keys = {label_key(code) for code in self.codes}
        if len(keys) != len(self.codes) or "" in keys:
            raise SchemaError(f"field {self.name}: a code is blank or listed twice")
        owners: dict[str, str] = {label_key(code): code for code in self.codes}
        for label, code in self.labels:
            if code not in self.codes:
                raise SchemaError(f"field {self.name}: a label maps onto no listed code")
            if not label_key(label) or owners.setdefault(label_key(label), code) != code:
                raise SchemaError(f"field {self.name}: a label is blank or means two codes")

    @property
    def is_identifier(self) -> bool:
        return self.kind == "identifier"

    @property
    def refusal(self) -> str:
        """Why a code outside the domain refuses its row (names the rule, not the value)."""
        return f"not a {self.domain}" if self.domain else f"not a valid {self.name}"


@dataclass(frozen=True)
class DatasetSchema:
    name: str
    dataset: str
    title: str
    submitted_by: tuple[str, ...]
    record_id: str
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise SchemaError(f"schema {self.name}: a field is declared twice")
        if self.record_id not in names:
            raise SchemaError(f"schema {self.name}: record_id names no field")
        types = {f.type for f in self.fields if f.is_identifier}
        missing = [t for t in REQUIRED_IDENTIFIERS if t not in types]
        if missing:
            raise SchemaError(f"schema {self.name}: no field of type {', '.join(missing)}")
        owners: dict[str, str] = {}
        for f in self.fields:
            for key in {header_key(h) for h in (f.name, *f.aliases)}:
                if owners.setdefault(key, f.name) != f.name:
                    raise SchemaError(f"schema {self.name}: two fields share a header name")

    @property
    def attributes(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.is_identifier)

    def match_header(self, header: list[str]) -> tuple[Field, ...]:
        """The field for each column, or HeaderError naming every unknown, repeated or
        missing column. Unknown columns are refused: they could hold identifiers.

        The message names columns by position and fields by the schema's own names,
        never by the cell's text: a header row that is missing makes the first row a
        patient's record."""
        lookup = {header_key(h): f for f in self.fields for h in (f.name, *f.aliases)}
        matched: list[Field] = []
        unknown: list[int] = []
        first_at: dict[str, int] = {}
        repeated: list[str] = []
        for position, column in enumerate(header, start=1):
            field = lookup.get(header_key(column))
            if field is None:
                unknown.append(position)
                continue
            if field.name in first_at:
                repeated.append(
                    f"column {position} repeats {field.name} (column {first_at[field.name]})"
                )
            first_at.setdefault(field.name, position)
            matched.append(field)
        looks_like_data = [(p, shape) for p in unknown if (shape := _data_shape(header[p - 1]))]
        if len(looks_like_data) >= 2 or (header and not matched):
            if looks_like_data:
                position, shape = looks_like_data[0]
                why = f"column {position} holds {shape}"
            elif len(header) == 1:
                why = f"its only cell is not a column of schema {self.name}"
            else:
                why = f"none of its {len(header)} cells is a column of schema {self.name}"
            raise HeaderError(
                f"the header does not match schema {self.name}: the first row does not look"
                f" like a header ({why}: is the header row missing?)",
                tuple(f"column {p}" for p in unknown),
            )
        required = [f for f in self.fields if f.required or f.type in REQUIRED_IDENTIFIERS]
        absent = [f.name for f in required if f.name not in first_at]
        problems = []
        if unknown:
            where = _positions(unknown)
            verb = "is not a column" if len(unknown) == 1 else "are not columns"
            problems.append(f"{where} {verb} of schema {self.name}")
        if repeated:
            problems.extend(repeated)
        if absent:
            problems.append(f"missing columns: {', '.join(absent)}")
        if problems:
            raise HeaderError(
                f"the header does not match schema {self.name}: " + "; ".join(problems),
                (*(f"column {p}" for p in unknown), *repeated, *absent),
            )
        return tuple(matched)


# What a data cell looks like, to tell a missing header row from misspelt column names.
_DIGITS = re.compile(r"[0-9][0-9 -]*[0-9]|[0-9]", re.ASCII)
_DATE = re.compile(r"[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}(?:[ T][0-9:.]+Z?)?", re.ASCII)
_MONEY = re.compile(r"£?[0-9][0-9,]*\.[0-9]+", re.ASCII)


def _data_shape(cell: str) -> str | None:
    """What a header cell looks like if it looks like a value ("a 10-digit number"),
    or None. Describes the shape only: the message must not carry the value."""
    text = cell.strip()
    if _DIGITS.fullmatch(text):
        digits = sum(ch.isdigit() for ch in text)
        return f"a {digits}-digit number" if digits <= 20 else "a long number"
    if _DATE.fullmatch(text) or normalise.event_date(text) is not None:
        return "a date"
    if _MONEY.fullmatch(text):
        return "an amount"
    if normalise.postcode(text) is not None:
        return "a postcode"
    return None


def _positions(positions: list[int]) -> str:
    if len(positions) == 1:
        return f"column {positions[0]}"
    listed = ", ".join(str(p) for p in positions[:-1])
    return f"columns {listed} and {positions[-1]}"


def _load_one(path: Path) -> DatasetSchema:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        fields = tuple(
            Field(
                name=str(f["name"]),
                kind=str(f["kind"]),
                type=str(f["type"]),
                required=bool(f.get("required", False)),
                aliases=tuple(str(a) for a in f.get("aliases", ())),
                pattern=f.get("pattern"),
                codes=tuple(str(c) for c in f.get("codes", ())),
                labels=_labels(f.get("labels", {})),
                domain=f.get("domain"),
                max_pounds=f.get("max_pounds"),
            )
            for f in doc["fields"]
        )
        return DatasetSchema(
            name=str(doc["name"]),
            dataset=str(doc["dataset"]),
            title=str(doc.get("title", doc["name"])),
            submitted_by=tuple(str(k) for k in doc.get("submitted_by", ("trust", "council"))),
            record_id=str(doc["record_id"]),
            fields=fields,
        )
    except (KeyError, TypeError, tomllib.TOMLDecodeError) as error:
        raise SchemaError(f"{path.name}: {type(error).__name__}") from None


def _labels(table: object) -> tuple[tuple[str, str], ...]:
    """``[fields.labels]``: a submitter's label = the national code it means."""
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise TypeError("labels is a table of label = code")
    return tuple((str(label), code) for label, code in table.items())


def load_schemas(directory: Path) -> dict[str, DatasetSchema]:
    """Every schema in the directory; each must agree with its dataset's own schema."""
    schemas = {}
    for path in sorted(directory.glob("*.toml")):
        schema = _load_one(path)
        if schema.name in schemas:
            raise SchemaError(f"{path.name}: schema {schema.name} is declared twice")
        schemas[schema.name] = schema
    for schema in schemas.values():
        base = schemas.get(schema.dataset)
        if base is None:
            raise SchemaError(f"schema {schema.name}: no schema defines dataset {schema.dataset}")
        shape = {_shape(f) for f in base.fields}
        if {_shape(f) for f in schema.fields} != shape:
            raise SchemaError(f"schema {schema.name}: its fields differ from {schema.dataset}'s")
    return schemas


def _shape(field: Field) -> tuple[object, ...]:
    """What every schema of a dataset must agree on: labels may differ, domains not."""
    return (
        field.name,
        field.kind,
        field.type,
        frozenset(field.codes),
        field.pattern,
        field.max_pounds,
    )
