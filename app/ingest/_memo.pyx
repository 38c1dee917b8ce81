# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A bounded memo table keyed by ``str``, for the row kernel's per-column memos.

Why: the kernel (app/ingest/_kernel.pyx) memoises each column's result by the raw cell,
a fresh ``str`` from the ``csv`` module whose hash is not cached yet. In a ``dict`` of
65,536 such keys every probe loads the stored key object to read its hash (a cache miss
in a table that size), a hit then compares the two strings, the family-name memo builds
and compares a ``(cell, year)`` tuple, and the cyclic collector traverses the whole dict.
Here a lookup hashes the cell's bytes once and compares hash, shape and bytes inside the
slot: one cache line per probe, and no Python object is touched but the key and the value.

Semantics: those of a ``dict`` emptied when a store of a new key would exceed ``limit``
entries (bounded memory, no eviction order to keep); ``limit`` 0 stores nothing. A key is
a ``str`` or a pair of them, ``(key, salt)``, never equal to a single key nor to a pair
split differently. Keys are compared by the bytes CPython stores them in: a ``str`` is
canonical (its kind, 1, 2 or 4 bytes a character, is the narrowest that fits), so equal
strings have equal kinds and bytes, and ASCII ones (the common case) are read as they
are. A key or salt over ``MAX_PART`` bytes is not memoised (lookups miss).

Slots: 64 bytes, one cache line, open addressing with linear probing at load <= 0.5: the
full 64-bit hash, the value (a strong reference), the shape (byte size and kind of the key
and, for a pair, of the salt) and the key's bytes inline up to 40, else a pointer to a
copy. The slot count starts at 16 and doubles with the entries up to the smallest power of
two >= 2 * ``limit`` (at least 16): 128 to 256 bytes an entry at the limit (8 MiB for
65,536), plus a copy of each key longer than 40 bytes.

Hash: SipHash-1-3, keyed by the first 16 bytes of ``seed``, of the shape's 8 bytes then the
key's bytes. It is the keyed hash CPython itself uses for ``str`` (PEP 456; SipHash-1-3
since 3.11) and Rust's ``HashMap``: a pseudorandom function made for hash tables of short
keys, so that nobody without the seed can choose keys that collide (hash flooding). On a
10-byte cell it costs about what the dict's own hash of the fresh string does (one round
more, for the shape), so the speed-up is all in the probe. Multiply-mix hashes (wyhash, rapidhash) are faster but claim no such
property, and seed-independent collisions have been found in hashes of that family
(MurmurHash2/3, CityHash).

The cyclic collector: the type has no Python-object fields, so CPython does not make it a
collectable type and the collector never traverses the values. That is safe because the
values (the kernel's untracked tuples of strings, bytes, numbers and None) never refer to
the table: a value that did would make a cycle never collected.

Raw identifiers: the key bytes are zeroed when an entry goes (``clear``, emptying when
full, deallocation) and when the slots move to a larger block. A value's release runs
only once its slot is empty or overwritten, so that whatever it runs finds the table
consistent. Every method holds the GIL: a table is never used by two threads at once.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from libc.stdint cimport uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcmp, memcpy


cdef extern from *:
    void __builtin_prefetch(const void *address) nogil


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    int PyUnicode_READY(object)
    int PyUnicode_KIND(object)
    void *PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    void PyErr_Clear()


cdef extern from "<string.h>":
    void explicit_bzero(void *s, size_t n) nogil  # a memset the compiler cannot drop


DEF INLINE_KEY = 40          # sizeof(MemoSlot.key)
DEF FIRST_SLOTS = 16
DEF PAIR_STACK = 128         # pairs up to this many bytes are joined on the stack
DEF MAX_PART = 0x1FFFFFFF    # the largest key or salt, in bytes (29 bits of the shape)
DEF PAIR_BIT = 63            # of a pair's shape


# -- SipHash-1-3 ----------------------------------------------------------------------

cdef inline uint64_t _rotl(uint64_t x, int bits) noexcept nogil:
    return (x << bits) | (x >> (64 - bits))


cdef inline void _sipround(uint64_t *v) noexcept nogil:
    v[0] += v[1]
    v[1] = _rotl(v[1], 13) ^ v[0]
    v[0] = _rotl(v[0], 32)
    v[2] += v[3]
    v[3] = _rotl(v[3], 16) ^ v[2]
    v[0] += v[3]
    v[3] = _rotl(v[3], 21) ^ v[0]
    v[2] += v[1]
    v[1] = _rotl(v[1], 17) ^ v[2]
    v[2] = _rotl(v[2], 32)


cdef inline void _absorb(uint64_t *v, uint64_t word) noexcept nogil:
    v[3] ^= word
    _sipround(v)
    v[0] ^= word


cdef inline uint64_t _siphash13(
    uint64_t k0, uint64_t k1, uint64_t shape, const unsigned char *data, Py_ssize_t size
) noexcept nogil:
    """SipHash-1-3 of ``shape``'s 8 bytes then ``data`` (words in the host's byte order:
    on little-endian hosts exactly the reference function)."""
    cdef uint64_t v[4]
    cdef uint64_t word
    cdef uint64_t last = (<uint64_t>(size + 8)) << 56
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t j
    v[0] = k0 ^ 0x736F6D6570736575ULL
    v[1] = k1 ^ 0x646F72616E646F6DULL
    v[2] = k0 ^ 0x6C7967656E657261ULL
    v[3] = k1 ^ 0x7465646279746573ULL
    _absorb(v, shape)
    while i + 8 <= size:
        memcpy(&word, data + i, 8)
        _absorb(v, word)
        i += 8
    for j in range(size - i):
        last |= (<uint64_t>data[i + j]) << (8 * j)
    _absorb(v, last)
    v[2] ^= 0xFF
    _sipround(v)
    _sipround(v)
    _sipround(v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


# -- keys -----------------------------------------------------------------------------

cdef inline bint _encode(
    str text, const unsigned char **data, Py_ssize_t *size, uint64_t *part
) noexcept:
    """``text``'s bytes as CPython stores them, and its part of a shape: the byte size,
    then the kind (1, 2 or 4 bytes a character) as 0, 1 or 2 from bit 29. False when the
    text cannot be a key (longer than ``MAX_PART`` bytes, or a legacy string that cannot
    be made ready)."""
    cdef int kind = 1
    if not PyUnicode_IS_ASCII(text):
        if PyUnicode_READY(text) < 0:
            PyErr_Clear()
            return False
        kind = PyUnicode_KIND(text)
    size[0] = PyUnicode_GET_LENGTH(text) * kind
    if size[0] > MAX_PART:
        return False
    data[0] = <const unsigned char *>PyUnicode_DATA(text)
    part[0] = <uint64_t>size[0] | (<uint64_t>(kind >> 1)) << 29
    return True


cdef unsigned char *_join(
    str key, str salt, unsigned char *local, Py_ssize_t *size, uint64_t *shape
) noexcept:
    """The bytes of the pair ``(key, salt)``: key's then salt's, in ``local`` when they fit
    (``PAIR_STACK``) or else a heap copy for ``_release``; the shape has the key's part in
    its low half, the salt's in its high half, and bit ``PAIR_BIT`` set. NULL when the
    pair cannot be a key (or no memory is left to join it)."""
    cdef const unsigned char *key_data
    cdef const unsigned char *salt_data
    cdef Py_ssize_t key_size, salt_size
    cdef uint64_t key_part, salt_part
    cdef unsigned char *joined
    if not _encode(key, &key_data, &key_size, &key_part):
        return NULL
    if not _encode(salt, &salt_data, &salt_size, &salt_part):
        return NULL
    size[0] = key_size + salt_size
    joined = local if size[0] <= PAIR_STACK else <unsigned char *>malloc(size[0])
    if joined != NULL:
        memcpy(joined, key_data, key_size)
        memcpy(joined + key_size, salt_data, salt_size)
        shape[0] = key_part | salt_part << 32 | (<uint64_t>1) << PAIR_BIT
    return joined


cdef inline void _release(unsigned char *joined, unsigned char *local, Py_ssize_t size) noexcept:
    """Zero and free a heap copy from ``_join`` (the stack one is reused by the next call)."""
    if joined != local:
        explicit_bzero(joined, size)
        free(joined)


cdef inline Py_ssize_t _size_of(uint64_t shape) noexcept nogil:
    """The byte size of a key from its shape: the key's, plus the salt's for a pair."""
    return <Py_ssize_t>((shape & MAX_PART) + ((shape >> 32) & MAX_PART))


cdef inline const unsigned char *_key_bytes(MemoSlot *slot, Py_ssize_t size) noexcept nogil:
    cdef unsigned char *copy
    if size <= INLINE_KEY:
        return slot.key
    memcpy(&copy, slot.key, sizeof(copy))
    return copy


cdef inline MemoSlot *_aligned(void *block) noexcept nogil:
    """The first cache line (64 bytes) of a block allocated with one spare slot."""
    return <MemoSlot *>((<uintptr_t>block + 63) & ~(<uintptr_t>63))


# -- the table ------------------------------------------------------------------------

cdef class MemoTable:
    """At most ``limit`` values keyed by ``str`` (or ``(str, str)``), emptied when full.

    From Python (tests): ``lookup``, ``store``, ``clear``, ``len``. From Cython (the row
    kernel, through _memo.pxd): ``get``/``get_pair``, which return a borrowed reference or
    NULL, and ``put``/``put_pair``.
    """

    def __cinit__(self, Py_ssize_t limit, bytes seed not None):
        if limit < 0 or limit > (1 << 24):
            raise ValueError("limit must be 0 to 2**24")
        if PyBytes_GET_SIZE(seed) < 16:
            raise ValueError("the seed must be at least 16 bytes")
        memcpy(&self.k0, PyBytes_AS_STRING(seed), 8)
        memcpy(&self.k1, PyBytes_AS_STRING(seed) + 8, 8)
        self.limit = limit
        if limit == 0:  # no slots: every lookup misses, every store is dropped
            return
        self.most_slots = FIRST_SLOTS
        while self.most_slots < 2 * <uint64_t>limit:
            self.most_slots *= 2
        self._resize(FIRST_SLOTS)

    def __dealloc__(self):
        self._empty()  # zeroes every slot that held a key
        free(self.block)

    # -- C interface ------------------------------------------------------------------

    cdef PyObject *get(self, str key) noexcept:
        return self.get_hashed(key, 0)

    cdef uint64_t prefetch(self, str key) noexcept:
        """Start loading the slot where ``key`` is looked for, and return its hash for
        ``get_hashed``: a lookup in a large table is a cache miss, which the caller can
        overlap with other work (the row kernel prefetches the next row's cells)."""
        cdef const unsigned char *data
        cdef Py_ssize_t size
        cdef uint64_t shape, hash
        if self.slots == NULL or key is None or not _encode(key, &data, &size, &shape):
            return 0
        hash = _siphash13(self.k0, self.k1, shape, data, size)
        __builtin_prefetch(self.slots + (hash & self.mask))
        return hash

    cdef PyObject *get_hashed(self, str key, uint64_t hash) noexcept:
        """``get(key)`` given the hash ``prefetch(key)`` returned (0: compute it here)."""
        cdef const unsigned char *data
        cdef Py_ssize_t size
        cdef uint64_t shape
        if self.slots == NULL or key is None or not _encode(key, &data, &size, &shape):
            return NULL
        if hash == 0:
            hash = _siphash13(self.k0, self.k1, shape, data, size)
        return self._find(hash, shape, data, size).value

    cdef PyObject *get_pair(self, str key, str salt) noexcept:
        cdef unsigned char local[PAIR_STACK]
        cdef unsigned char *joined
        cdef Py_ssize_t size
        cdef uint64_t shape
        cdef PyObject *found
        if self.slots == NULL or key is None or salt is None:
            return NULL
        joined = _join(key, salt, local, &size, &shape)
        if joined == NULL:
            return NULL
        found = self._find(_siphash13(self.k0, self.k1, shape, joined, size), shape, joined, size).value
        _release(joined, local, size)
        return found

    cdef int put(self, str key, object value) except -1:
        cdef const unsigned char *data
        cdef Py_ssize_t size
        cdef uint64_t shape
        if key is None:
            raise TypeError("a memo key must be a str")
        if self.slots == NULL or not _encode(key, &data, &size, &shape):
            return 0
        return self._store(shape, data, size, value)

    cdef int put_pair(self, str key, str salt, object value) except -1:
        cdef unsigned char local[PAIR_STACK]
        cdef unsigned char *joined
        cdef Py_ssize_t size
        cdef uint64_t shape
        if key is None or salt is None:
            raise TypeError("a memo key and its salt must be str")
        if self.slots == NULL:
            return 0
        joined = _join(key, salt, local, &size, &shape)
        if joined == NULL:
            return 0
        try:
            return self._store(shape, joined, size, value)
        finally:
            _release(joined, local, size)

    # -- slots ------------------------------------------------------------------------

    cdef MemoSlot *_find(self, uint64_t hash, uint64_t shape, const unsigned char *data, Py_ssize_t size) noexcept:
        """The slot holding the key, or the empty slot where it would go."""
        cdef uint64_t i = hash & self.mask
        cdef MemoSlot *slot
        while True:
            slot = self.slots + i
            if slot.value == NULL:
                return slot
            if (slot.hash == hash and slot.shape == shape
                    and memcmp(_key_bytes(slot, size), data, size) == 0):
                return slot
            i = (i + 1) & self.mask

    cdef int _store(self, uint64_t shape, const unsigned char *data, Py_ssize_t size, object value) except -1:
        cdef uint64_t hash = _siphash13(self.k0, self.k1, shape, data, size)
        cdef MemoSlot *slot = self._find(hash, shape, data, size)
        cdef PyObject *old
        cdef unsigned char *copy
        while slot.value == NULL and self.entries >= self.limit:
            self._empty()  # full: start again
            slot = self._find(hash, shape, data, size)
        if slot.value != NULL:  # the key is there: the new value replaces the old one
            old = slot.value
            Py_INCREF(value)
            slot.value = <PyObject *>value
            Py_XDECREF(old)
            return 0
        if 2 * (<uint64_t>self.entries + 1) > self.mask + 1 and self.mask + 1 < self.most_slots:
            self._resize(2 * (self.mask + 1))
            slot = self._find(hash, shape, data, size)
        if size > INLINE_KEY:
            copy = <unsigned char *>malloc(size)
            if copy == NULL:
                raise MemoryError()
            memcpy(copy, data, size)
            memcpy(slot.key, &copy, sizeof(copy))
        else:
            memcpy(slot.key, data, size)
        slot.hash = hash
        slot.shape = shape
        Py_INCREF(value)
        slot.value = <PyObject *>value
        self.entries += 1
        return 0

    cdef int _resize(self, uint64_t count) except -1:
        """Move the entries to a new block of ``count`` slots (a power of two)."""
        cdef void *block = calloc(count + 1, sizeof(MemoSlot))
        cdef MemoSlot *slots
        cdef MemoSlot *slot
        cdef uint64_t i, j
        if block == NULL:
            raise MemoryError()
        slots = _aligned(block)
        if self.block != NULL:
            for i in range(self.mask + 1):
                slot = self.slots + i
                if slot.value != NULL:
                    j = slot.hash & (count - 1)
                    while slots[j].value != NULL:
                        j = (j + 1) & (count - 1)
                    slots[j] = slot[0]
            explicit_bzero(self.block, (self.mask + 2) * sizeof(MemoSlot))
            free(self.block)
        self.block = block
        self.slots = slots
        self.mask = count - 1
        return 0

    cdef void _empty(self) noexcept:
        """Drop every entry and zero its key bytes; each slot is emptied before its value
        is released (which may run code that uses the table)."""
        cdef uint64_t i
        cdef MemoSlot *slot
        cdef PyObject *value
        cdef unsigned char *copy
        cdef Py_ssize_t size
        if self.entries == 0:
            return
        for i in range(self.mask + 1):
            slot = self.slots + i
            value = slot.value
            if value == NULL:
                continue
            size = _size_of(slot.shape)
            copy = NULL
            if size > INLINE_KEY:
                memcpy(&copy, slot.key, sizeof(copy))
            explicit_bzero(slot, sizeof(MemoSlot))
            self.entries -= 1
            if copy != NULL:
                explicit_bzero(copy, size)
                free(copy)
            Py_XDECREF(value)

    # -- Python interface -------------------------------------------------------------

    def lookup(self, str key not None, str salt=None):
        """The value stored under ``key`` (or the pair ``(key, salt)``), or None."""
        cdef PyObject *found = self.get(key) if salt is None else self.get_pair(key, salt)
        return None if found == NULL else <object>found

    def store(self, str key not None, object value, str salt=None):
        """Keep ``value`` under ``key`` (or the pair ``(key, salt)``)."""
        if salt is None:
            self.put(key, value)
        else:
            self.put_pair(key, salt, value)

    def clear(self):
        """Forget every entry (and zero the keys' bytes)."""
        self._empty()

    def __len__(self):
        return self.entries

    def __repr__(self):
        return f"MemoTable(limit={self.limit}, entries={self.entries})"

    def __reduce__(self):
        raise TypeError("a memo table cannot be pickled")
