"""``load_records`` codes the sealed batches one at a time: the result must be exactly
what coding every batch's columns at once gave (the previous implementation, kept here
as the reference), however the records are split into batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from app.services.linkage import data
from app.services.linkage.data import GROUPINGS, LinkedRecords, encoded_column, load_records
from app.services.store import store_keys
from app.store import FACTS, LINKAGE_PART, accepted_record_parts
from app.store.batches import RecordPart
from linkage.records import BLOOM_BYTES, BLOOM_COLUMNS, TOKEN_COLUMNS, EncodedColumn, RecordFrame


def _encoded(column: pa.ChunkedArray, *, keep_values: bool) -> EncodedColumn:
    if column.num_chunks == 0:
        column = pa.chunked_array([pa.array([], type=pa.binary())])
    encoded = column.combine_chunks().dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return encoded_column(codes, encoded.dictionary, keep_values=keep_values)


def reference_load(session: Any, keys: Any) -> LinkedRecords:
    """The previous ``load_records``: every batch's table kept, concatenated, then coded."""
    link_columns = ["line", *TOKEN_COLUMNS, *BLOOM_COLUMNS]
    tables: list[pa.Table] = []
    datasets: list[np.ndarray] = []
    for part in accepted_record_parts(session, keys, LINKAGE_PART, columns=link_columns):
        tables.append(part.table.drop_columns(["line"]))
        datasets.append(np.full(part.table.num_rows, part.dataset, dtype=object))
    groups: dict[str, list[np.ndarray]] = {g: [] for g in GROUPINGS}
    for part in accepted_record_parts(session, keys, FACTS, columns=["line", *GROUPINGS]):
        for g in GROUPINGS:
            values = part.table.column(g).fill_null("unknown").to_numpy(zero_copy_only=False)
            groups[g].append(values.astype(object))
    empty = pa.schema(
        [("record_key", pa.int64())] + [(c, pa.binary()) for c in (*TOKEN_COLUMNS, *BLOOM_COLUMNS)]
    )
    table = (
        pa.concat_tables([t.select(empty.names) for t in tables]) if tables else empty.empty_table()
    )
    tokens = {c: _encoded(table.column(c), keep_values=False) for c in TOKEN_COLUMNS}
    blooms = {c: _encoded(table.column(c), keep_values=True) for c in BLOOM_COLUMNS}
    dataset = np.concatenate(datasets) if datasets else np.zeros(0, dtype=object)
    records = RecordFrame.from_columns(
        record_key=table.column("record_key").to_numpy(),
        dataset=dataset,
        tokens=tokens,
        blooms=blooms,
    )
    return LinkedRecords(
        records,
        dataset,
        {g: np.concatenate(v) if v else np.zeros(0, dtype=object) for g, v in groups.items()},
    )


def assert_same(got: LinkedRecords, expected: LinkedRecords) -> None:
    a, b = got.records, expected.records
    assert len(a) == len(b) > 500
    for name in ("record_key", "dataset"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype and np.array_equal(left, right), name
    for mapping in ("codes", "bloom_codes", "bloom_words", "bloom_pop"):
        left, right = getattr(a, mapping), getattr(b, mapping)
        assert set(left) == set(right), mapping
        for column in right:
            assert left[column].dtype == right[column].dtype, (mapping, column)
            assert np.array_equal(left[column], right[column]), (mapping, column)
    assert got.datasets.dtype == expected.datasets.dtype == object
    assert np.array_equal(got.datasets, expected.datasets)
    assert set(got.groups) == set(expected.groups) == set(GROUPINGS)
    for g in GROUPINGS:
        assert got.groups[g].dtype == expected.groups[g].dtype == object
        assert got.groups[g].tolist() == expected.groups[g].tolist(), g


@pytest.mark.parametrize(
    ("rows", "merge_at"),
    [(None, None), (1, 1), (97, 1), (97, 40), (13, None)],
    ids=["stored-batches", "one-row-batches", "merging-always", "merging-sometimes", "no-merge"],
)
def test_loading_batch_by_batch_gives_the_same_records(
    ctx, population, monkeypatch, rows, merge_at
):
    """Sliced into more batches than the store holds, and with values merged after every
    batch or only at the end: the same records, codes, filters and groupings."""
    keys = store_keys(ctx)
    with ctx.reads() as session:
        expected = reference_load(session, keys)

    def sliced(*args: Any, **kwargs: Any) -> Iterator[RecordPart]:
        for part in accepted_record_parts(*args, **kwargs):
            size = rows or part.table.num_rows
            for start in range(0, part.table.num_rows, size):
                piece = part.table.slice(start, size)
                yield RecordPart(part.submission_id, part.dataset, piece)

    monkeypatch.setattr(data, "accepted_record_parts", sliced)
    if merge_at is not None:
        monkeypatch.setattr(data, "_MERGE_AT", merge_at)
    with ctx.reads() as session:
        got = load_records(session, keys)
    assert_same(got, expected)
    # the store exercises what matters: several submissions, missing tokens, repeats
    assert len(set(got.datasets.tolist())) == 2
    assert any((c == -1).any() for c in got.records.codes.values())
    assert all(
        len(w) < len(got) for w in got.records.bloom_words.values()
    )  # repeated filters share a row


@pytest.mark.parametrize(
    "batches",
    [
        [],  # no accepted record at all (an empty snapshot)
        [[None, None]],  # a column missing on every record
        [[None], [b"a" * BLOOM_BYTES, None], [None]],
        [[b"a" * BLOOM_BYTES], [], [b"b" * BLOOM_BYTES, b"a" * BLOOM_BYTES]],
    ],
)
def test_empty_and_all_missing_columns_are_coded_as_before(batches):
    arrays = [pa.array(b, type=pa.binary()) for b in batches]
    for keep_values in (False, True):
        running = data._BatchCodes()
        for array in arrays:
            running.add(pa.chunked_array([array]))
        got = running.finish(keep_values=keep_values)
        expected = _encoded(pa.chunked_array(arrays, type=pa.binary()), keep_values=keep_values)
        assert np.array_equal(got.codes, expected.codes)
        assert np.array_equal(got.widths, expected.widths)
        assert (got.values is None) == (expected.values is None)
        if got.values is not None:
            assert np.array_equal(got.values, expected.values)
