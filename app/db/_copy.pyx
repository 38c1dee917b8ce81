# cython: language_level=3, boundscheck=False, wraparound=False
"""PostgreSQL binary COPY data for rows of plain values, in native code.

``app.db.bulk`` used psycopg's ``Copy.write_row``, which dumps every value through a
Python-level dumper: about 10 microseconds a row of 28 columns, as much as
pseudonymising the row. Here one call turns a whole batch into the bytes of a binary
COPY stream (the signature, header, the tuples and the trailer, as the PostgreSQL manual
"COPY: Binary Format" lays out), and psycopg sends them as they are.

Column kinds: ``int4``/``int8`` (Python int, big-endian two's complement), ``text``
(str, UTF-8), ``bytea`` (bytes) and ``json`` (the text ``json.dumps`` gives, which is
the binary form of PostgreSQL's ``json`` type, as psycopg's own JSON dumper sends it;
dicts of strings are encoded here, anything else by ``json.dumps`` itself). ``None`` is
SQL NULL. A value of another type raises ``TypeError`` naming the column, never the value.
"""

import json

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL
    bint PyUnicode_IS_ASCII(object)
    void *PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    int PyUnicode_KIND(object)
    Py_UCS4 PyUnicode_READ(int kind, void *data, Py_ssize_t index)


KINDS = {"int4": 0, "int8": 1, "text": 2, "bytea": 3, "json": 4}

DEF INT4 = 0
DEF INT8 = 1
DEF TEXT = 2
DEF BYTEA = 3
DEF JSON = 4

# The start of a binary COPY stream (its signature, flags 0, no header extension) and
# its end (-1 as a 16-bit field count).
cdef bytes _HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
cdef bytes _TRAILER = b"\xff\xff"
HEADER = _HEADER
TRAILER = _TRAILER
cdef const char *HEX = b"0123456789abcdef"


cdef class Buffer:
    """A growable byte buffer (the COPY data being built)."""

    def __cinit__(self, Py_ssize_t capacity):
        self.capacity = max(capacity, 64)
        self.data = <unsigned char *>malloc(self.capacity)
        self.size = 0
        if self.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, Py_ssize_t more) except -1:
        cdef Py_ssize_t wanted = self.size + more
        cdef unsigned char *grown
        if wanted <= self.capacity:
            return 0
        while self.capacity < wanted:
            self.capacity *= 2
        grown = <unsigned char *>realloc(self.data, self.capacity)
        if grown == NULL:
            raise MemoryError()
        self.data = grown
        return 0

    cdef int put(self, const void *source, Py_ssize_t size) except -1:
        self.reserve(size)
        memcpy(self.data + self.size, source, size)
        self.size += size
        return 0

    cdef int put_be(self, long long value, int width) except -1:
        """``value`` as a ``width``-byte big-endian two's-complement integer."""
        self.reserve(width)
        _set_be(self.data + self.size, value, width)
        self.size += width
        return 0

    cdef int put_byte(self, unsigned char value) except -1:
        self.reserve(1)
        self.data[self.size] = value
        self.size += 1
        return 0

    cdef bytes value(self):
        return PyBytes_FromStringAndSize(<char *>self.data, self.size)


cdef inline void _set_be(unsigned char *at, long long value, int width) noexcept:
    cdef int i
    for i in range(width):
        at[i] = (value >> (8 * (width - 1 - i))) & 0xFF


cdef int _json_string(Buffer out, str text) except -1:
    """``json.dumps(text)`` (ensure_ascii): quotes, escapes, \\uXXXX beyond ASCII."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t i
    cdef unsigned int c
    cdef unsigned int high, low
    out.put_byte(34)
    for i in range(n):
        c = <unsigned int>PyUnicode_READ(kind, data, i)
        if c == 34:
            out.put(b'\\"', 2)
        elif c == 92:
            out.put(b"\\\\", 2)
        elif c == 10:
            out.put(b"\\n", 2)
        elif c == 13:
            out.put(b"\\r", 2)
        elif c == 9:
            out.put(b"\\t", 2)
        elif c == 8:
            out.put(b"\\b", 2)
        elif c == 12:
            out.put(b"\\f", 2)
        elif 32 <= c < 127:
            out.put_byte(<unsigned char>c)
        elif c < 0x10000:
            _u_escape(out, c)
        else:
            c -= 0x10000
            high = 0xD800 | ((c >> 10) & 0x3FF)
            low = 0xDC00 | (c & 0x3FF)
            _u_escape(out, high)
            _u_escape(out, low)
    out.put_byte(34)
    return 0


cdef int _u_escape(Buffer out, unsigned int c) except -1:
    cdef unsigned char text[6]
    text[0] = 92
    text[1] = 117
    text[2] = HEX[(c >> 12) & 0xF]
    text[3] = HEX[(c >> 8) & 0xF]
    text[4] = HEX[(c >> 4) & 0xF]
    text[5] = HEX[c & 0xF]
    out.put(text, 6)
    return 0


cdef bint _plain_dict(object value):
    """A dict of string keys to strings or None: encoded here, byte for byte as json.dumps."""
    if type(value) is not dict:
        return False
    for key, item in (<dict>value).items():
        if type(key) is not str or (item is not None and type(item) is not str):
            return False
    return True


cdef int _json(Buffer out, object value) except -1:
    cdef Py_ssize_t start = out.size
    cdef Py_ssize_t length
    cdef bint first = True
    cdef bytes dumped
    out.put_be(0, 4)  # length, filled in below
    if _plain_dict(value):
        out.put_byte(123)
        for key, item in (<dict>value).items():
            if not first:
                out.put(b", ", 2)
            first = False
            _json_string(out, <str>key)
            out.put(b": ", 2)
            if item is None:
                out.put(b"null", 4)
            else:
                _json_string(out, <str>item)
        out.put_byte(125)
    else:
        dumped = json.dumps(value).encode("utf-8")
        out.put(PyBytes_AS_STRING(dumped), PyBytes_GET_SIZE(dumped))
    length = out.size - start - 4
    _set_be(out.data + start, length, 4)
    return 0


cdef int put_value(Buffer out, object value, int kind, object name) except -1:
    """One field of a COPY tuple: its length, then ``value`` as a column of ``kind``
    (``None``: the length -1, SQL NULL). ``name`` is the column's, for errors."""
    cdef Py_ssize_t size
    cdef const char *text
    cdef long long number
    if value is None:
        out.put_be(-1, 4)
    elif kind == BYTEA:
        if type(value) is not bytes:
            raise TypeError(f"column {name} takes bytes")
        size = PyBytes_GET_SIZE(value)
        out.put_be(size, 4)
        out.put(PyBytes_AS_STRING(value), size)
    elif kind == TEXT:
        if type(value) is not str:
            raise TypeError(f"column {name} takes text")
        text = PyUnicode_AsUTF8AndSize(value, &size)
        out.put_be(size, 4)
        out.put(text, size)
    elif kind == INT4:
        if type(value) is not int:
            raise TypeError(f"column {name} takes an integer")
        number = value
        if not -2147483648 <= number <= 2147483647:
            raise OverflowError(f"column {name} takes a 32-bit integer")
        out.put_be(4, 4)
        out.put_be(number, 4)
    elif kind == INT8:
        if type(value) is not int:
            raise TypeError(f"column {name} takes an integer")
        number = value
        out.put_be(8, 4)
        out.put_be(number, 8)
    elif kind == JSON:
        _json(out, value)
    else:
        raise ValueError("unknown column kind")
    return 0


def binary_copy(rows, kinds, names, *, framed=True) -> bytes:
    """The binary COPY stream of ``rows`` (sequences of values, one per column).

    ``kinds[i]`` is the kind of column ``i`` (a value of ``KINDS``); ``names[i]`` its
    name, used only in errors. ``framed=False``: the tuples alone, without ``HEADER``
    before them and ``TRAILER`` after (to be sent between them, as ``bulk_copy`` does).
    """
    cdef Py_ssize_t columns = len(kinds)
    cdef int *kind_of = <int *>malloc(max(columns, 1) * sizeof(int))
    cdef Buffer out
    cdef Py_ssize_t i, size
    cdef const char *text
    cdef long long number
    cdef object value
    cdef tuple row_tuple
    if kind_of == NULL:
        raise MemoryError()
    try:
        for i in range(columns):
            kind_of[i] = kinds[i]
            if not INT4 <= kind_of[i] <= JSON:
                raise ValueError("unknown column kind")
        out = Buffer(len(rows) * 256 + 32)
        if framed:
            out.put(PyBytes_AS_STRING(_HEADER), PyBytes_GET_SIZE(_HEADER))
        for row in rows:
            row_tuple = tuple(row)
            if len(row_tuple) != columns:
                raise ValueError("a row has the wrong number of values")
            out.put_be(columns, 2)
            for i in range(columns):
                put_value(out, row_tuple[i], kind_of[i], names[i])
        if framed:
            out.put(PyBytes_AS_STRING(_TRAILER), PyBytes_GET_SIZE(_TRAILER))
        return out.value()
    finally:
        free(kind_of)
