# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The plain lines of the decoded text in hand, split into records in native code.

``RecordReader._records_reference`` (app/ingest/reader.py) is the definition: every
line through ``csv.reader``. Almost every line of an extract is plain: whole (it ends
in ``\\n``, or ``\\r\\n``), no quote, no other ``\\r``, no longer than a record may be.
Such a line is one record whose fields are its text split on commas (none for an empty
line), which is what ``csv.reader(strict=True)`` makes of it. ``Scanner.scan`` takes
the plain lines from a position onwards, counting lines and uploaded bytes as the
reference does, and stops at the first other line: the reader hands that one to
``csv.reader``, so quoting, its errors, stray carriage returns and the length guard keep
the standard library's exact behaviour. ``tests/unit/test_reader.py`` checks the two
paths against each other on random files, encodings, chunkings and interruptions.
"""

from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_SET_ITEM
from libc.string cimport memcpy


cdef extern from "Python.h":
    ctypedef unsigned char Py_UCS1
    ctypedef unsigned short Py_UCS2
    void PyObject_GC_UnTrack(void *op)
    bint PyUnicode_IS_ASCII(object)
    int PyUnicode_KIND(object)
    void *PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    object PyUnicode_FromKindAndData(int kind, const void *buffer, Py_ssize_t size)


cdef extern from *:
    """
    /* A tuple subclass instance as tuple.__new__ makes one (tuple_subtype_new). */
    #define csvscan_alloc(type, n) \\
        (((PyTypeObject *)(type))->tp_alloc((PyTypeObject *)(type), (n)))
    """
    object csvscan_alloc(object type, Py_ssize_t n)


ctypedef fused uchar:
    Py_UCS1
    Py_UCS2
    Py_UCS4


cdef enum:
    MAX_CELLS = 1024  # a line of more cells is left to csv.reader


cdef struct Cursor:
    Py_ssize_t pos  # of the next line in the text
    Py_ssize_t line  # its physical line number
    Py_ssize_t consumed  # the uploaded-stream offset where it starts


cdef struct Line:
    Py_ssize_t stop  # end of its cells: the index of its "\n" or "\r\n"
    Py_ssize_t end  # the index after its "\n"
    Py_ssize_t size  # in uploaded bytes
    bint ascii
    Py_ssize_t commas
    Py_ssize_t cuts[MAX_CELLS - 1]  # where they are


cdef class Scanner:
    """Makes ``record`` tuples ``(line, fields, end_offset)`` of the plain lines.

    ``max_bytes`` is the record limit (a longer line is left to the reference, which
    refuses it); ``batch`` bounds the records made by one call, so that a huge chunk
    is not turned into records all at once.
    """

    cdef object record
    cdef Py_ssize_t max_bytes
    cdef Py_ssize_t batch

    def __init__(self, type record, Py_ssize_t max_bytes, Py_ssize_t batch):
        if not issubclass(record, tuple):
            raise TypeError("records must be tuples")
        self.record = record
        self.max_bytes = max_bytes
        self.batch = batch

    def scan(self, str text, Py_ssize_t pos, Py_ssize_t line, Py_ssize_t consumed, bint utf8):
        """The records of the plain lines from ``pos``, and the cursor after them.

        ``line`` and ``consumed`` are those of the line at ``pos``; ``utf8`` tells how a
        line's uploaded bytes are counted: its UTF-8 length, or one byte a character
        (Windows-1252). Returns ``(records, pos, line, consumed)``.
        """
        cdef Cursor at = Cursor(pos, line, consumed)
        cdef list records = []
        cdef int kind = PyUnicode_KIND(text)
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
        if kind == 1:
            self._scan(<const Py_UCS1 *>PyUnicode_DATA(text), n, utf8, &at, records)
        elif kind == 2:
            self._scan(<const Py_UCS2 *>PyUnicode_DATA(text), n, utf8, &at, records)
        else:
            self._scan(<const Py_UCS4 *>PyUnicode_DATA(text), n, utf8, &at, records)
        return records, at.pos, at.line, at.consumed

    cdef int _scan(
        self, const uchar *data, Py_ssize_t n, bint utf8, Cursor *at, list records
    ) except -1:
        cdef Line plain
        cdef object fields, record
        while len(records) < self.batch:
            if not _plain(data, at.pos, n, utf8, &plain) or plain.size > self.max_bytes:
                return 0
            fields = _fields(data, at.pos, &plain)
            at.consumed += plain.size
            record = csvscan_alloc(self.record, 3)
            _put(record, 0, at.line)
            _put(record, 1, fields)
            _put(record, 2, at.consumed)
            # A line number, an untracked list of strings and a count: no cycle can go
            # through it, so the cyclic collector need not scan it (CPython would untrack
            # it too, but only in a collection, after scanning it once: 6.3 M records
            # made 9,000 young collections and 1.5 s of an upload's interpreter time).
            PyObject_GC_UnTrack(<void *>record)
            records.append(record)
            at.line += 1
            at.pos = plain.end
        return 0


cdef inline bint _plain(
    const uchar *data, Py_ssize_t i, Py_ssize_t n, bint utf8, Line *line
) noexcept:
    """Whether the line at ``i`` is whole and plain, measuring it into ``line``."""
    cdef Py_ssize_t start = i, commas = 0, wide = 0, extra = 0
    cdef Py_UCS4 c
    while i < n:
        c = data[i]
        if c > 44:  # letters, digits, most punctuation: the common case first
            if c >= 0x80:
                wide += 1
                if utf8:
                    extra += 1 if c < 0x800 else (2 if c < 0x10000 else 3)
        elif c == 44:
            if commas == MAX_CELLS - 1:
                return False
            line.cuts[commas] = i
            commas += 1
        elif c == 10:
            line.stop = i
            break
        elif c == 13:  # only as the "\r\n" that ends the line
            if i + 1 < n and data[i + 1] == 10:
                line.stop = i
                i += 1
                break
            return False
        elif c == 34:
            return False
        i += 1
    else:
        return False
    line.end = i + 1
    line.commas = commas
    line.size = line.end - start + extra
    line.ascii = wide == 0
    return True


cdef list _fields(const uchar *data, Py_ssize_t start, const Line *line):
    """The cells of the line, in a list the collector does not track (as
    ``app.ingest._kernel.untracked``): none for an empty line, as csv.reader."""
    cdef list fields = PyList_New(line.commas + 1 if line.stop > start else 0)
    cdef Py_ssize_t k, cell = start
    if line.stop > start:
        for k in range(line.commas):
            _set(fields, k, _cell(&data[cell], line.cuts[k] - cell, line.ascii))
            cell = line.cuts[k] + 1
        _set(fields, line.commas, _cell(&data[cell], line.stop - cell, line.ascii))
    PyObject_GC_UnTrack(<void *>fields)
    return fields


cdef inline object _cell(const uchar *data, Py_ssize_t size, bint ascii):
    """A new ``str`` of ``size`` characters (as narrow as its characters allow)."""
    cdef object cell
    cdef Py_UCS1 *out
    cdef Py_ssize_t i
    if not ascii:
        return PyUnicode_FromKindAndData(sizeof(uchar), data, size)
    cell = PyUnicode_New(size, 127)
    out = <Py_UCS1 *>PyUnicode_DATA(cell)
    if uchar is Py_UCS1:
        memcpy(out, data, size)
    else:
        for i in range(size):
            out[i] = <Py_UCS1>data[i]
    return cell


cdef inline void _set(list fields, Py_ssize_t k, object cell) noexcept:
    Py_INCREF(cell)
    PyList_SET_ITEM(fields, k, cell)


cdef inline void _put(object record, Py_ssize_t k, object value) noexcept:
    Py_INCREF(value)
    PyTuple_SET_ITEM(record, k, value)
