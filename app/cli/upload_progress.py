"""What ``hsclink upload``'s progress bar shows: bytes sent and data rows sent, in 80 columns.

Rows are counted from the bytes as they leave, the way the service reads them (RFC 4180):
a line break inside a quoted field does not end a row, the header is not a row, and a last
row without a final line break still is one. A gzip file is counted on its decompressed
text, in bounded steps (a small file that inflates hugely costs time, never memory). The
service's own count, in its answer, is the one that matters; this one is for watching.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

__all__ = ["RowCounter", "upload_progress"]

GZIP_MAGIC = b"\x1f\x8b"
#: The most decompressed bytes held at once while counting a gzip file's rows.
_INFLATE_STEP = 1024 * 1024
#: The file name's share of the line: longer names are cut with "…".
NAME_WIDTH = 18
BAR_WIDTH = 16


class RowCounter:
    """Data rows in a CSV's bytes fed in order (plain or gzip, told by its first bytes)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._lines = 0  # line breaks outside quotes
        self._in_quotes = False
        self._last = b"\n"  # the last byte of text seen (a file starts "after a break")
        self._head = b""
        self._inflate: zlib._Decompress | None = None
        self._decided = False

    @property
    def rows(self) -> int:
        """Data rows so far: records ended, less the header, plus an unfinished last one."""
        records = self._lines + (0 if self._last == b"\n" else 1)
        return max(records - 1, 0)

    def feed(self, chunk: bytes) -> None:
        if not self._decided:
            self._head += chunk
            if len(self._head) < len(GZIP_MAGIC):
                return
            chunk, self._head, self._decided = self._head, b"", True
            if chunk.startswith(GZIP_MAGIC):
                self._inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        if self._inflate is None:
            self._text(chunk)
            return
        data = chunk
        while data and not self._inflate.eof:
            self._text(self._inflate.decompress(data, _INFLATE_STEP))
            data = self._inflate.unconsumed_tail

    def feed_file(self, path: Path, end: int) -> None:
        """Count the file's first ``end`` bytes (what an earlier run already sent)."""
        self.reset()
        with path.open("rb") as handle:
            left = end
            while left > 0 and (block := handle.read(min(left, _INFLATE_STEP))):
                self.feed(block)
                left -= len(block)

    def _text(self, text: bytes) -> None:
        if not text:
            return
        if b'"' not in text and not self._in_quotes:
            self._lines += text.count(b"\n")
        else:
            parts = text.split(b'"')
            for index, part in enumerate(parts):
                if not self._in_quotes:
                    self._lines += part.count(b"\n")
                if index < len(parts) - 1:
                    self._in_quotes = not self._in_quotes
        self._last = text[-1:]


class _RowsColumn(ProgressColumn):
    """``12,345 rows``: the data rows sent so far."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.fields.get('rows', 0):,} rows", style="progress.download")


def upload_progress(*, disable: bool, console: Console | None = None) -> Progress:
    """The bar: name, bar, bytes, rows, time left; at most 80 columns wide.

    18 (name) + 16 (bar) + 15 (``123.4/567.8 MB``) + 16 (``12,345,678 rows``) + 7 (time)
    and four separating spaces make 76.
    """
    return Progress(
        TextColumn(
            "[bold]{task.description}",
            table_column=Column(max_width=NAME_WIDTH, no_wrap=True, overflow="ellipsis"),
        ),
        BarColumn(bar_width=BAR_WIDTH),
        DownloadColumn(),
        _RowsColumn(),
        TimeRemainingColumn(compact=True),
        console=console,
        transient=disable,
        disable=disable,
    )
