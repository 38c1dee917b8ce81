"""The input contract: invalid frames are refused with safe messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from linkage.errors import InvalidRecords
from linkage.records import BLOOM_COLUMNS, TOKEN_COLUMNS, RecordFrame

SECRET = b"S" * 48


def frame(rows: int = 3) -> pd.DataFrame:
    data: dict[str, object] = {
        "record_key": np.arange(rows, dtype=np.int64),
        "dataset": ["nhs_episodes"] * rows,
    }
    for c in TOKEN_COLUMNS:
        data[c] = [bytes([i]) * 48 for i in range(rows)]
    for c in BLOOM_COLUMNS:
        data[c] = [bytes([i]) * 128 for i in range(rows)]
    return pd.DataFrame(data)


def test_a_valid_frame_factorises_tokens_and_unpacks_filters():
    df = frame()
    df.loc[1, "tok_nhs_number"] = None
    records = RecordFrame.from_frame(df)
    assert records.codes["tok_nhs_number"].tolist() == [0, -1, 1]
    assert records.bloom_words["bloom_dob"].shape == (3, 16)
    assert "S" not in repr(records)


def test_missing_columns_are_named():
    with pytest.raises(InvalidRecords, match="missing columns: tok_dob"):
        RecordFrame.from_frame(frame().drop(columns=["tok_dob"]))


def test_a_token_of_the_wrong_length_is_refused_without_echoing_it():
    df = frame()
    df.loc[0, "tok_family_name"] = SECRET[:40]
    with pytest.raises(InvalidRecords) as caught:
        RecordFrame.from_frame(df)
    assert "tok_family_name" in caught.value.safe_detail
    assert "SSSS" not in str(caught.value)


def test_repeated_record_keys_are_counted():
    df = frame()
    df["record_key"] = [1, 1, 2]
    with pytest.raises(InvalidRecords, match="1 repeated keys"):
        RecordFrame.from_frame(df)


def test_unknown_datasets_are_counted_not_echoed():
    df = frame()
    df.loc[2, "dataset"] = "secret-dataset-name"
    with pytest.raises(InvalidRecords, match="1 rows") as caught:
        RecordFrame.from_frame(df)
    assert "secret" not in str(caught.value)


def test_identical_records_share_a_profile():
    df = frame()
    for c in (*TOKEN_COLUMNS, *BLOOM_COLUMNS):
        df.loc[2, c] = df.loc[0, c]
    profile, first = RecordFrame.from_frame(df).profiles()
    assert profile[0] == profile[2] != profile[1]
    assert len(first) == 2
