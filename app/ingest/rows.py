"""One CSV row in, one pseudonymised record (or the reasons it was refused) out.

Raw values exist only as local variables here, for the time it takes to normalise and
key them. Problems name the line, the column and the reason, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from app.ingest.schema import DatasetSchema, Field
from privacy import normalise
from privacy.pseudonym import PseudonymKeys

__all__ = ["FieldQuality", "ProcessedRow", "RowProblem", "RowProcessor"]

_ICD10 = re.compile(r"^([A-Z])(\d{2})(?:\.?(\d{1,2}))?[A-Z]?$")
_LA_CODE = re.compile(r"^E0[6-9]\d{6}$")


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
    values: dict[str, Any] | None  # column -> value for ingest_records; None if refused
    problems: list[RowProblem] = field(default_factory=list)


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
    ) -> None:
        self.schema = schema
        self.columns = columns
        self.keys = keys
        self.reference_date = reference_date
        self.today = today
        self.quality: dict[str, FieldQuality] = {f.name: FieldQuality() for f in schema.fields}
        self._name_of_type = {f.type: f.name for f in schema.fields if f.is_identifier}

    def process(self, line: int, cells: list[str]) -> ProcessedRow:
        if len(cells) != len(self.columns):
            reason = f"expected {len(self.columns)} columns, found {len(cells)}"
            return ProcessedRow(line, None, [RowProblem(line, "(row)", reason)])
        by_type: dict[str, str] = {}
        attrs: dict[str, str] = {}
        for column, cell in zip(self.columns, cells, strict=True):
            if column.is_identifier:
                by_type[column.type] = cell
            else:
                attrs[column.name] = cell
        problems: list[RowProblem] = []
        values = self._identifiers(line, by_type, problems)
        attributes = self._attributes(line, attrs, problems)
        if problems:
            return ProcessedRow(line, None, problems)
        values["attributes"] = attributes
        la_code = attributes.get("la_code")
        code, source = normalise.borough(values.pop("_postcode"), la_code)
        values["borough"], values["borough_source"] = code, source
        return ProcessedRow(line, values)

    # -- identifiers: normalised, keyed, dropped ----------------------------------------

    def _count(
        self, field_type: str, raw: str, result: object, normalised_text: str | None
    ) -> None:
        quality = self.quality[self._name_of_type[field_type]]
        if not raw.strip():
            quality.missing += 1
        elif result is None or result == ():
            quality.invalid += 1
        elif normalised_text is not None and normalised_text != raw:
            quality.normalised += 1

    def _identifiers(
        self, line: int, raw: dict[str, str], problems: list[RowProblem]
    ) -> dict[str, Any]:
        keys = self.keys
        token = keys.token
        out: dict[str, Any] = {
            "linkage_key_version": keys.linkage_version,
            "wrap_key_version": keys.wrap_version,
        }
        record_id = raw.get("record_id", "").strip()
        record_field = self.schema.record_id
        if not record_id:
            problems.append(RowProblem(line, record_field, "a record id is required"))
            self.quality[record_field].missing += 1
        elif len(record_id) > 100:
            problems.append(RowProblem(line, record_field, "longer than 100 characters"))
            self.quality[record_field].invalid += 1
        else:
            out["tok_record_id"] = token("record_id", record_id)

        nhs_raw = raw.get("nhs_number", "")
        nhs = normalise.nhs_number(nhs_raw)
        self._count("nhs_number", nhs_raw, nhs, nhs)
        out["tok_nhs_number"] = token("nhs_number", nhs) if nhs else None

        dob_raw = raw.get("birth_date", "")
        dob = normalise.birth_date(dob_raw, today=self.today)
        self._count("birth_date", dob_raw, dob, dob.isoformat() if dob else None)
        if dob is not None:
            iso = dob.isoformat()
            out["tok_dob"] = token("dob", iso)
            out["tok_dob_year"] = token("dob_year", iso[:4])
            out["tok_dob_month_day"] = token("dob_month_day", iso[5:])
            out["bloom_dob"] = keys.bloom("dob", iso)
            out["age_band"] = (
                normalise.age_band(dob, self.reference_date) if dob <= self.reference_date else None
            )
        else:
            out.update(tok_dob=None, tok_dob_year=None, tok_dob_month_day=None, bloom_dob=None)
            out["age_band"] = None

        sex_raw = raw.get("sex", "")
        sex = normalise.sex(sex_raw)
        self._count("sex", sex_raw, sex, sex)
        out["sex"] = sex
        out["tok_sex"] = token("sex", sex) if sex else None

        pc_raw = raw.get("postcode", "")
        pc = normalise.postcode(pc_raw)
        self._count("postcode", pc_raw, pc, pc.full if pc else None)
        out["_postcode"] = pc
        if pc is not None:
            out["tok_postcode"] = token("postcode", pc.full)
            out["tok_postcode_sector"] = token("postcode_sector", pc.sector)
            out["tok_postcode_district"] = token("postcode_district", pc.district)
            out["bloom_postcode"] = keys.bloom("postcode", pc.full)
        else:
            out.update(
                tok_postcode=None,
                tok_postcode_sector=None,
                tok_postcode_district=None,
                bloom_postcode=None,
            )

        given_raw = raw.get("given_name", "")
        given = normalise.name_parts(given_raw)
        self._count("given_name", given_raw, given, " ".join(given))
        family_raw = raw.get("family_name", "")
        family = normalise.name_parts(family_raw)
        self._count("family_name", family_raw, family, " ".join(family))
        canonical = tuple(normalise.canonical_given_name(p) for p in given)
        out["tok_given_name"] = token("given_name", canonical[0]) if canonical else None
        out["tok_given_name_2"] = token("given_name", canonical[1]) if len(canonical) > 1 else None
        out["tok_given_phonetic"] = (
            token("given_phonetic", normalise.phonetic(canonical[0])) if canonical else None
        )
        out["bloom_given_name"] = keys.bloom("given_name", " ".join(canonical)) if given else None
        family_joined = "".join(family)
        out["tok_family_name"] = token("family_name", family_joined) if family else None
        out["tok_family_phonetic"] = (
            token("family_phonetic", normalise.phonetic(family_joined)) if family else None
        )
        salt = dob.isoformat()[:4] if dob else ""
        out["bloom_family_name"] = (
            keys.bloom("family_name", family_joined, salt=salt) if family else None
        )
        return out

    # -- attributes: validated and kept ---------------------------------------------------

    def _attributes(
        self, line: int, raw: dict[str, str], problems: list[RowProblem]
    ) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for spec in self.schema.attributes:
            cell = raw.get(spec.name, "").strip()
            quality = self.quality[spec.name]
            if not cell:
                quality.missing += 1
                if spec.required:
                    problems.append(RowProblem(line, spec.name, "a value is required"))
                kept[spec.name] = None
                continue
            value, reason = _attribute(spec, cell)
            if reason is not None:
                quality.invalid += 1
                if spec.required:
                    problems.append(RowProblem(line, spec.name, reason))
                kept[spec.name] = None
                continue
            if isinstance(value, str) and value != cell:
                quality.normalised += 1
            kept[spec.name] = value
        return kept


def _attribute(spec: Field, cell: str) -> tuple[Any, str | None]:
    """(kept value, None) or (None, reason). Reasons describe the rule, not the value."""
    kind = spec.type
    if kind == "date":
        parsed = normalise.event_date(cell)
        return (parsed.isoformat(), None) if parsed else (None, "not a valid date")
    if kind == "money":
        try:
            amount = Decimal(cell.replace("£", "").replace(",", "").strip())
        except InvalidOperation:
            return None, "not an amount of money"
        if not amount.is_finite() or amount < 0 or amount > 1_000_000:
            return None, "an amount between 0 and 1,000,000"
        return str(amount.quantize(Decimal("0.01"))), None
    if kind == "la_code":
        code = cell.upper()
        return (code, None) if _LA_CODE.match(code) else (None, "not an ONS local authority code")
    if kind == "icd10":
        match = _ICD10.match(cell.upper().replace(" ", ""))
        if not match:
            return None, "not an ICD-10 code"
        letter, digits, sub = match.groups()
        return (f"{letter}{digits}.{sub}" if sub else f"{letter}{digits}"), None
    if kind == "code":
        code = cell.upper()
        if spec.pattern and not re.match(spec.pattern, code):
            return None, "not one of the allowed codes"
        return code, None
    if len(cell) > spec.max_length:
        return None, f"longer than {spec.max_length} characters"
    return " ".join(cell.split()), None
