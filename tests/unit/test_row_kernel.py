"""The native row loop (app/ingest/_kernel.pyx) equals its definition, the Python loop.

Two processors with the same keys, one native and one reference, are given the same
rows; their accepted rows, problems, refusals and quality counts must be identical.
The cells mix what extracts hold (valid values spelt every way the normalisers accept)
with arbitrary text, non-ASCII letters and digits, odd whitespace and dates at the edges
of the calendar, so that both the native paths and their fall-backs are exercised.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import REPO_ROOT
from app.ingest.rows import RowProcessor
from app.ingest.schema import load_schemas
from app.store.records import RECORD_COLUMNS
from privacy.bloom import BloomParameters
from privacy.nhs_number import nhs_check_digit
from privacy.pseudonym import PseudonymKeys

TODAY = date(2026, 11, 25)
REFERENCE = date(2026, 3, 31)
SCHEMAS = load_schemas(REPO_ROOT / "datasets")


def _keys(params: BloomParameters = BloomParameters()) -> PseudonymKeys:
    return PseudonymKeys.derive(
        linkage_secret=bytes(range(32)),
        linkage_version=3,
        wrap_secret=bytes(range(64)),
        wrap_version=2,
        bloom_parameters=params,
    )


def _processor(
    schema_name: str,
    header: list[str],
    keys: PseudonymKeys,
    *,
    native: bool,
    memo: int = 1 << 16,
    prefixed: bool = False,
) -> RowProcessor:
    """One processor; ``prefixed`` rows start with a submission id and the dataset, as
    the service's do."""
    schema = SCHEMAS[schema_name]
    made = RowProcessor(
        schema,
        schema.match_header(header),
        keys,
        reference_date=REFERENCE,
        today=TODAY,
        memo_size=memo,
        native=native,
        row_prefix=(7, schema.dataset) if prefixed else (),
    )
    assert (made._kernel is not None) is native
    return made


def _pair(schema_name: str, header: list[str], keys: PseudonymKeys, memo: int = 1 << 16):
    """A native processor and its pure-Python reference."""
    return [_processor(schema_name, header, keys, native=n, memo=memo) for n in (True, False)]


def _nhs_numbers() -> st.SearchStrategy[str]:
    valid = st.integers(100_000_000, 999_999_999).map(
        lambda n: f"{n}{nhs_check_digit(str(n))}" if nhs_check_digit(str(n)) is not None else "x"
    )
    spelt = st.tuples(valid, st.sampled_from(["{}", " {} ", "{0:.3}-{0}", "{0:.3} {0}"])).map(
        lambda p: p[1].format(p[0]) if "{0" not in p[1] else f"{p[0][:3]} {p[0][3:6]}-{p[0][6:]}"
    )
    return st.one_of(
        valid,
        spelt,
        st.sampled_from(["", "  ", "-", "0000000000", "94347659\uff119", "\u00a0"]),
        st.text(alphabet="0123456789 -\t\u2013x", max_size=14),
    )


def _dates() -> st.SearchStrategy[str]:
    ymd = st.tuples(st.integers(1850, 2030), st.integers(0, 13), st.integers(0, 32))
    return st.one_of(
        ymd.map(lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"),
        ymd.map(lambda t: f"{t[2]:02d}/{t[1]:02d}/{t[0]:04d}"),
        ymd.map(lambda t: f" {t[2]}/{t[1]}/{t[0] % 100:02d} "),
        ymd.map(lambda t: f"{t[2]} Mar {t[0]}"),
        ymd.map(lambda t: f"{t[0]:04d}{t[1]:02d}{t[2]:02d}"),
        st.sampled_from(
            [
                "",
                " ",
                "2026-11-25",
                "2026-11-26",
                "1890-01-01",
                "1889-12-31",
                "29/02/2000",
                "29/02/1900",
                "2000-02-29T10:30",
                "\u0662\u0660\u0660\u0660-\u0660\u0661-\u0660\u0661",
            ]
        ),
        st.text(alphabet="0123456789-/. Tt:", max_size=12),
    )


def _postcodes() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                "SW1A 1AA",
                "sw1a1aa",
                " e1 6an ",
                "EC1A 1BB",
                "W1A 0AX",
                "GIR 0AA",
                "N1\u00a09GU",
                "HA7 4ZR",
                "SE72GS",
                "ZZ9 9ZZ",
                "Q1 1AA",
                "",
                "   ",
                "E1  6AN",
                "E1\t6AN",
                "E16AN E16AN",
                "CR0 1XX",
            ]
        ),
        st.text(alphabet="ABCEHNSWaey0123456789 ", max_size=10),
    )


def _names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                "Mary-Jane",
                "O'Brien",
                "Dr John Smith Jr",
                "Zoë",
                "José",
                "Bob",
                "Lord",
                "Sir Lord",
                "MR",
                "Müller-Lüdenscheidt",
                "Łukasz",
                "李",
                "Mohammed Ali",
                "  ",
                "",
                "d`Arcy",
                "Chris",
                "Robert",
                "Aa",
                "Y",
                "Smith III",
                "the",
            ]
        ),
        st.text(alphabet="abcdeyAZ '-`é.", max_size=20),
        st.text(max_size=8),
    )


CELLS = {
    "nhs_number": _nhs_numbers(),
    "given_name": _names(),
    "family_name": _names(),
    "date_of_birth": _dates(),
    "sex": st.sampled_from(["1", "2", "M", "f", "Female", " non-binary ", "x", "", "?", "9"]),
    "postcode": _postcodes(),
    "episode_id": st.one_of(st.text(max_size=6), st.just("A" * 101), st.just("  ")),
    "admission_date": st.sampled_from(["2024-01-02", "02/01/2024", "", "not a date"]),
    "discharge_date": st.sampled_from(["2024-01-03", "", "31/04/2024"]),
    "admission_method": st.sampled_from(["21", "82", "", "zz"]),
    "primary_diagnosis": st.sampled_from(["J06.9", "Z380", "", "not icd"]),
    "provider_code": st.sampled_from(["RQX", "R1K", ""]),
}
HEADER = list(CELLS)


def _rows(size: int):
    row = st.fixed_dictionaries(CELLS).map(lambda cells: [cells[h] for h in HEADER])
    odd = st.lists(st.text(max_size=3), max_size=14)  # wrong number of columns
    return st.lists(st.one_of(row, row, row, odd), min_size=1, max_size=size)


def _same(native, reference, rows):
    numbered = [(line, cells) for line, cells in enumerate(rows, start=2)]
    got = native.process_batch(list(numbered))
    want = reference.process_batch(list(numbered))
    assert got.rows == want.rows
    assert got.problems == want.problems
    assert got.refused == want.refused
    assert native.quality == reference.quality


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(_rows(20), min_size=1, max_size=3))
def test_native_loop_equals_the_reference_loop(batches):
    native, reference = _pair("nhs_episodes", HEADER, _keys(), memo=8)
    for rows in batches:
        _same(native, reference, rows)


@settings(max_examples=40, deadline=None)
@given(rows=_rows(10))
def test_native_loop_with_finishing_bloom_steps_equals_the_reference(rows):
    params = BloomParameters(xor_folds=1, rule90=True, blip=0.05)
    native, reference = _pair("nhs_episodes", HEADER, _keys(params))
    assert _keys(params).native_parts()[1] is None
    _same(native, reference, rows)


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
def test_native_loop_serves_every_shipped_schema(schema_name):
    schema = SCHEMAS[schema_name]
    header = [f.name for f in schema.fields]
    native, reference = _pair(schema_name, header, _keys())
    rows = [["" for _ in header], ["x" for _ in header]]
    _same(native, reference, rows)


#: A row as an extract holds it (``HEADER`` order).
EXTRACT_ROW = [
    "943 476 5919",
    "Daniel Leo",
    "Cook",
    "26/04/1975",
    "M",
    "ha7 4zr",
    "EP-1",
    "2025-04-26",
    "2025-04-27",
    "82",
    "Z380",
    "R1K",
]


def test_a_real_extract_row_gives_the_same_tokens_both_ways():
    row = EXTRACT_ROW
    native, reference = _pair("nhs_episodes", HEADER, _keys())
    _same(native, reference, [row, row])
    assert len(native.process_batch([(2, row)]).rows) == 1


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
def test_native_loop_accepts_a_good_row_of_every_shipped_schema_as_the_reference_does(
    schema_name,
):
    """A good cell of every field, so every schema's accepted rows (tokens and typed
    attributes alike) are compared, prefixed as a caller may ask."""
    schema = SCHEMAS[schema_name]
    header = [f.name for f in schema.fields]
    native, reference = (
        _processor(schema_name, header, _keys(), native=n, prefixed=True) for n in (True, False)
    )
    valid = {  # a good cell of each field type
        "nhs_number": "943 476 5919",
        "given_name": "Zoë",
        "family_name": "O'Brien",
        "birth_date": "26/04/1975",
        "sex": "F",
        "postcode": "ha7 4zr",
        "record_id": "R-1",
        "la_code": "E09000003",
        "date": "2025-04-26",
        "code": "21",
        "icd10": "J06.9",
        "text": 'Long "term" support',
        "money": "123.45",
    }
    # A code attribute has its own domain: its first national code, or a code its
    # pattern takes (a council, an ODS provider).
    by_pattern = {"la_code": "E09000003", "provider_code": "RAL"}
    good = [
        (f.codes[0] if f.codes else by_pattern[f.name])
        if f.type == "code" and not f.is_identifier
        else valid[f.type]
        for f in schema.fields
    ]
    rows = [["" for _ in header], ["x" for _ in header], good, good]
    _same(native, reference, rows)
    (accepted,) = native.process_batch([(9, good)]).rows
    assert accepted[:3] == (7, schema.dataset, 9)
    assert len(accepted) == 2 + len(RECORD_COLUMNS)
