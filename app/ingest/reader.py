"""Streaming CSV records from uploaded bytes: gzip, BOM, UTF-8 or Windows-1252, quoted newlines.

Bytes arrive in chunks and leave as ``(line_number, fields, end_offset)`` records.
Nothing is buffered beyond the record being read and the chunk in hand, and nothing
is written anywhere. ``end_offset`` is the position in the uploaded stream just after
the record: the resume point for an uncompressed upload. (A gzip stream cannot be
resumed mid-way without the decompressor's state, which is never kept; it restarts
and the records already committed are skipped.)

Two limits keep an upload from being turned against the service: no byte past the
declared ``upload_length`` is read (``OverrunError``), and a gzip stream may not expand
past a ratio of the compressed bytes read so far, nor past a total (``ExpansionError``):
a small "zip bomb" of blank lines would otherwise hold a core for half an hour.

``RecordReader._records_reference`` is the definition: every line through
``csv.reader``. ``records()`` gives the same records and errors, with the plain lines
(whole, unquoted: nearly all of them) split in native code, ``app.ingest._csvscan``.
"""

from __future__ import annotations

import codecs
import csv
import zlib
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import NamedTuple

from app.ingest._csvscan import Scanner
from app.ingest._kernel import untracked

__all__ = [
    "EXPANSION_FLOOR",
    "EncodingError",
    "ExpansionError",
    "OverrunError",
    "Record",
    "RecordReader",
    "TooLongError",
]

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
#: A single record longer than this is refused (a missing closing quote would otherwise
#: swallow the file into memory).
MAX_RECORD_BYTES = 64 * 1024
#: A gzip stream may always expand to this many bytes, whatever its ratio: the start of a
#: stream (its header row, the first block) can run ahead of the file's average ratio.
EXPANSION_FLOOR = 1024 * 1024
#: At most this many decompressed bytes come from one call to the decompressor, so that
#: a small, highly compressed chunk is never inflated into memory all at once.
_INFLATE_STEP = 1024 * 1024


class EncodingError(ValueError):
    """The bytes are neither UTF-8 nor Windows-1252 text (names the line only)."""


class TooLongError(ValueError):
    """A record runs past MAX_RECORD_BYTES, usually an unclosed quote (names the line)."""


class ExpansionError(ValueError):
    """A gzip stream expands past the ratio or the total allowed (names neither)."""


class OverrunError(ValueError):
    """The uploaded bytes run past the declared Upload-Length."""


class Record(NamedTuple):
    """One CSV record (a named tuple: a frozen dataclass cost a microsecond a row).

    Its cells are raw identifiers, so it prints as ``Record(line=12, [redacted])`` (repr,
    str, f-strings, logging, exception messages); only the line number shows.
    """

    line: int  # physical line number where the record starts (header = line 1)
    fields: list[str]
    end_offset: int  # uploaded-stream offset after this record (uncompressed uploads)

    def __repr__(self) -> str:
        return f"Record(line={self.line!r}, [redacted])"  # str() and f-strings use it too


#: At most this many records come from one native scan: a huge chunk is not turned into
#: records all at once.
_SCAN_BATCH = 1024
_SCANNER = Scanner(Record, MAX_RECORD_BYTES, _SCAN_BATCH)
#: How the native scan counts a line's uploaded bytes, by codec: its UTF-8 length, or one
#: byte a character (each Windows-1252 byte decodes to one character). The text of any
#: other codec goes line by line to csv.reader.
_SCAN_UTF8 = {"utf-8": True, "cp1252": False}


class RecordReader:
    """Feed it byte chunks, iterate records. One reader per upload request.

    ``start_offset`` and ``encoding`` resume an uncompressed upload part-way; ``skip``
    drops that many leading data records (resuming a gzip upload from its start).
    ``max_ratio`` and ``max_expanded`` bound what a gzip stream expands to (None: no
    bound); ``upload_length`` bounds the bytes read.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        start_offset: int = 0,
        encoding: str | None = None,
        first_line: int = 1,
        upload_length: int | None = None,
        max_ratio: float | None = None,
        max_expanded: int | None = None,
    ) -> None:
        self._chunks = iter(chunks)
        self.max_ratio = max_ratio
        self.max_expanded = max_expanded
        self.start_offset = start_offset
        #: The whole upload's length: a stream that stops short of it was interrupted,
        #: and its unfinished last line is left for the resumed request.
        self.upload_length = upload_length
        self.received = 0
        self.encoding = encoding
        self.compressed = False
        self._line = first_line
        self._consumed = start_offset

    def records(self) -> Iterator[Record]:
        """The records in order, as ``_records_reference`` reads them.

        The plain lines (nearly all of them) are split natively, a batch at a time: the
        per-line Python steps of the reference were most of its cost. Any other line
        starts a record that ``csv.reader`` reads, exactly as in the reference.
        """
        return chain.from_iterable(self._batches())

    def _records_reference(self) -> Iterator[Record]:
        """The definition of ``records()``: every line through ``csv.reader``."""
        reader = csv.reader(_Counting(self._lines(), self), strict=True)
        while (record := self._next_record(reader)) is not None:
            yield record

    # -- internals ---------------------------------------------------------------------

    _record_start = 0
    _record_line = 1

    def _batches(self) -> Iterator[list[Record]]:
        """Batches of records: natively scanned ones, or one read by csv.reader. More text
        is fetched only once no whole line is left, as the reference's csv.reader would."""
        text = _Text(self)
        reader = csv.reader(_Counting(text, self), strict=True)
        while True:
            batch = text.scan()
            if batch:
                yield batch
            elif text.has_line() or not text.fill():  # a line the scan leaves, or the end
                record = self._next_record(reader)
                if record is None:
                    return
                yield [record]

    def _next_record(self, reader: Iterator[list[str]]) -> Record | None:
        """One record from ``reader`` (csv.reader pulls lines only as the record needs
        them); None at the end, or where an interrupted stream was cut inside quotes."""
        start_line = self._record_line = self._line
        self._record_start = self._consumed
        try:
            fields = next(reader)
        except StopIteration:
            return None
        except csv.Error:
            if not self.complete:  # cut inside a quoted field: the resumed request has it
                return None
            raise EncodingError(f"line {start_line}: malformed CSV quoting") from None
        return Record(start_line, untracked(fields), self._consumed)

    @property
    def complete(self) -> bool:
        if self.upload_length is None:
            return True
        return self.start_offset + self.received >= self.upload_length

    def _counted(self, source: Iterator[bytes]) -> Iterator[bytes]:
        """The chunks, counted; a chunk that would run past ``upload_length`` is refused
        before any of its bytes is read."""
        limit = None if self.upload_length is None else self.upload_length - self.start_offset
        for chunk in source:
            if limit is not None and self.received + len(chunk) > limit:
                raise OverrunError("the body runs past the Upload-Length declared")
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
            yield from self._inflate(first)
            return
        yield first
        yield from self._chunks

    def _inflate(self, first: bytes) -> Iterator[bytes]:
        """The decompressed stream, a step at a time, checked against the limits after
        each step (so a bomb stops within a step of its limit, using a step of memory)."""
        decompressor = zlib.decompressobj(wbits=47)
        fed = expanded = 0
        for chunk in chain((first,), self._chunks):
            fed += len(chunk)
            pending = chunk
            while pending and not decompressor.eof:
                out = decompressor.decompress(pending, _INFLATE_STEP)
                pending = decompressor.unconsumed_tail
                expanded += len(out)
                self._check_expansion(expanded, fed - len(pending))
                yield out
        out = decompressor.flush()
        self._check_expansion(expanded + len(out), fed)
        yield out
        if not decompressor.eof and self.complete:
            raise EncodingError("the gzip stream ended early")

    def _check_expansion(self, expanded: int, compressed: int) -> None:
        if self.max_expanded is not None and expanded > self.max_expanded:
            raise ExpansionError(
                "the gzip stream expands past the total size allowed;"
                " split the file or send it uncompressed"
            )
        if self.max_ratio is not None and expanded > max(
            self.max_ratio * compressed, EXPANSION_FLOOR
        ):
            raise ExpansionError(
                "the gzip stream expands far more than an extract does (a ratio limit);"
                " send it uncompressed"
            )

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

    def _lines(self) -> Iterator[str]:
        pending = ""
        for text, _ in self._text():
            pending += text
            start = 0
            while True:
                end = pending.find("\n", start)
                if end < 0:
                    break
                yield pending[start : end + 1]
                start = end + 1
            pending = pending[start:]
            if len(pending) > MAX_RECORD_BYTES:
                raise _line_too_long(self._line)
        if pending and self.complete:  # a last line without a newline ends a whole file only
            yield pending


class _Counting:
    """Counts lines and uploaded bytes as csv.reader pulls lines; guards record length."""

    def __init__(self, lines: Iterator[str], owner: RecordReader) -> None:
        self._lines = lines
        self._owner = owner

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> str:
        owner = self._owner
        line = next(self._lines)
        # An ASCII line has as many bytes as characters (in UTF-8 and in Windows-1252).
        owner._consumed += (
            len(line) if line.isascii() else len(line.encode(owner.encoding or "utf-8"))
        )
        owner._line += 1
        if owner._consumed - owner._record_start > MAX_RECORD_BYTES:
            raise TooLongError(f"line {owner._record_line}: a record is longer than 64 KiB")
        return line


class _Text:
    """The decoded text in hand and the position of its next line (``records()``).

    ``scan`` takes its plain lines natively; csv.reader iterates the others, one line at
    a time, as ``RecordReader._lines`` gives them. More text is fetched only when no
    whole line is left, and the unfinished line is checked at that moment, as in
    ``_lines``: decoding errors and the length guard come after the same records.
    """

    def __init__(self, owner: RecordReader) -> None:
        self._owner = owner
        self._texts = owner._text()
        self._ended = False
        self._utf8: bool | None = None  # None: no text yet, or a codec the scan can't count
        self.text = ""
        self.pos = 0

    def scan(self) -> list[Record]:
        """Records of the plain lines from ``pos`` on (a batch at most), made natively."""
        if self._utf8 is None:
            return []
        owner = self._owner
        records, self.pos, owner._line, owner._consumed = _SCANNER.scan(
            self.text, self.pos, owner._line, owner._consumed, self._utf8
        )
        return records

    def has_line(self) -> bool:
        return self.text.find("\n", self.pos) >= 0

    def fill(self) -> bool:
        """Append the next decoded chunk to the unread text; False at the end of the stream."""
        if self._ended:
            return False
        rest = self.text[self.pos :]
        if len(rest) > MAX_RECORD_BYTES:
            raise _line_too_long(self._owner._line)
        chunk = next(self._texts, None)
        if chunk is None:
            self._ended = True
            return False
        self.text = rest + chunk[0]
        self.pos = 0
        self._utf8 = _SCAN_UTF8.get(codecs.lookup(self._owner.encoding or "utf-8").name)
        return True

    def __iter__(self) -> _Text:
        return self

    def __next__(self) -> str:
        while (end := self.text.find("\n", self.pos)) < 0:
            if not self.fill():
                return self._last()
        line = self.text[self.pos : end + 1]
        self.pos = end + 1
        return line

    def _last(self) -> str:
        """A last line without a newline ends a whole file only."""
        rest = self.text[self.pos :]
        self.pos = len(self.text)
        if rest and self._owner.complete:
            return rest
        raise StopIteration


def _line_too_long(line: int) -> TooLongError:
    return TooLongError(f"line {line}: a line is longer than 64 KiB")


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest
