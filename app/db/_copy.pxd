# The C-level parts of app/db/_copy.pyx, for the row kernel (app/ingest/_kernel.pyx),
# which encodes memoised values once as COPY fields and then copies them into rows.

cdef class Buffer:
    cdef unsigned char *data
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity

    cdef int reserve(self, Py_ssize_t more) except -1
    cdef int put(self, const void *source, Py_ssize_t size) except -1
    cdef int put_be(self, long long value, int width) except -1
    cdef int put_byte(self, unsigned char value) except -1
    cdef bytes value(self)


cdef int put_value(Buffer out, object value, int kind, object name) except -1
