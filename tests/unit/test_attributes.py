"""Kept attributes are closed vocabularies or strict types, kept as typed values.

A cell outside the domain is refused with a reason from a fixed set (never the value);
what is accepted is in the domain; every value the synthetic generator emits is in it.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import REPO_ROOT
from app.ingest import rows
from app.ingest.attributes import (
    MAX_PENCE,
    arrow_kind,
    attribute_outcome,
    text_form,
)
from app.ingest.rows import RowProcessor
from app.ingest.schema import Field, SchemaError, load_schemas
from app.synth.catalogue import load_catalogue
from app.synth.hospital import ADMISSION_METHODS
from app.synth.render import DIAGNOSIS_STYLES, format_diagnosis
from privacy.pseudonym import PseudonymKeys
from privacy.release import catalogue as release

SCHEMAS = load_schemas(REPO_ROOT / "datasets")
ATTRIBUTES = [(name, f) for name, s in SCHEMAS.items() for f in s.attributes]
FIXED_REASONS = {
    "date": {"not a valid date"},
    "money": {
        "not an amount of money in pounds",
        "more than £1,000,000",
        "more than £50,000, this column's declared maximum",
    },
    "icd10": {"not an ICD-10 code"},
}
CANONICAL_ICD10 = re.compile(r"[A-Z][0-9]{2}(\.[0-9]{1,2})?")
OK, MISSING, INVALID, NORMALISED = 0, 1, 2, 3


def _field(schema: str, name: str) -> Field:
    return next(f for f in SCHEMAS[schema].fields if f.name == name)


def _in_domain(spec: Field, value: object) -> bool:
    if spec.type == "date":
        return type(value) is date and date(1990, 1, 1) <= value <= date(2100, 12, 31)
    if spec.type == "money":
        most = MAX_PENCE if spec.max_pounds is None else spec.max_pounds * 100
        return type(value) is int and 0 <= value <= most
    assert isinstance(value, str)
    if spec.type == "icd10":
        return CANONICAL_ICD10.fullmatch(value) is not None
    if spec.codes:
        return value in spec.codes
    assert spec.pattern is not None
    return re.fullmatch(spec.pattern, value, re.ASCII) is not None


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize(
    ("schema", "spec"), ATTRIBUTES, ids=[f"{s}.{f.name}" for s, f in ATTRIBUTES]
)
@given(cell=st.text(max_size=40) | st.from_regex(r"[0-9£,. /-]{1,14}", fullmatch=True))
def test_any_cell_is_kept_in_the_domain_or_refused_by_a_fixed_reason(schema, spec, cell):
    value, outcome, reason = attribute_outcome(spec, cell)
    if value is not None:
        assert _in_domain(spec, value)
        assert outcome in (OK, NORMALISED) and reason is None
        return
    allowed = FIXED_REASONS.get(spec.type, {spec.refusal}) | {"a value is required"}
    if outcome == MISSING:
        assert not cell.strip()
        assert reason == ("a value is required" if spec.required else None)
    else:
        assert outcome == INVALID
        assert reason in allowed  # a fixed text: it cannot carry the cell


@given(
    code=st.sampled_from(_field("asc_clients", "service_type").codes),
    upper=st.lists(st.booleans(), min_size=60, max_size=60),
    pad=st.sampled_from(["", " ", "  ", "\t", "\u00a0"]),
)
def test_a_code_is_recognised_whatever_its_case_and_spacing(code, upper, pad):
    spec = _field("asc_clients", "service_type")
    cased = "".join(c.upper() if u else c.lower() for c, u in zip(code, upper, strict=False))
    spaced = pad + cased.replace(" ", " " + pad) + pad
    assert attribute_outcome(spec, spaced)[0] == code


@given(cell=st.text(max_size=30))
def test_a_label_mapping_only_ever_gives_a_listed_code(cell):
    spec = _field("asc_clients_cld", "service_type")
    value, _, reason = attribute_outcome(spec, cell)
    assert value is None or value in spec.codes
    assert reason in (None, "not a Client Level Data service type")


# --------------------------------------------------------------------------- typed values


@pytest.mark.parametrize(
    ("schema", "name", "cell", "kept", "outcome"),
    [
        ("nhs_episodes", "admission_date", "2025-04-01", date(2025, 4, 1), OK),
        ("nhs_episodes", "admission_date", "01/04/2025", date(2025, 4, 1), NORMALISED),
        ("asc_clients", "weekly_cost", "850.00", 85_000, OK),
        ("asc_clients", "weekly_cost", "£1,234.5", 123_450, NORMALISED),
        ("asc_clients", "weekly_cost", "99.995", 10_000, NORMALISED),
        ("asc_clients", "weekly_cost", "0", 0, NORMALISED),
        ("asc_clients", "la_code", "e09000007", "E09000007", NORMALISED),
        ("nhs_episodes", "admission_method", "2a", "2A", NORMALISED),
        ("nhs_episodes", "provider_code", "RAL01", "RAL01", OK),
        ("nhs_episodes", "primary_diagnosis", "i509", "I50.9", NORMALISED),
        ("nhs_episodes", "primary_diagnosis", "R55X", "R55", NORMALISED),
        (
            "asc_clients",
            "service_type",
            "long term support:  NURSING",
            "Long Term Support: Nursing",
            NORMALISED,
        ),
        (
            "asc_clients_cld",
            "service_type",
            "Short Term Support: ST-Max",
            "Short Term Support: Reablement",
            NORMALISED,
        ),
        (
            "asc_clients_cld",
            "primary_support_reason",
            "support with memory and cognition",
            "Support with Memory & Cognition",
            NORMALISED,
        ),
    ],
)
def test_kept_values_are_typed_and_canonical(schema, name, cell, kept, outcome):
    value, got_outcome, reason = attribute_outcome(_field(schema, name), cell)
    assert (value, type(value), got_outcome, reason) == (kept, type(kept), outcome, None)


@pytest.mark.parametrize(
    ("schema", "name", "cell", "reason"),
    [
        (
            "asc_clients",
            "service_type",
            "Jane Smith 9434765919",
            "not a Client Level Data service type",
        ),
        (
            "asc_clients",
            "service_type",
            '=HYPERLINK("http://x")',
            "not a Client Level Data service type",
        ),
        (
            "asc_clients",
            "primary_support_reason",
            "see notes",
            "not a Client Level Data primary support reason",
        ),
        (
            "asc_clients",
            "la_code",
            "E07000001",
            "not a code of an English council with social care duties (E06, E08, E09 or E10)",
        ),
        ("nhs_episodes", "admission_method", "2E", "not a NHS Data Dictionary admission method"),
        ("nhs_episodes", "provider_code", "RAL0", "not a ODS organisation or site code"),
        ("nhs_episodes", "primary_diagnosis", "heart failure", "not an ICD-10 code"),
        ("asc_clients", "weekly_cost", "-5", "not an amount of money in pounds"),
        ("asc_clients", "weekly_cost", "1e5", "not an amount of money in pounds"),
        (
            "asc_clients",
            "weekly_cost",
            "1000000.01",
            "more than £50,000, this column's declared maximum",
        ),
        (
            "asc_clients",
            "weekly_cost",
            "50000.01",
            "more than £50,000, this column's declared maximum",
        ),
        ("asc_clients", "weekly_cost", "9" * 5000, "not an amount of money in pounds"),
        ("nhs_episodes", "admission_date", "31/02/2025", "not a valid date"),
    ],
)
def test_a_value_outside_the_domain_is_refused_naming_the_rule(schema, name, cell, reason):
    assert attribute_outcome(_field(schema, name), cell) == (None, INVALID, reason)


def test_the_store_is_told_each_attribute_s_column_kind():
    kinds = {f.name: arrow_kind(f) for f in SCHEMAS["nhs_episodes"].attributes}
    assert kinds == {
        "admission_date": "date",
        "discharge_date": "date",
        "admission_method": "code",
        "primary_diagnosis": "code",
        "provider_code": "code",
    }
    assert arrow_kind(_field("asc_clients", "weekly_cost")) == "money"
    with pytest.raises(ValueError, match="identifier"):
        arrow_kind(_field("asc_clients", "nhs_number"))


def test_text_form_is_what_a_kept_value_reads_as():
    assert [text_form(v) for v in (date(2025, 4, 1), 85_005, 7, "I50.9")] == [
        "2025-04-01",
        "850.05",
        "0.07",
        "I50.9",
    ]


def test_the_quality_outcomes_are_the_row_processor_s():
    assert (rows._OK, rows._MISSING, rows._INVALID, rows._NORMALISED) == (0, 1, 2, 3)


# --------------------------------------------------------------------------- domains


def test_the_social_care_codes_are_the_categories_releases_count_by():
    for name in ("asc_clients", "asc_clients_cld"):
        assert _field(name, "service_type").codes == release.SERVICE_TYPES
        assert _field(name, "primary_support_reason").codes == release.SUPPORT_REASONS
    methods = _field("nhs_episodes", "admission_method").codes
    assert set(methods) - set(release.ADMISSION_METHODS) == {"99"}  # HES "not known"
    assert set(release.ADMISSION_METHODS) <= set(methods)


def test_every_value_the_synthetic_generator_emits_is_in_its_domain():
    catalogue = load_catalogue()
    emitted = {
        ("asc_clients", "service_type"): list(catalogue.services),
        ("asc_clients", "primary_support_reason"): list(catalogue.support_reasons),
        ("asc_clients", "la_code"): [b.code for b in catalogue.boroughs],
        ("nhs_episodes", "provider_code"): list(catalogue.trusts),
        ("nhs_episodes", "admission_method"): [
            m for methods in ADMISSION_METHODS.values() for m, _ in methods
        ],
        ("nhs_episodes", "primary_diagnosis"): [
            format_diagnosis(d.code, style)
            for d in catalogue.diagnoses
            for style in DIAGNOSIS_STYLES
        ],
    }
    for (schema, name), values in emitted.items():
        spec = _field(schema, name)
        refused = [v for v in values if attribute_outcome(spec, v)[0] is None]
        assert refused == [], (schema, name)
    for d in catalogue.diagnoses:  # each style of a code is kept as the code itself
        kept = {
            attribute_outcome(
                _field("nhs_episodes", "primary_diagnosis"), format_diagnosis(d.code, s)
            )[0]
            for s in DIAGNOSIS_STYLES
        }
        assert kept == {d.code.removesuffix(".X")}


# --------------------------------------------------------------------------- declarations


def _code(**kwargs: object) -> Field:
    return Field(name="service_type", kind="attribute", type="code", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: Field(name="notes", kind="attribute", type="text"),
            "unknown attribute type 'text'",
        ),
        (lambda: _code(), "lists its codes or has a pattern"),
        (lambda: _code(codes=("A",), pattern="^A$"), "lists its codes or has a pattern"),
        (lambda: _code(codes=("A", " a ")), "listed twice"),
        (lambda: _code(codes=("A",), labels=(("x", "B"),)), "maps onto no listed code"),
        (lambda: _code(codes=("A", "B"), labels=(("b", "A"),)), "means two codes"),
        (lambda: _code(pattern="^A$", labels=(("x", "A"),)), "listed codes only"),
        (lambda: _code(pattern="("), "pattern is not valid"),
        (lambda: Field(name="d", kind="attribute", type="date", codes=("A",)), "only a code"),
    ],
)
def test_a_schema_must_declare_every_attribute_s_domain(make, message):
    with pytest.raises(SchemaError, match=re.escape(message)):
        make()


def test_a_schema_file_using_free_text_is_refused(tmp_path):
    text = (REPO_ROOT / "datasets" / "asc_clients.toml").read_text(encoding="utf-8")
    start = text.index('name = "primary_support_reason"')
    end = text.index("[[fields]]", start)
    changed = (
        text[:start]
        + 'name = "primary_support_reason"\nkind = "attribute"\ntype = "text"\n\n'
        + text[end:]
    )
    (tmp_path / "asc_clients.toml").write_text(changed, encoding="utf-8")
    with pytest.raises(SchemaError, match="unknown attribute type 'text'"):
        load_schemas(tmp_path)


def test_a_council_schema_may_add_labels_but_not_change_the_domain(tmp_path):
    base = (REPO_ROOT / "datasets" / "asc_clients.toml").read_text(encoding="utf-8")
    (tmp_path / "asc_clients.toml").write_text(base, encoding="utf-8")
    council = base.replace('name = "asc_clients"\n', 'name = "camden"\n', 1).replace(
        'aliases = ["service type", "support type"]\n',
        'aliases = ["service type", "support type"]\n\n'
        '[fields.labels]\n"Res Care" = "Long Term Support: Residential"\n',
    )
    (tmp_path / "camden.toml").write_text(council, encoding="utf-8")
    schemas = load_schemas(tmp_path)
    spec = next(f for f in schemas["camden"].fields if f.name == "service_type")
    assert attribute_outcome(spec, " res  CARE ")[0] == "Long Term Support: Residential"
    narrower = council.replace('  "Long Term Support: Nursing",\n', "", 1)
    (tmp_path / "camden.toml").write_text(narrower, encoding="utf-8")
    with pytest.raises(SchemaError, match="differ"):
        load_schemas(tmp_path)


# --------------------------------------------------------------------------- rows


def _processor(schema: str) -> RowProcessor:
    keys = PseudonymKeys.derive(
        linkage_secret=bytes(range(32)),
        linkage_version=1,
        wrap_secret=bytes(range(64)),
        wrap_version=1,
    )
    s = SCHEMAS[schema]
    return RowProcessor(
        s,
        s.match_header([f.name for f in s.fields]),
        keys,
        reference_date=date(2026, 3, 31),
        today=date(2026, 11, 25),
        native=False,
    )


def _asc_row(**cells: str) -> list[str]:
    row = {
        "nhs_number": "9434765919",
        "given_name": "Zoë",
        "family_name": "O'Brien",
        "date_of_birth": "1950-03-01",
        "sex": "F",
        "postcode": "NW1 2AB",
        "client_id": "C1",
        "la_code": "E09000007",
        "event_start_date": "2025-04-01",
        "event_end_date": "",
        "service_type": "Long Term Support: Nursing",
        "primary_support_reason": "",
        "weekly_cost": "850.00",
    }
    row.update(cells)
    return [row[f.name] for f in SCHEMAS["asc_clients"].fields]


def test_an_invalid_optional_code_refuses_the_row_and_a_blank_one_does_not():
    processor = _processor("asc_clients")
    leaked = "Jane Smith 9434765919"
    batch = processor.process_batch(
        [(2, _asc_row()), (3, _asc_row(service_type=leaked)), (4, _asc_row(weekly_cost="lots"))]
    )
    assert batch.refused == 2
    assert [(p.line, p.column, p.reason) for p in batch.problems] == [
        (3, "service_type", "not a Client Level Data service type"),
        (4, "weekly_cost", "not an amount of money in pounds"),
    ]
    assert leaked not in repr(batch.problems)
    (accepted,) = batch.rows
    assert accepted[-1] == {
        "la_code": "E09000007",
        "event_start_date": date(2025, 4, 1),
        "event_end_date": None,
        "service_type": "Long Term Support: Nursing",
        "primary_support_reason": None,
        "weekly_cost": 85_000,
    }
    assert processor.quality["service_type"].invalid == 1
