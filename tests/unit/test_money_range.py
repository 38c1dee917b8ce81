"""Ingest refuses money outside its declared range, naming the line, the column and the
rule, never the value (issue 13: a release must never meet a cost of 1.7e308).

A ``money`` attribute's declared range (``datasets/*.toml``: weekly cost from £0 to
``max_pounds`` = £50,000) is written as digits, so no overflowing, negative or non-finite
amount reaches the sealed store, whichever row kernel (Python or native) reads it.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import REPO_ROOT
from app.ingest.attributes import attribute_outcome
from app.ingest.rows import RowProcessor
from app.ingest.schema import Field, SchemaError, load_schemas
from privacy.pseudonym import PseudonymKeys

SCHEMAS = load_schemas(REPO_ROOT / "datasets")
ASC = SCHEMAS["asc_clients"]
COST = next(f for f in ASC.fields if f.name == "weekly_cost")
REASONS = {
    "not an amount of money in pounds",
    "more than £50,000, this column's declared maximum",
}
EXTREMES = [
    "1.7e308",
    "-1.7e308",
    "1.7E+308",
    "inf",
    "-inf",
    "Infinity",
    "NaN",
    "-5",
    "\u22125",  # a minus sign, not a hyphen
    "50000.01",
    "£50,000.005",  # rounds to a penny over
    "1000000.01",
    "99999999999999999999",
    "0x10",
    "1_000",
]


def processor(native: bool) -> RowProcessor:
    keys = PseudonymKeys.derive(
        linkage_secret=bytes(range(32)),
        linkage_version=1,
        wrap_secret=bytes(range(64)),
        wrap_version=1,
    )
    return RowProcessor(
        ASC,
        ASC.match_header([f.name for f in ASC.fields]),
        keys,
        reference_date=date(2026, 3, 31),
        today=date(2026, 11, 25),
        native=native,
    )


def row(cost: str) -> list[str]:
    cells = {
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
        "weekly_cost": cost,
    }
    return [cells[f.name] for f in ASC.fields]


@pytest.mark.parametrize("native", [False, True], ids=["python", "native"])
def test_an_amount_outside_the_declared_range_refuses_its_row_by_line_column_and_rule(native):
    batch = processor(native).process_batch(
        [(2, row("850.00"))] + [(3 + i, row(cell)) for i, cell in enumerate(EXTREMES)]
    )
    assert batch.refused == len(EXTREMES)
    problems = [(p.line, p.column, p.reason) for p in batch.problems]
    assert [(line, column) for line, column, _ in problems] == [
        (3 + i, "weekly_cost") for i in range(len(EXTREMES))
    ]
    assert {reason for _, _, reason in problems} <= REASONS
    for cell in EXTREMES:
        assert all(cell not in reason for _, _, reason in problems)
    (accepted,) = batch.rows
    assert accepted[-1]["weekly_cost"] == 85_000


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_written_out_is_kept_within_the_range_or_refused(value: float):
    for cell in (repr(value), f"{value:f}", f"{value:e}"):
        kept, _, reason = attribute_outcome(COST, cell)
        if kept is None:
            assert reason in REASONS
        else:
            assert isinstance(kept, int) and 0 <= kept <= 50_000 * 100


def test_every_money_column_declares_its_range_and_only_money_may():
    money = [f for s in SCHEMAS.values() for f in s.fields if f.type == "money"]
    assert money and all(f.max_pounds == 50_000 for f in money)
    assert attribute_outcome(COST, "£50,000.00")[0] == 5_000_000
    with pytest.raises(SchemaError, match="max_pounds is for money"):
        Field(name="x", kind="attribute", type="date", max_pounds=10)
    with pytest.raises(SchemaError, match="max_pounds is for money"):
        Field(name="x", kind="attribute", type="money", max_pounds=2_000_000)
