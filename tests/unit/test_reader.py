"""The streaming CSV reader: encodings, gzip, quoted newlines, offsets, interruptions.

The native path of ``records()`` is checked against ``_records_reference()`` (every
line through csv.reader) on random files, encodings, chunkings and interruptions.
"""

from __future__ import annotations

import gc
import gzip
from itertools import cycle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ingest.reader import EncodingError, Record, RecordReader, TooLongError

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


# -- the native path against the reference ---------------------------------------------

_PLAIN = ["a", "Z", "7", " ", "-", ";", "\t", "é", "ß", "€", "\u2019", "Ā", "😀", "\x00"]
_WILD = [*_PLAIN, ",", '"', "\n", "\r", "\r\n"]


@st.composite
def _cells(draw: st.DrawFn) -> str:
    """A plain cell, or a quoted one (doubled quotes, commas, newlines of every kind)."""
    if draw(st.sampled_from([True] * 7 + [False])):
        return "".join(draw(st.lists(st.sampled_from(_PLAIN), max_size=6)))
    wild = "".join(draw(st.lists(st.sampled_from(_WILD), max_size=6)))
    return '"' + wild.replace('"', '""') + '"'


@st.composite
def _defects(draw: st.DrawFn) -> str:
    """A cell csv.reader refuses, raw quotes and carriage returns, or a long cell."""
    wild = "".join(draw(st.lists(st.sampled_from(_WILD), max_size=6)))
    kind = draw(st.sampled_from(["closed early", "raw", "unclosed", "long", "long"]))
    if kind == "closed early":  # a quote followed by a letter after a closing quote
        return '"' + wild.replace('"', '""') + '"' + draw(st.sampled_from(["x", " ", '"']))
    if kind == "raw":
        return wild
    if kind == "unclosed":
        return '"' + wild
    # about the record limit: in characters, in bytes only (é in UTF-8), in many lines;
    # or past it by more than a chunk (an unfinished line runs past the limit)
    size = 64 * 1024 + draw(st.integers(-40, 40)) + draw(st.sampled_from([0, 0, 0, 1000]))
    many = "x\n" * (size // 2)
    return draw(st.sampled_from(["x" * size, "é" * (size // 2), f'"{many}"', f'"{many}']))


@st.composite
def _files(draw: st.DrawFn) -> tuple[str, bool]:
    """A CSV text (mostly well formed, up to two defects, any last line end), and whether
    it holds a long cell (then chunks are not tiny)."""
    rows = [draw(st.lists(_cells(), max_size=5)) for _ in range(draw(st.integers(1, 40)))]
    long = False
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        row = draw(st.sampled_from(rows))
        defect = draw(_defects())
        row.insert(draw(st.integers(0, len(row))), defect)
        long = long or len(defect) > 20_000
    ends = [draw(st.sampled_from(["\n", "\n", "\r\n"])) for _ in rows[1:]]
    ends.append(draw(st.sampled_from(["\n", "\r\n", "\r", ""])))
    return "".join(",".join(row) + end for row, end in zip(rows, ends, strict=True)), long


@st.composite
def _uploads(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """Encoded bytes (UTF-8, BOM, Windows-1252, a stray byte, gzip) and chunk sizes."""
    text, long = draw(_files())
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.sampled_from([False] * 9 + [True])):  # neither UTF-8 nor Windows-1252
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\x81" + data[at:]
    if draw(st.sampled_from([False] * 4 + [True])):
        data = gzip.compress(data)
    smallest = 512 if long else 1
    sizes = draw(st.lists(st.integers(smallest, 300 + smallest), min_size=1, max_size=6))
    if draw(st.sampled_from([False] * 5 + [True])):
        sizes = [len(data) or 1]
    return data, sizes


def _chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, at = [], 0
    for size in cycle(sizes):
        if at >= len(data):
            return chunks
        chunks.append(data[at : at + size])
        at += size
    raise AssertionError("unreachable")


def _read(chunks: list[bytes], *, native: bool, **kwargs: Any) -> tuple[Any, ...]:
    """Everything a caller can see: each record (with the bytes received when it came
    out, which pins when each chunk is fetched), the error, the reader's final state."""
    reader = RecordReader(chunks, **kwargs)
    records = reader.records() if native else reader._records_reference()
    seen, error = [], None
    try:
        for record in records:
            seen.append((record, reader.received))
    except Exception as caught:
        error = (type(caught), str(caught))
    assert all(type(record) is Record and not gc.is_tracked(record[1]) for record, _ in seen)
    return (
        [(*record, received) for record, received in seen],
        error,
        reader.encoding,
        reader.compressed,
        reader.received,
        reader.complete,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_uploads(), st.data())
def test_the_native_path_reads_any_upload_as_the_reference(upload, data):
    content, sizes = upload
    cut = data.draw(st.sampled_from(range(1001))) * len(content) // 1000
    how = data.draw(st.sampled_from(["whole", "interrupted", "interrupted", "cut short"]))
    interrupted = how == "interrupted"
    kwargs = {"upload_length": len(content)} if interrupted else {}
    first = content if how == "whole" else content[:cut]  # cut short: taken as whole
    expected = _read(_chunked(first, sizes), native=False, **kwargs)
    assert _read(_chunked(first, sizes), native=True, **kwargs) == expected
    records, _, encoding, compressed, *_ = expected
    if interrupted and records and not compressed:  # the resumed request, from the last record
        line, fields, end, _ = records[-1]
        resumed = {
            "start_offset": end,
            "encoding": encoding,
            "first_line": line + sum(cell.count("\n") for cell in fields) + 1,
            "upload_length": len(content),
        }
        rest = _chunked(content[end:], sizes)
        assert _read(rest, native=True, **resumed) == _read(rest, native=False, **resumed)


@pytest.mark.parametrize(
    "data",
    [
        b"a\n" + b"x" * 65_535 + b"\n1\n",  # a record of exactly 64 KiB
        b"a\n" + b"x" * 65_534 + b"\r\n1\n",
        b"a\n" + b"x" * 65_536 + b"\n1\n",  # one byte more
        ("a\n" + "é" * 32_767 + "x\n1\n").encode(),  # in bytes, not characters
        ("a\n" + "é" * 32_768 + "\n1\n").encode(),
        b'a\n"' + b"x" * 70_000 + b"\n",  # an unfinished line past the limit
    ],
)
@pytest.mark.parametrize("chunk", [1000, 65_536, 1 << 20])
def test_records_about_the_limit_read_the_same(data, chunk):
    native = _read(_chunked(data, [chunk]), native=True)
    assert native == _read(_chunked(data, [chunk]), native=False)


def test_a_line_of_more_cells_than_the_native_scan_takes_reads_the_same():
    data = b"a,b\n" + b",".join(b"x" * (i % 3) for i in range(3000)) + b"\n1,2\n"
    native = _read(_chunked(data, [4096]), native=True)
    assert native == _read(_chunked(data, [4096]), native=False)
    assert len(native[0][1][1]) == 3000


def test_a_codec_the_native_scan_cannot_count_goes_through_csv_reader():
    data = "1,ça\n2,€\n".encode("utf-16-le")
    kwargs = {"start_offset": 4, "encoding": "utf-16-le", "first_line": 2}
    native = _read([data], native=True, **kwargs)
    assert native == _read([data], native=False, **kwargs)
    assert [(line, fields, end) for line, fields, end, _ in native[0]] == [
        (2, ["1", "ça"], 14),
        (3, ["2", "€"], 22),
    ]
