"""The streaming CSV reader: encodings, gzip, quoted newlines, offsets, interruptions."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ingest.reader import EncodingError, RecordReader, TooLongError

DATA = 'a,b,c\r\n1,"x\ny",Zoë\n2,3,4\n'.encode()


def read(data: bytes, *, chunk: int = 5, **kwargs):
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    reader = RecordReader(pieces, **kwargs)
    return reader, [(r.line, r.fields, r.end_offset) for r in reader.records()]


def test_records_carry_their_first_line_and_the_offset_after_them():
    _, records = read(DATA)
    assert records == [
        (1, ["a", "b", "c"], 7),
        (2, ["1", "x\ny", "Zoë"], 20),
        (4, ["2", "3", "4"], 26),
    ]


def test_a_bom_is_skipped_but_counted_in_offsets():
    reader, records = read(b"\xef\xbb\xbf" + DATA)
    assert reader.encoding == "utf-8" and records[-1][2] == len(DATA) + 3


def test_windows_1252_is_recognised():
    reader, records = read("n\nJosé Müller\n".encode("cp1252"))
    assert reader.encoding == "cp1252" and records[1][1] == ["José Müller"]


def test_gzip_is_decompressed_as_it_streams():
    reader, records = read(gzip.compress(DATA), chunk=3)
    assert reader.compressed and [r[1] for r in records][2] == ["2", "3", "4"]


def test_a_resumed_stream_continues_from_an_offset_with_the_known_encoding():
    _, records = read(DATA[20:], start_offset=20, encoding="utf-8", first_line=4)
    assert records == [(4, ["2", "3", "4"], 26)]


@pytest.mark.parametrize("cut", range(1, len(DATA)))
def test_an_interrupted_stream_yields_only_whole_records_and_never_fails(cut):
    _, records = read(DATA[:cut], upload_length=len(DATA))
    assert all(end <= cut for *_, end in records)
    assert all(DATA[end - 1 : end] == b"\n" for *_, end in records)


def test_a_whole_file_must_be_whole():
    unclosed = DATA + b'5,"never closed\n'
    with pytest.raises(EncodingError, match="quoting"):
        read(unclosed, upload_length=len(unclosed))
    with pytest.raises(EncodingError):
        read(gzip.compress(DATA)[:-4], upload_length=len(gzip.compress(DATA)) - 4)


def test_a_runaway_quote_is_refused_without_reading_everything():
    with pytest.raises(TooLongError, match="line 2"):
        read(b'a\n"' + b"x" * 70_000 + b"\n", chunk=4096)


def test_a_record_of_many_short_lines_is_refused_as_it_grows():
    quoted = b'a\n"' + b"x\n" * 40_000 + b'"\n'
    with pytest.raises(TooLongError, match="line 2"):
        read(quoted, chunk=4096)


def test_records_far_apart_in_long_chunks_keep_exact_offsets():
    body = b"".join(f"{i},{'y' * (i % 50)}\n".encode() for i in range(5_000))
    for chunk in (1, 7, 4096, len(body)):
        _, records = read(b"n,v\n" + body, chunk=chunk)
        offsets = [end for *_, end in records]
        data = b"n,v\n" + body
        assert offsets == [i + 1 for i, byte in enumerate(data) if byte == 10]


def test_bytes_that_are_neither_encoding_are_refused_naming_no_value():
    bad = b"a\n" + "é".encode() * 40_000 + b"\x81\x8d\n"
    with pytest.raises(EncodingError) as caught:
        read(bad, chunk=65536)
    assert "é" not in str(caught.value)


@given(
    st.lists(
        st.lists(
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\x00"), max_size=8),
            min_size=2,
            max_size=2,
        ),
        min_size=1,
        max_size=20,
    ),
    st.integers(min_value=1, max_value=64),
)
def test_any_csv_round_trips_through_any_chunking(rows, chunk):
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    data = buffer.getvalue().encode()
    _, records = read(data, chunk=chunk)
    assert [r[1] for r in records] == rows
    assert records[-1][2] == len(data)
