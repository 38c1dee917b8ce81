"""``hsclink upload``'s progress: data rows counted as the service reads them, in 80 columns."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from app.cli.upload_progress import RowCounter, upload_progress

# Field text that stresses the counter: quotes, commas and both kinds of line break.
_FIELD = st.text(alphabet=st.sampled_from(["a", "é", ",", '"', "\n", "\r", " ", "1"]), max_size=8)


def _csv(rows: list[list[str]], *, header: bool = True, final_break: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(["nhs_number", "family_name", "note"])
    writer.writerows(rows)
    text = out.getvalue()
    if not final_break:
        text = text.removesuffix("\r\n")
    return text.encode("utf-8")


def _counted(data: bytes, cuts: list[int]) -> int:
    counter = RowCounter()
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        counter.feed(data[start:cut])
        start = cut
    return counter.rows


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(_FIELD, min_size=3, max_size=3), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
    final_break=st.booleans(),
)
def test_data_rows_are_counted_however_the_bytes_are_cut(rows, cuts, final_break):
    data = _csv(rows, final_break=final_break or not rows)
    assert _counted(data, cuts) == len(rows)
    assert _counted(gzip.compress(data), cuts) == len(rows)


def test_the_header_alone_and_an_empty_file_are_no_rows():
    assert _counted(b"", []) == 0
    assert _counted(b"nhs_number,family_name\n", []) == 0
    assert _counted(b"nhs_number,family_name", [3]) == 0
    assert _counted(b"a,b\n1,2", [1, 5]) == 1


def test_a_gzip_file_that_inflates_hugely_is_counted_in_bounded_steps():
    data = gzip.compress(b"a\n" + b"1\n" * 20_000_000)  # 40 MB of text from ~40 kB
    assert len(data) < 100_000
    assert _counted(data, [10, 1000]) == 20_000_000


def test_a_resumed_upload_counts_what_was_sent_before(tmp_path: Path):
    path = tmp_path / "extract.csv"
    path.write_bytes(_csv([["1", "x", "y"]] * 10))
    counter = RowCounter()
    counter.feed_file(path, len(path.read_bytes()) // 2)
    assert 0 < counter.rows < 10
    counter.feed_file(path, path.stat().st_size)
    assert counter.rows == 10


def test_the_bar_fits_80_columns_with_a_long_name_and_big_numbers():
    progress = upload_progress(disable=True)  # not live: rendered once, below
    task = progress.add_task("episodes-from-the-royal-london-2025-q2.csv", total=45 * 1024**3)
    progress.update(task, completed=12 * 1024**3, rows=123_456_789)
    console = Console(width=80, record=True, force_terminal=True, color_system=None)
    console.print(progress.get_renderable())
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), lines
    assert "123,456,789 rows" in lines[-1] and "…" in lines[-1]


def test_a_moved_offset_is_retried_at_once_and_other_conflicts_are_not():
    from app.cli.upload import AlreadySubmittedError, UploadError, _OffsetMoved, _refusal

    moved = _refusal(409, {"type": "/problems/upload-offset-mismatch", "title": "t"})
    assert isinstance(moved, _OffsetMoved)
    done = _refusal(409, {"type": "/problems/already-submitted", "submission_id": 4})
    assert isinstance(done, AlreadySubmittedError) and done.submission_id == 4
    other = _refusal(409, {"type": "/problems/conflict", "title": "Conflict", "detail": "x"})
    assert type(other) is UploadError
