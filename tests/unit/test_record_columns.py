"""Accepted records column by column (``app.store.records.RecordColumns``): what the row
kernel emits, what Arrow is built from, and the same records as rows when asked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import REPO_ROOT
from app.ingest.rows import RowProcessor
from app.ingest.schema import load_schemas
from app.store.records import (
    RECORD_COLUMNS,
    VALUE_COLUMNS,
    RecordColumns,
    encode_record_columns,
    encode_record_rows,
)
from tests.unit.test_row_kernel import EXTRACT_ROW as GOOD
from tests.unit.test_row_kernel import HEADER, _keys
from tests.unit.test_row_kernel import _processor as native_processor

SCHEMA = load_schemas(REPO_ROOT / "datasets")["nhs_episodes"]
ATTRIBUTES = [f.name for f in SCHEMA.attributes]

_token = st.one_of(st.none(), st.binary(min_size=48, max_size=48))
_text = st.one_of(st.none(), st.text(max_size=6))


def _record(line: int, values: list[object], kept: dict[str, object]) -> tuple[object, ...]:
    """A row in RECORD_COLUMNS order: the line, key versions, then ``values`` cycled."""
    rest = [values[i % len(values)] for i in range(len(VALUE_COLUMNS) - 3)]
    return (line, 3, 2, *rest, kept)


_rows = st.lists(
    st.builds(
        _record,
        st.integers(2, 10**6),
        st.lists(st.one_of(_token, _text), min_size=1, max_size=5),
        st.fixed_dictionaries({name: _text for name in ATTRIBUTES}),
    ),
    max_size=20,
)


@given(rows=_rows)
def test_rows_turned_into_columns_come_back_as_the_same_rows(rows):
    columns = RecordColumns.from_rows(rows, ATTRIBUTES)
    assert len(columns) == len(rows)
    assert columns.rows() == rows
    assert columns.rows((7, "x")) == [(7, "x", *row) for row in rows]
    for i, name in enumerate(VALUE_COLUMNS):
        assert columns.column(name) == [row[i] for row in rows]


def test_columns_of_different_lengths_are_refused():
    good = RecordColumns.from_rows([_record(2, [b"t" * 48], {})], [])
    with pytest.raises(ValueError, match="one value a record"):
        RecordColumns(values=good.values, attributes=(("a", []),))
    with pytest.raises(ValueError, match="value columns"):
        RecordColumns(values=good.values[:-1], attributes=())
    with pytest.raises(ValueError, match="a record row has"):
        RecordColumns.from_rows([(2, 3, 2)], [])


def _processor() -> RowProcessor:
    return native_processor("nhs_episodes", HEADER, _keys(), native=True)


def test_the_kernel_cuts_its_columns_to_the_records_it_accepted():
    """Refused rows between accepted ones leave no slot behind in any column."""
    processor = _processor()
    assert processor._kernel is not None
    bad = [*GOOD[:3], "31/02/1975", *GOOD[4:7], "not a date", *GOOD[8:]]
    short = GOOD[:5]
    batch = processor.process_batch([(2, GOOD), (3, bad), (4, short), (5, GOOD), (6, bad)])
    assert (batch.accepted, batch.refused) == (2, 3)
    assert all(len(column) == 2 for column in batch.columns.values)
    assert all(len(column) == 2 for _, column in batch.columns.attributes)
    assert batch.columns.column("line") == [2, 5]
    assert [name for name, _ in batch.columns.attributes] == ATTRIBUTES


def test_a_batch_that_fails_part_way_leaves_the_kernel_usable():
    """A row the kernel cannot read (not a pair) stops the batch; the columns it had
    filled are cut and dropped, and the next batch runs as before."""
    processor = _processor()
    with pytest.raises(TypeError):
        processor.process_batch([(2, GOOD), (3, GOOD), 5, (6, GOOD)])
    again = processor.process_batch([(2, GOOD), (3, GOOD)])
    assert again.accepted == 2 and len(again.rows) == 2


def test_columns_and_rows_encode_to_the_same_arrow_bytes():
    processor = _processor()
    batch = processor.process_batch([(line, GOOD) for line in range(2, 40)])
    from_columns = encode_record_columns(batch.columns, SCHEMA.attributes)
    from_rows = encode_record_rows(batch.rows, SCHEMA.attributes)
    assert from_columns.linkage_ipc == from_rows.linkage_ipc
    assert from_columns.facts_ipc == from_rows.facts_ipc
    assert (from_columns.first_line, from_columns.rows) == (2, 38)
    assert len(RECORD_COLUMNS) == len(batch.rows[0])
