"""Streaming CSV records from uploaded bytes: gzip, BOM, UTF-8 or Windows-1252, quoted newlines.

Bytes arrive in chunks and leave as ``(line_number, fields, end_offset)`` records.
Nothing is buffered beyond the record being read and the chunk in hand, and nothing
is written anywhere. ``end_offset`` is the position in the uploaded stream just after
the record: the resume point for an uncompressed upload. (A gzip stream cannot be
resumed mid-way without the decompressor's state, which is never kept; it restarts
and the records already committed are skipped.)
"""

from __future__ import annotations

import codecs
import csv
import re
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import accumulate, chain
from typing import NamedTuple

from app.ingest._kernel import untracked

__all__ = ["EncodingError", "Record", "RecordReader", "TooLongError"]

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
#: A single record longer than this is refused (a missing closing quote would otherwise
#: swallow the file into memory).
MAX_RECORD_BYTES = 64 * 1024


class EncodingError(ValueError):
    """The bytes are neither UTF-8 nor Windows-1252 text (names the line only)."""


class TooLongError(ValueError):
    """A record runs past MAX_RECORD_BYTES, usually an unclosed quote (names the line)."""


class Record(NamedTuple):
    """One CSV record (a named tuple: a frozen dataclass cost a microsecond a row)."""

    line: int  # physical line number where the record starts (header = line 1)
    fields: list[str]
    end_offset: int  # uploaded-stream offset after this record (uncompressed uploads)


class RecordReader:
    """Feed it byte chunks, iterate records. One reader per upload request.

    ``start_offset`` and ``encoding`` resume an uncompressed upload part-way; ``skip``
    drops that many leading data records (resuming a gzip upload from its start).
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        start_offset: int = 0,
        encoding: str | None = None,
        first_line: int = 1,
        upload_length: int | None = None,
    ) -> None:
        self._chunks = iter(chunks)
        self.start_offset = start_offset
        #: The whole upload's length: a stream that stops short of it was interrupted,
        #: and its unfinished last line is left for the resumed request.
        self.upload_length = upload_length
        self.received = 0
        self.encoding = encoding
        self.compressed = False
        self._line = first_line
        self._first_line = first_line
        self._origin = start_offset  # the offset before the first line read
        self._consumed = start_offset

    def records(self) -> Iterator[Record]:
        """The records, in order, each with its first line and the offset after it.

        ``csv.reader`` pulls lines from a C-level chain of each text chunk's complete
        lines, so no Python code runs per line; ``reader.line_num`` says how many lines a
        record took, and each chunk's running byte offsets turn that into the record's
        end offset.
        """
        spans: deque[tuple[int, list[int]]] = deque()  # (lines before the chunk, offsets)
        reader = csv.reader(chain.from_iterable(self._line_lists(spans)), strict=True)
        done = 0  # lines read by the records yielded so far
        while True:
            start_line = self._first_line + done
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error:
                if self._offset_after(spans, reader.line_num) - self._offset_after(spans, done) > (
                    MAX_RECORD_BYTES
                ):
                    raise TooLongError(
                        f"line {start_line}: a record is longer than 64 KiB"
                    ) from None
                if not self.complete:  # cut inside a quoted field: the resumed request has it
                    return
                raise EncodingError(f"line {start_line}: malformed CSV quoting") from None
            read = reader.line_num
            end_offset = self._offset_after(spans, read)
            if end_offset - self._offset_after(spans, done) > MAX_RECORD_BYTES:
                raise TooLongError(f"line {start_line}: a record is longer than 64 KiB")
            while len(spans) > 1 and spans[1][0] < read:  # chunks wholly behind us
                spans.popleft()
            done = self._done = read
            yield Record(start_line, untracked(fields), end_offset)

    # -- internals ---------------------------------------------------------------------

    _done = 0  # lines read by the records yielded so far

    @property
    def complete(self) -> bool:
        if self.upload_length is None:
            return True
        return self.start_offset + self.received >= self.upload_length

    def _counted(self, source: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in source:
            self.received += len(chunk)
            yield chunk

    def _bytes(self) -> Iterator[bytes]:
        self._chunks = self._counted(self._chunks)
        first = b""
        for chunk in self._chunks:
            first += chunk
            if len(first) >= 2:
                break
        if first.startswith(GZIP_MAGIC) and self.start_offset == 0:
            self.compressed = True
            decompressor = zlib.decompressobj(wbits=47)
            yield decompressor.decompress(first)
            for chunk in self._chunks:
                yield decompressor.decompress(chunk)
            yield decompressor.flush()
            if not decompressor.eof and self.complete:
                raise EncodingError("the gzip stream ended early")
            return
        yield first
        yield from self._chunks

    def _text(self) -> Iterator[tuple[str, int]]:
        """Decoded text with the count of uploaded bytes it came from (uncompressed only)."""
        chunks = self._bytes()
        head = b""
        for chunk in chunks:
            head += chunk
            if len(head) >= 65536:
                break
        if self.encoding is None:
            if head.startswith(UTF8_BOM):
                head = head[3:]
                self._consumed += 3
                self.encoding = "utf-8"
            else:
                try:
                    head.decode("utf-8")
                    self.encoding = "utf-8"
                except UnicodeDecodeError as error:
                    # A multi-byte character cut at the edge of the sample is still UTF-8.
                    self.encoding = "utf-8" if error.start >= len(head) - 3 else "cp1252"
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        for chunk in _prepend(head, chunks):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                raise EncodingError(
                    f"near line {self._line}: the file is not valid {self.encoding} text"
                ) from None
            yield text, len(chunk)
        try:
            # An interrupted stream may stop inside a character; only a whole file may not.
            tail = decoder.decode(b"", final=self.complete)
        except UnicodeDecodeError:
            raise EncodingError("the file ends inside a character") from None
        if tail:
            yield tail, 0

    def _line_lists(self, spans: deque[tuple[int, list[int]]]) -> Iterator[list[str]]:
        """Each decoded chunk's complete lines (newline kept); their running byte offsets
        go to ``spans``. A last line without a newline ends a whole file only."""
        pending = ""
        lines_before = 0
        offset = -1
        for text, _ in self._text():
            if offset < 0:  # after a byte-order mark, which ``_text`` has counted
                offset = self._origin = self._consumed
            pending += text
            lines = _LINE.findall(pending)
            if lines:
                taken = sum(map(len, lines))
                pending = pending[taken:]
                # csv.reader asks for more lines only once it has used these: a record
                # still open across them must not grow past the limit (it is bounded to a
                # chunk beyond it, never the whole file).
                if offset - self._offset_after(spans, self._done) > MAX_RECORD_BYTES:
                    raise TooLongError(
                        f"line {self._first_line + self._done}: a record is longer than 64 KiB"
                    )
                yield self._spanned(lines, spans, lines_before, offset)
                lines_before += len(lines)
                offset = spans[-1][1][-1]
                self._line = self._first_line + lines_before
            if len(pending) > MAX_RECORD_BYTES:
                raise TooLongError(f"line {self._line}: a line is longer than 64 KiB")
        if pending and self.complete:
            yield self._spanned([pending], spans, lines_before, max(offset, self._consumed))

    def _offset_after(self, spans: deque[tuple[int, list[int]]], lines: int) -> int:
        """The stream offset after the first ``lines`` lines read (``spans`` holds them)."""
        for before, offsets in reversed(spans):
            if lines > before:
                return offsets[lines - before - 1]
        return self._origin

    def _spanned(
        self, lines: list[str], spans: deque[tuple[int, list[int]]], before: int, offset: int
    ) -> list[str]:
        encoding = self.encoding or "utf-8"
        if all(map(str.isascii, lines)):  # as many bytes as characters, in either encoding
            sizes: Iterable[int] = map(len, lines)
        else:
            sizes = (len(line.encode(encoding)) for line in lines)
        spans.append((before, list(accumulate(sizes, initial=offset))[1:]))
        return lines


_LINE = re.compile(r"[^\n]*\n")


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest
