"""Declarative dataset schemas (``datasets/*.toml``) and header matching.

A schema maps header names (and aliases, matched case-, space- and underscore-
insensitively) to the fields of a dataset, each an ``identifier`` (pseudonymised,
never stored) or an ``attribute`` (kept). Several schemas may feed one dataset
(a council's own headers); they must declare exactly the dataset's fields.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ATTRIBUTE_TYPES",
    "IDENTIFIER_TYPES",
    "DatasetSchema",
    "Field",
    "HeaderError",
    "SchemaError",
    "header_key",
    "load_schemas",
]

IDENTIFIER_TYPES = frozenset(
    {"nhs_number", "given_name", "family_name", "birth_date", "sex", "postcode", "record_id"}
)
ATTRIBUTE_TYPES = frozenset({"date", "code", "icd10", "text", "money", "la_code"})
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


def _safe_header(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    return printable[:40] or "(blank)"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    pattern: str | None = None
    max_length: int = 200

    def __post_init__(self) -> None:
        if self.kind == "identifier" and self.type not in IDENTIFIER_TYPES:
            raise SchemaError(f"field {self.name}: unknown identifier type {self.type!r}")
        if self.kind == "attribute" and self.type not in ATTRIBUTE_TYPES:
            raise SchemaError(f"field {self.name}: unknown attribute type {self.type!r}")
        if self.kind not in ("identifier", "attribute"):
            raise SchemaError(f"field {self.name}: kind is identifier or attribute")
        if self.pattern is not None:
            re.compile(self.pattern)

    @property
    def is_identifier(self) -> bool:
        return self.kind == "identifier"


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
        missing column. Unknown columns are refused: they could hold identifiers."""
        lookup = {header_key(h): f for f in self.fields for h in (f.name, *f.aliases)}
        matched: list[Field] = []
        unknown: list[str] = []
        seen: dict[str, str] = {}
        repeated: list[str] = []
        for column in header:
            field = lookup.get(header_key(column))
            if field is None:
                unknown.append(_safe_header(column))
                continue
            if field.name in seen:
                repeated.append(_safe_header(column))
            seen[field.name] = column
            matched.append(field)
        required = [f for f in self.fields if f.required or f.type in REQUIRED_IDENTIFIERS]
        absent = [f.name for f in required if f.name not in seen]
        problems = []
        if unknown:
            problems.append(f"unknown columns: {', '.join(unknown)}")
        if repeated:
            problems.append(f"repeated columns: {', '.join(repeated)}")
        if absent:
            problems.append(f"missing columns: {', '.join(absent)}")
        if problems:
            raise HeaderError(
                f"the header does not fit schema {self.name}: " + "; ".join(problems),
                tuple(unknown + repeated + absent),
            )
        return tuple(matched)


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
                max_length=int(f.get("max_length", 200)),
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
    except (KeyError, TypeError, tomllib.TOMLDecodeError, re.error) as error:
        raise SchemaError(f"{path.name}: {type(error).__name__}") from None


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
        shape = {(f.name, f.kind, f.type) for f in base.fields}
        if {(f.name, f.kind, f.type) for f in schema.fields} != shape:
            raise SchemaError(f"schema {schema.name}: its fields differ from {schema.dataset}'s")
    return schemas
