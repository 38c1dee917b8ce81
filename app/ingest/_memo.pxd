cimport cython
from cpython.ref cimport PyObject
from libc.stdint cimport uint64_t

# C-level interface of app/ingest/_memo.pyx, for the row kernel (app/ingest/_kernel.pyx).


ctypedef struct MemoSlot:
    # One cache line; empty while value is NULL. shape: the key's byte sizes and kinds (see
    # _memo.pyx); key: its bytes when they fit (40), else a pointer to a copy of them.
    uint64_t hash
    PyObject *value
    uint64_t shape
    unsigned char key[40]


@cython.final  # no subclass (which could add fields the collector must see); direct calls
cdef class MemoTable:
    cdef MemoSlot *slots        # 64-byte aligned, inside block
    cdef void *block
    cdef uint64_t mask          # slot count - 1 (the count is a power of two)
    cdef uint64_t most_slots    # the slot count at the limit: a power of two >= 2 * limit
    cdef Py_ssize_t limit
    cdef Py_ssize_t entries
    cdef uint64_t k0, k1        # the SipHash key
    # A borrowed reference, or NULL when the key is not in the table (never an error).
    cdef PyObject *get(self, str key) noexcept
    cdef uint64_t prefetch(self, str key) noexcept
    cdef PyObject *get_hashed(self, str key, uint64_t hash) noexcept
    cdef PyObject *get_pair(self, str key, str salt) noexcept
    cdef int put(self, str key, object value) except -1
    cdef int put_pair(self, str key, str salt, object value) except -1
    cdef MemoSlot *_find(self, uint64_t hash, uint64_t shape, const unsigned char *data, Py_ssize_t size) noexcept
    cdef int _store(self, uint64_t shape, const unsigned char *data, Py_ssize_t size, object value) except -1
    cdef int _resize(self, uint64_t count) except -1
    cdef void _empty(self) noexcept
