"""The validated input of a linkage run: tokens as integer codes, Bloom filters as words.

``RecordFrame.from_columns`` checks columns already factorised (the service opens the
sealed store straight into Arrow and dictionary-encodes each column: no Python object per
value), and ``RecordFrame.from_frame`` factorises a pandas frame of the same columns (tests
and benchmarks) and hands it on: every token column becomes ``int32`` codes (``-1`` =
missing; equal codes <=> equal tokens), every Bloom column a code into a table of distinct
filters unpacked to ``uint64`` words. Nothing downstream touches a token or a byte again,
and no code or word leaves the package (see ``engine``).

Invariants: ``record_key`` is unique int64; every code array has one entry per record;
Bloom tables have ``BLOOM_WORDS`` words per row and every filter has the same length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from linkage.errors import InvalidRecords

__all__ = [
    "BLOOM_BYTES",
    "BLOOM_COLUMNS",
    "BLOOM_WORDS",
    "DATASETS",
    "TOKEN_BYTES",
    "TOKEN_COLUMNS",
    "EncodedColumn",
    "RecordFrame",
]

DATASETS = ("nhs_episodes", "asc_clients")
TOKEN_COLUMNS = (
    "tok_nhs_number",
    "tok_dob",
    "tok_dob_year",
    "tok_dob_month_day",
    "tok_sex",
    "tok_postcode",
    "tok_postcode_sector",
    "tok_postcode_district",
    "tok_given_name",
    "tok_given_name_2",
    "tok_family_name",
    "tok_given_phonetic",
    "tok_family_phonetic",
)
BLOOM_COLUMNS = ("bloom_given_name", "bloom_family_name", "bloom_dob", "bloom_postcode")
TOKEN_BYTES = 48
BLOOM_BYTES = 128
BLOOM_WORDS = BLOOM_BYTES // 8


@dataclass(frozen=True, eq=False, repr=False)
class EncodedColumn:
    """A factorised column: ``codes`` (int, ``-1`` = missing) index the rows of ``values``,
    its distinct values as a ``uint8`` array of one row per value (``None`` when only
    equality matters, as for tokens) and ``widths``, each distinct value's byte length."""

    codes: np.ndarray
    widths: np.ndarray
    values: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"EncodedColumn({len(self.codes)} codes, {len(self.widths)} distinct)"


def _factorise(values: pd.Series, *, keep_values: bool) -> EncodedColumn:
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    widths = np.fromiter(
        (len(u) if isinstance(u, bytes) else -1 for u in uniques),
        dtype=np.int64,
        count=len(uniques),
    )
    table = None
    if keep_values and (widths == BLOOM_BYTES).all():
        raw = b"".join(uniques.tolist())
        table = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOOM_BYTES)
    return EncodedColumn(codes, widths, table)


def _checked(column: str, encoded: EncodedColumn, n: int, size: int) -> np.ndarray:
    """The column's int32 codes, after checking them and every distinct value's size."""
    bad = int((encoded.widths != size).sum())
    if bad:
        raise InvalidRecords(f"column {column}: {bad} distinct values are not {size}-byte strings")
    codes = np.asarray(encoded.codes)
    if len(codes) != n:
        raise InvalidRecords(f"column {column}: one code per record is required")
    if len(codes) and (codes.min() < -1 or codes.max() >= len(encoded.widths)):
        raise InvalidRecords(f"column {column}: codes out of range")
    return codes.astype(np.int32, copy=False)


@dataclass(frozen=True, eq=False, repr=False)
class RecordFrame:
    """Records ready to link; see the module docstring for the invariants."""

    record_key: np.ndarray
    dataset: np.ndarray
    codes: Mapping[str, np.ndarray]
    bloom_codes: Mapping[str, np.ndarray]
    bloom_words: Mapping[str, np.ndarray]
    bloom_pop: Mapping[str, np.ndarray]  # bits set in each distinct filter

    def __post_init__(self) -> None:
        n = len(self.record_key)
        if self.record_key.dtype != np.int64 or self.dataset.dtype != np.int8:
            raise InvalidRecords("record_key is int64 and dataset int8 codes")
        if len(self.dataset) != n:
            raise InvalidRecords("one dataset per record")
        if set(self.codes) != set(TOKEN_COLUMNS) or set(self.bloom_codes) != set(BLOOM_COLUMNS):
            raise InvalidRecords("every token and Bloom column is present")
        if any(len(c) != n for c in (*self.codes.values(), *self.bloom_codes.values())):
            raise InvalidRecords("one code per record in every column")
        for name, words in self.bloom_words.items():
            if words.ndim != 2 or words.shape[1] != BLOOM_WORDS or words.dtype != np.uint64:
                raise InvalidRecords(f"column {name}: Bloom words have the wrong shape")

    def __len__(self) -> int:
        return len(self.record_key)

    def __repr__(self) -> str:
        return f"RecordFrame({len(self)} records)"

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> RecordFrame:
        """Validate and convert; errors name columns and counts, never values."""
        required = ("record_key", "dataset", *TOKEN_COLUMNS, *BLOOM_COLUMNS)
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise InvalidRecords(f"missing columns: {', '.join(missing)}")
        keys = frame["record_key"]
        if not pd.api.types.is_integer_dtype(keys.dtype):
            raise InvalidRecords("column record_key: integers are required")
        return cls.from_columns(
            record_key=keys.to_numpy(dtype=np.int64),
            dataset=frame["dataset"].to_numpy(dtype=object),
            tokens={c: _factorise(frame[c], keep_values=False) for c in TOKEN_COLUMNS},
            blooms={c: _factorise(frame[c], keep_values=True) for c in BLOOM_COLUMNS},
        )

    @classmethod
    def from_columns(
        cls,
        *,
        record_key: np.ndarray,
        dataset: np.ndarray,
        tokens: Mapping[str, EncodedColumn],
        blooms: Mapping[str, EncodedColumn],
    ) -> RecordFrame:
        """Validate factorised columns; errors name columns and counts, never values.

        ``dataset`` holds each record's dataset name; every Bloom column's ``values`` holds
        its distinct filters, ``BLOOM_BYTES`` each."""
        missing = [c for c in TOKEN_COLUMNS if c not in tokens]
        missing += [c for c in BLOOM_COLUMNS if c not in blooms]
        if missing:
            raise InvalidRecords(f"missing columns: {', '.join(missing)}")
        record_key = np.asarray(record_key)
        if not np.issubdtype(record_key.dtype, np.integer):
            raise InvalidRecords("column record_key: integers are required")
        record_key = record_key.astype(np.int64, copy=False)
        n = len(record_key)
        duplicated = n - len(np.unique(record_key))
        if duplicated:
            raise InvalidRecords(f"column record_key: {duplicated} repeated keys")
        dataset_values = np.asarray(dataset, dtype=object)
        codes_of_dataset = np.full(n, -1, dtype=np.int8)
        for code, name in enumerate(DATASETS):
            codes_of_dataset[dataset_values == name] = code
        unknown = int((codes_of_dataset < 0).sum())
        if unknown:
            raise InvalidRecords(
                f"column dataset: {unknown} rows are not one of {', '.join(DATASETS)}"
            )
        codes = {c: _checked(c, tokens[c], n, TOKEN_BYTES) for c in TOKEN_COLUMNS}
        bloom_codes: dict[str, np.ndarray] = {}
        bloom_words: dict[str, np.ndarray] = {}
        bloom_pop: dict[str, np.ndarray] = {}
        for column in BLOOM_COLUMNS:
            encoded = blooms[column]
            bloom_codes[column] = _checked(column, encoded, n, BLOOM_BYTES)
            table = encoded.values
            if table is None:
                table = np.zeros((0, BLOOM_BYTES), dtype=np.uint8)
            if table.shape != (len(encoded.widths), BLOOM_BYTES) or table.dtype != np.uint8:
                raise InvalidRecords(f"column {column}: the distinct filters have the wrong shape")
            words = (
                np.ascontiguousarray(table).view("<u8").astype(np.uint64).reshape(-1, BLOOM_WORDS)
            )
            bloom_words[column] = words
            bloom_pop[column] = np.bitwise_count(words).sum(axis=1, dtype=np.int32)
        return cls(
            record_key=record_key,
            dataset=codes_of_dataset,
            codes=MappingProxyType(codes),
            bloom_codes=MappingProxyType(bloom_codes),
            bloom_words=MappingProxyType(bloom_words),
            bloom_pop=MappingProxyType(bloom_pop),
        )

    def take(self, index: np.ndarray) -> RecordFrame:
        """The records at ``index`` (Bloom tables are shared, not copied)."""
        return RecordFrame(
            record_key=self.record_key[index],
            dataset=self.dataset[index],
            codes=MappingProxyType({c: v[index] for c, v in self.codes.items()}),
            bloom_codes=MappingProxyType({c: v[index] for c, v in self.bloom_codes.items()}),
            bloom_words=self.bloom_words,
            bloom_pop=self.bloom_pop,
        )

    def profiles(self) -> tuple[np.ndarray, np.ndarray]:
        """(profile of each record, first record of each profile).

        A profile is a distinct combination of every token and Bloom code: records with
        the same profile are indistinguishable to any comparison, so linkage works on
        profiles and maps the result back to records.
        """
        n = len(self)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        matrix = np.column_stack(
            [self.codes[c] for c in TOKEN_COLUMNS] + [self.bloom_codes[c] for c in BLOOM_COLUMNS]
        ).astype(np.int32)
        rows = np.ascontiguousarray(matrix).view(np.dtype((np.void, matrix.shape[1] * 4)))
        _, first, inverse = np.unique(rows.ravel(), return_index=True, return_inverse=True)
        return inverse.astype(np.int64), first.astype(np.int64)
