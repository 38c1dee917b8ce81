# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Native keyed primitives for the ingest hot path, on OpenSSL's libcrypto.

The pure-Python definitions in ``privacy.keyed``, ``privacy.pseudonym`` and
``privacy.bloom`` are the specification; everything here computes the same bytes, faster,
and the test suite checks it on random keys and values (``tests/unit/test_keyed_native.py``):

* ``Token``: AES-SIV(wrap key, HMAC-SHA256(subkey, message)) for a 32-byte HMAC and no
  associated data. HMAC-SHA256 (RFC 2104) starts from SHA-256 states with the padded key
  absorbed once. AES-SIV (RFC 5297) is composed from OpenSSL's AES-256 block cipher: for a
  single 32-byte plaintext S2V reduces to V = CMAC(K1, P xorend CMAC(K1, 0^128)), then
  C = AES-CTR(K2, V with bits 31 and 63 cleared, P), and the token is V || C, exactly
  what ``cryptography``'s ``AESSIV.encrypt(p, None)`` returns. OpenSSL's own SIV cipher
  sets the key up again on every message (about 3 microseconds); this needs four AES
  blocks (about 0.1 microseconds).
* ``BloomMasks``: the balanced (or plain) Bloom filter of a value before the optional
  XOR-folding, Rule 90 and BLIP steps: q-gram positions from the keyed HMAC stream of
  ``privacy.bloom._positions``, one precomputed permuted mask per (salt, q-gram) in a
  bounded table, OR-ed together.

Nothing here logs, prints or raises with a key or a value, and no object can be pickled.
Every method holds the GIL: an instance is never used by two threads at once.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset


cdef extern from "openssl/sha.h":
    int SHA256_Init(SHA256_CTX *c) nogil
    int SHA256_Update(SHA256_CTX *c, const void *data, size_t len) nogil
    int SHA256_Final(unsigned char *md, SHA256_CTX *c) nogil


cdef extern from "openssl/evp.h":
    ctypedef struct EVP_CIPHER:
        pass
    ctypedef struct ENGINE:
        pass
    EVP_CIPHER_CTX *EVP_CIPHER_CTX_new() nogil
    void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *ctx) nogil
    const EVP_CIPHER *EVP_aes_256_ecb() nogil
    int EVP_EncryptInit_ex(
        EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl,
        const unsigned char *key, const unsigned char *iv) nogil
    int EVP_EncryptUpdate(
        EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
        const unsigned char *inp, int inl) nogil
    int EVP_CIPHER_CTX_set_padding(EVP_CIPHER_CTX *ctx, int pad) nogil


cdef extern from *:
    void __builtin_prefetch(const void *address) nogil


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL


DEF TOKEN_BYTES = 48
DEF MAX_MESSAGE = 1024
DEF INITIAL_CAPACITY = 1024  # slots of a new Bloom q-gram table (it grows as it fills)


cdef class _Hmac:
    """HMAC-SHA256 with the padded key absorbed once into the inner and outer states."""

    def __cinit__(self, bytes key not None):
        cdef unsigned char block[64]
        cdef unsigned char pad[64]
        cdef Py_ssize_t size = PyBytes_GET_SIZE(key)
        cdef SHA256_CTX hashed
        cdef int i
        if size == 0:
            raise ValueError("an HMAC key must be non-empty bytes")
        memset(block, 0, 64)
        if size > 64:
            SHA256_Init(&hashed)
            SHA256_Update(&hashed, PyBytes_AS_STRING(key), size)
            SHA256_Final(block, &hashed)
        else:
            memcpy(block, PyBytes_AS_STRING(key), size)
        for i in range(64):
            pad[i] = block[i] ^ 0x36
        SHA256_Init(&self.inner)
        SHA256_Update(&self.inner, pad, 64)
        for i in range(64):
            pad[i] = block[i] ^ 0x5C
        SHA256_Init(&self.outer)
        SHA256_Update(&self.outer, pad, 64)
        memset(block, 0, 64)
        memset(pad, 0, 64)

    cdef void digest(self, const unsigned char *message, size_t size, unsigned char *out) noexcept:
        cdef SHA256_CTX state = self.inner
        SHA256_Update(&state, message, size)
        SHA256_Final(out, &state)
        state = self.outer
        SHA256_Update(&state, out, 32)
        SHA256_Final(out, &state)

    def __call__(self, bytes message not None) -> bytes:
        cdef unsigned char out[32]
        self.digest(<const unsigned char *>PyBytes_AS_STRING(message), PyBytes_GET_SIZE(message), out)
        return PyBytes_FromStringAndSize(<char *>out, 32)

    def __repr__(self):
        return "_Hmac([secure])"

    def __reduce__(self):
        raise TypeError("an HMAC key cannot be pickled")


cdef class _Siv:
    """AES-256-SIV (RFC 5297) of one 32-byte plaintext with no associated data."""

    # mac_cipher: AES-256 under K1 (S2V/CMAC); ctr_cipher: AES-256 under K2 (CTR);
    # subkey: the CMAC subkey K1' = dbl(AES(K1, 0)); d: CMAC(K1, 0^128), the S2V start.

    def __cinit__(self, bytes wrap_secret not None):
        cdef const unsigned char *key = <const unsigned char *>PyBytes_AS_STRING(wrap_secret)
        cdef unsigned char zero[16]
        cdef unsigned char block[16]
        cdef int i
        cdef int carry
        if PyBytes_GET_SIZE(wrap_secret) != 64:
            raise ValueError("the wrap secret must be exactly 64 bytes")
        self.mac_cipher = EVP_CIPHER_CTX_new()
        self.ctr_cipher = EVP_CIPHER_CTX_new()
        if self.mac_cipher == NULL or self.ctr_cipher == NULL:
            raise MemoryError()
        if (
            EVP_EncryptInit_ex(self.mac_cipher, EVP_aes_256_ecb(), NULL, key, NULL) != 1
            or EVP_EncryptInit_ex(self.ctr_cipher, EVP_aes_256_ecb(), NULL, key + 32, NULL) != 1
        ):
            raise RuntimeError("OpenSSL could not set up AES-256")
        EVP_CIPHER_CTX_set_padding(self.mac_cipher, 0)
        EVP_CIPHER_CTX_set_padding(self.ctr_cipher, 0)
        memset(zero, 0, 16)
        self._block(self.mac_cipher, zero, block, 16)
        # dbl: shift the 128-bit big-endian value left by one, folding 0x87 into the end.
        carry = block[0] >> 7
        for i in range(15):
            self.subkey[i] = ((block[i] << 1) | (block[i + 1] >> 7)) & 0xFF
        self.subkey[15] = ((block[15] << 1) & 0xFF) ^ (0x87 if carry else 0)
        # CMAC of the single complete zero block: AES(0 xor K1').
        self._block(self.mac_cipher, self.subkey, self.d, 16)
        memset(block, 0, 16)

    def __dealloc__(self):
        if self.mac_cipher != NULL:
            EVP_CIPHER_CTX_free(self.mac_cipher)
        if self.ctr_cipher != NULL:
            EVP_CIPHER_CTX_free(self.ctr_cipher)

    cdef int _block(self, EVP_CIPHER_CTX *ctx, const unsigned char *inp, unsigned char *out, int size) except -1:
        cdef int written = 0
        if EVP_EncryptUpdate(ctx, out, &written, inp, size) != 1 or written != size:
            raise RuntimeError("OpenSSL AES failed")
        return 0

    cdef int encrypt32(self, const unsigned char *plain, unsigned char *out) except -1:
        """out[0:16] = V, out[16:48] = C for the 32-byte ``plain``."""
        cdef unsigned char t[16]
        cdef unsigned char counters[32]
        cdef unsigned char stream[32]
        cdef int i
        # S2V: T = P xorend D; V = CMAC(K1, T) over two complete blocks.
        self._block(self.mac_cipher, plain, t, 16)
        for i in range(16):
            t[i] ^= plain[16 + i] ^ self.d[i] ^ self.subkey[i]
        self._block(self.mac_cipher, t, out, 16)
        # CTR from Q = V with bits 63 and 31 cleared; the second block is Q + 1.
        memcpy(counters, out, 16)
        counters[8] &= 0x7F
        counters[12] &= 0x7F
        memcpy(counters + 16, counters, 16)
        i = 31
        while i >= 16:
            counters[i] = (counters[i] + 1) & 0xFF
            if counters[i] != 0:
                break
            i -= 1
        self._block(self.ctr_cipher, counters, stream, 32)
        for i in range(32):
            out[16 + i] = plain[i] ^ stream[i]
        return 0

    def __reduce__(self):
        raise TypeError("a wrap key cannot be pickled")


cdef class Token:
    """The pseudonym of one purpose: AES-SIV(wrap, HMAC-SHA256(subkey, UTF-8 of value))."""

    def __cinit__(self, bytes subkey not None, _Siv siv not None):
        self.mac = _Hmac(subkey)
        self.siv = siv

    cdef bytes of_utf8(self, const unsigned char *message, Py_ssize_t size):
        cdef unsigned char digest[32]
        cdef unsigned char out[TOKEN_BYTES]
        self.mac.digest(message, size, digest)
        self.siv.encrypt32(digest, out)
        return PyBytes_FromStringAndSize(<char *>out, TOKEN_BYTES)

    cdef bytes of_str(self, str value):
        cdef Py_ssize_t size
        cdef const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size)  # no copy for ASCII
        return self.of_utf8(<const unsigned char *>utf8, size)

    def __call__(self, str value not None) -> bytes:
        return self.of_str(value)

    def __repr__(self):
        return "Token([secure])"

    def __reduce__(self):
        raise TypeError("a token key cannot be pickled")


def wrap_key(bytes wrap_secret not None) -> _Siv:
    """The AES-SIV wrap layer for ``Token``s, from the 64-byte wrap secret."""
    return _Siv(wrap_secret)


def hmac_sha256(bytes key not None) -> _Hmac:
    """HMAC-SHA256 under ``key`` as a callable: bytes -> 32-byte digest."""
    return _Hmac(key)


cdef class BloomMasks:
    """The hashed-and-balanced filter of a value: ``privacy.bloom`` before its finishing steps.

    ``permutation`` is the key-derived permutation of ``2 * core`` positions (balanced) or
    the identity of ``core`` positions (plain); ``packed(value, salt)`` returns the filter
    of ``len(permutation)`` bits, little-endian, as ``BloomEncoder`` builds it: each
    q-gram's ``hashes`` positions p set bit P(p) in the low half and bit P(core + p) in
    the high half; the filter is low | (P(0 || ones) & ~high).

    The positions of a (salt, q-gram) pair are kept in a bounded open-addressing table
    (at most ``table_limit`` pairs; emptied when full) keyed by the pair packed into 64
    bits: a nibble each for the salt's and the q-gram's UTF-8 lengths, then their bytes.
    Pairs longer than 7 bytes in all are hashed every time. The table's hash is seeded
    from the key, so nobody without it can choose values that collide. The table starts
    small and doubles as it fills (kept at most half full): a field with few distinct
    q-grams keeps its table in the processor's caches, and a large one spans no more
    memory pages than its entries need (a table sized for ``table_limit`` from the start
    spread a family-name table's 36,000 entries over 19 MB, a cache and TLB miss each).
    """

    def __cinit__(
        self,
        bytes key not None,
        list permutation not None,
        int core,
        int hashes,
        int q,
        bint balanced,
        Py_ssize_t table_limit,
    ):
        cdef Py_ssize_t i
        cdef Py_ssize_t target
        cdef unsigned char seed[32]
        if core < 8 or core & (core - 1) or core > 65536:
            raise ValueError("core must be a power of two from 8 to 65536")
        if len(permutation) != (2 * core if balanced else core):
            raise ValueError("the permutation does not match the filter")
        if not 1 <= hashes <= 64 or not 1 <= q <= 4:
            raise ValueError("hashes must be 1 to 64 and q 1 to 4")
        if table_limit < 0 or table_limit > (1 << 24):
            raise ValueError("table_limit must be 0 to 2**24")
        self.mac = _Hmac(key)
        self.core = core
        self.hashes = hashes
        self.q = q
        self.balanced = balanced
        self.width = len(permutation)
        self.words = (self.width + 63) // 64
        self.table_limit = table_limit
        self.max_capacity = 16
        while self.max_capacity < 2 * table_limit:
            self.max_capacity *= 2
        self.capacity = min(self.max_capacity, INITIAL_CAPACITY)
        self.positions = <unsigned int *>malloc(self.width * sizeof(unsigned int))
        self.complement_words = <uint64_t *>calloc(self.words, sizeof(uint64_t))
        self.accumulator = <uint64_t *>malloc(self.words * 2 * sizeof(uint64_t))
        # A slot: the packed key (0: empty), then the q-gram's positions, in one place so
        # that a lookup costs one memory access, which ``packed`` prefetches.
        self.stride = 8 + (2 * hashes + 7) // 8 * 8
        self.slots = <unsigned char *>calloc(self.capacity if table_limit else 1, self.stride)
        if (self.positions == NULL or self.complement_words == NULL
                or self.accumulator == NULL or self.slots == NULL):
            raise MemoryError()
        for i in range(self.width):
            target = permutation[i]
            if not 0 <= target < self.width:
                raise ValueError("the permutation does not match the filter")
            self.positions[i] = target
        if balanced:
            for i in range(core, 2 * core):
                target = self.positions[i]
                self.complement_words[target >> 6] |= (<uint64_t>1) << (target & 63)
        self.mac.digest(<const unsigned char *>b"\x04hsclink/bloom-table-seed", 26, seed)
        memcpy(&self.seed, seed, 8)
        self.seed |= 1
        self.entries = 0

    def __dealloc__(self):
        free(self.positions)
        free(self.complement_words)
        free(self.accumulator)
        free(self.slots)

    cdef void _positions_of(self, unsigned char *message, Py_ssize_t size, uint16_t *out) noexcept:
        """``privacy.bloom._positions``: ``hashes`` distinct positions below ``core`` from
        HMAC(key, message), then HMAC(key, message || j) for j = 1, 2, ... as needed.
        ``message`` has one spare byte after ``size``."""
        cdef unsigned char digest[32]
        cdef uint64_t seen[1024]  # a bit per position below core (at most 65536)
        cdef int chosen = 0
        cdef int block = 0
        cdef int i
        cdef unsigned int position
        memset(seen, 0, (self.core + 63) // 64 * 8)
        while chosen < self.hashes:
            if block == 0:
                self.mac.digest(message, size, digest)
            else:
                message[size] = block
                self.mac.digest(message, size + 1, digest)
            for i in range(0, 32, 2):
                position = ((digest[i] << 8) | digest[i + 1]) & (self.core - 1)
                if seen[position >> 6] & ((<uint64_t>1) << (position & 63)):
                    continue
                seen[position >> 6] |= (<uint64_t>1) << (position & 63)
                out[chosen] = position
                chosen += 1
                if chosen == self.hashes:
                    break
            block += 1

    cdef inline uint64_t _slot_of(self, uint64_t packed) noexcept:
        return ((packed ^ (self.seed >> 1)) * self.seed) >> 40 & (self.capacity - 1)

    cdef int _grow(self) except -1:
        """Double the table, moving every entry to its slot in the larger one."""
        cdef unsigned char *old = self.slots
        cdef Py_ssize_t old_capacity = self.capacity
        cdef Py_ssize_t i
        cdef uint64_t slot
        cdef uint64_t *key
        cdef unsigned char *grown = <unsigned char *>calloc(2 * old_capacity, self.stride)
        if grown == NULL:
            raise MemoryError()
        self.slots = grown
        self.capacity = 2 * old_capacity
        for i in range(old_capacity):
            key = <uint64_t *>(old + i * self.stride)
            if key[0] == 0:
                continue
            slot = self._slot_of(key[0])
            while (<uint64_t *>(grown + slot * self.stride))[0] != 0:
                slot = (slot + 1) & (self.capacity - 1)
            memcpy(grown + slot * self.stride, key, self.stride)
        memset(old, 0, old_capacity * self.stride)
        free(old)
        return 0

    cdef const uint16_t *_lookup(self, uint64_t packed, uint64_t slot, unsigned char *message, Py_ssize_t size, uint16_t *scratch) noexcept:
        """The positions of one (salt, q-gram): from the table, or computed (and stored)."""
        cdef uint64_t mask = self.capacity - 1
        cdef uint64_t *key
        if self.table_limit == 0 or packed == 0:
            self._positions_of(message, size, scratch)
            return scratch
        while True:
            key = <uint64_t *>(self.slots + slot * self.stride)
            if key[0] == 0:
                break
            if key[0] == packed:
                return <const uint16_t *>(key + 1)
            slot = (slot + 1) & mask
        if self.entries >= self.table_limit:  # full: start again (bounded memory)
            memset(self.slots, 0, self.capacity * self.stride)
            self.entries = 0
            slot = self._slot_of(packed)
            key = <uint64_t *>(self.slots + slot * self.stride)
        self._positions_of(message, size, <uint16_t *>(key + 1))
        self.entries += 1
        key[0] = packed
        return <const uint16_t *>(key + 1)

    cpdef bytes packed(self, str value, str salt):
        """The filter of ``value`` under ``salt``: ``len(permutation) / 8`` bytes."""
        if value is None or salt is None:
            raise TypeError("a value and a salt must be strings")
        if not value:
            raise ValueError("cannot encode an empty value: treat it as missing")
        # UTF-8 of the salt and of the padded value, without new objects: a str keeps its
        # UTF-8 (an ASCII one is its own), and the padding is written around it here.
        cdef Py_ssize_t salt_size, value_size
        cdef const char *salt_utf8 = PyUnicode_AsUTF8AndSize(salt, &salt_size)
        cdef const char *value_utf8 = PyUnicode_AsUTF8AndSize(value, &value_size)
        cdef Py_ssize_t pad = self.q - 1
        cdef Py_ssize_t size = value_size + 2 * pad
        cdef unsigned char text[MAX_MESSAGE + 1]
        cdef Py_ssize_t starts[MAX_MESSAGE + 1]
        cdef unsigned char message[MAX_MESSAGE + 1]
        cdef uint16_t scratch[64]
        cdef uint64_t keys[MAX_MESSAGE + 1]
        cdef uint64_t slots[MAX_MESSAGE + 1]
        cdef Py_ssize_t grams
        cdef const uint16_t *found
        cdef Py_ssize_t points = 0
        cdef Py_ssize_t head = 3 + salt_size
        cdef Py_ssize_t i, j, w, gram
        cdef uint64_t packed
        cdef uint64_t *acc = self.accumulator
        cdef Py_ssize_t high = self.words * 64
        cdef unsigned int target
        if salt_size > 0xFFFF:
            raise ValueError("salt is too long")
        if head + size > MAX_MESSAGE:
            raise ValueError("a value and its salt are too long to encode")
        memset(text, 2, pad)  # PAD_START, as privacy.bloom.qgrams pads
        memcpy(text + pad, value_utf8, value_size)
        memset(text + pad + value_size, 3, pad)  # PAD_END
        for i in range(size):  # the byte offset where each code point starts
            if (text[i] & 0xC0) != 0x80:
                starts[points] = i
                points += 1
        starts[points] = size
        message[0] = 1
        message[1] = (salt_size >> 8) & 0xFF
        message[2] = salt_size & 0xFF
        memcpy(message + 3, salt_utf8, salt_size)
        memset(acc, 0, self.words * 16)
        grams = points - self.q + 1
        # Room for every q-gram of this value before any slot is computed below.
        while self.table_limit and self.capacity < self.max_capacity \
                and 2 * (self.entries + grams) > self.capacity:
            self._grow()
        # First every q-gram's key and slot, each slot prefetched, so that the table's
        # memory accesses overlap instead of waiting one after another.
        for i in range(grams):
            gram = starts[i + self.q] - starts[i]
            packed = 0
            if salt_size + gram <= 7 and salt_size < 16 and gram < 16:
                packed = <uint64_t>((salt_size << 4) | gram)
                for j in range(salt_size):
                    packed |= (<uint64_t>message[3 + j]) << (8 * (j + 1))
                for j in range(gram):
                    packed |= (<uint64_t>text[starts[i] + j]) << (8 * (salt_size + j + 1))
            keys[i] = packed
            if packed != 0 and self.table_limit:
                slots[i] = self._slot_of(packed)
                __builtin_prefetch(self.slots + slots[i] * self.stride)
            else:
                slots[i] = 0
        for i in range(grams):
            gram = starts[i + self.q] - starts[i]
            memcpy(message + head, text + starts[i], gram)
            found = self._lookup(keys[i], slots[i], message, head + gram, scratch)
            for j in range(self.hashes):
                target = self.positions[found[j]]
                acc[target >> 6] |= (<uint64_t>1) << (target & 63)
                if self.balanced:
                    target = high + self.positions[self.core + found[j]]
                    acc[target >> 6] |= (<uint64_t>1) << (target & 63)
        if self.balanced:
            for w in range(self.words):
                acc[w] = acc[w] | (self.complement_words[w] & ~acc[self.words + w])
        return PyBytes_FromStringAndSize(<char *>acc, self.width // 8)

    def clear(self):
        """Forget every cached q-gram."""
        if self.table_limit:
            memset(self.slots, 0, self.capacity * self.stride)
        self.entries = 0

    def __len__(self):
        return self.entries

    def __repr__(self):
        return "BloomMasks([secure])"

    def __reduce__(self):
        raise TypeError("a Bloom key cannot be pickled")
