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
from libc.stdint cimport uint8_t, uint64_t
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


DEF TOKEN_BYTES = 48
DEF MAX_MESSAGE = 1024


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
        cdef bytes raw = value.encode("utf-8")
        return self.of_utf8(<const unsigned char *>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))

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
    of ``len(permutation)`` bits, little-endian, as ``BloomEncoder`` builds it: for each
    q-gram, P(mask || 0) OR-ed into the low half and P(0 || mask) into the high half, then
    low | (P(0 || ones) & ~high). Masks are kept per (salt, q-gram) in a table emptied
    when it holds ``table_limit`` entries.
    """

    # width: bits of the filter, len(permutation); words: its 64-bit words;
    # complement: P(0 || ones); table: (salt, q-gram) -> mask, at most table_limit.

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
        cdef uint64_t *bits
        if core < 8 or core & (core - 1) or core > 65536:
            raise ValueError("core must be a power of two from 8 to 65536")
        if len(permutation) != (2 * core if balanced else core):
            raise ValueError("the permutation does not match the filter")
        if not 1 <= hashes <= 64 or not 1 <= q <= 4:
            raise ValueError("hashes must be 1 to 64 and q 1 to 4")
        self.mac = _Hmac(key)
        self.core = core
        self.hashes = hashes
        self.q = q
        self.balanced = balanced
        self.width = len(permutation)
        self.words = (self.width + 63) // 64
        self.permutation = [int(p) for p in permutation]
        complement = bytearray(self.words * 8)
        if balanced:
            for i in range(core, 2 * core):
                target = self.permutation[i]
                complement[target >> 3] |= 1 << (target & 7)
        self.complement = bytes(complement)
        self.table = {}
        self.table_limit = table_limit

    cdef bytes _mask(self, bytes message):
        """The 2 * ``words`` words of one q-gram: P(mask || 0), then P(0 || mask)."""
        cdef unsigned char digest[32]
        cdef unsigned char buffer[MAX_MESSAGE + 1]
        cdef Py_ssize_t size = PyBytes_GET_SIZE(message)
        cdef int chosen = 0
        cdef int block = 0
        cdef int i
        cdef unsigned int position
        cdef unsigned int target
        cdef bytearray seen = bytearray((self.core + 7) // 8)
        cdef unsigned char *seen_bits = seen
        cdef bytearray mask = bytearray(self.words * 16)
        cdef unsigned char *out = mask
        cdef Py_ssize_t high = self.words * 64
        if size > MAX_MESSAGE:
            raise ValueError("a q-gram and its salt are too long to encode")
        memcpy(buffer, PyBytes_AS_STRING(message), size)
        while chosen < self.hashes:
            if block == 0:
                self.mac.digest(buffer, size, digest)
            else:
                buffer[size] = block
                self.mac.digest(buffer, size + 1, digest)
            for i in range(0, 32, 2):
                position = ((digest[i] << 8) | digest[i + 1]) & (self.core - 1)
                if seen_bits[position >> 3] & (1 << (position & 7)):
                    continue
                seen_bits[position >> 3] |= 1 << (position & 7)
                target = self.permutation[position]
                out[target >> 3] |= 1 << (target & 7)
                if self.balanced:
                    target = high + <unsigned int>self.permutation[self.core + position]
                    out[target >> 3] |= 1 << (target & 7)
                chosen += 1
                if chosen == self.hashes:
                    break
            block += 1
        return bytes(mask)

    cpdef bytes packed(self, str value, str salt):
        """The filter of ``value`` under ``salt``: ``len(permutation) / 8`` bytes."""
        if value is None or salt is None:
            raise TypeError("a value and a salt must be strings")
        cdef bytes salt_utf8 = salt.encode("utf-8")
        cdef Py_ssize_t salt_size = PyBytes_GET_SIZE(salt_utf8)
        cdef Py_ssize_t n
        cdef Py_ssize_t i
        cdef Py_ssize_t w
        cdef uint64_t *acc
        cdef const uint64_t *mask_words
        cdef const uint64_t *complement_words
        cdef bytes prefix
        cdef bytes key
        cdef object mask
        cdef str padded
        cdef bytearray result
        if not value:
            raise ValueError("cannot encode an empty value: treat it as missing")
        if salt_size > 0xFFFF:
            raise ValueError("salt is too long")
        prefix = b"\x01" + bytes(((salt_size >> 8) & 0xFF, salt_size & 0xFF)) + salt_utf8
        padded = "\x02" * (self.q - 1) + value + "\x03" * (self.q - 1)
        n = len(padded) - self.q + 1
        accumulator = bytearray(self.words * 16)
        acc = <uint64_t *><unsigned char *>accumulator
        table = self.table
        for i in range(n):
            key = prefix + padded[i : i + self.q].encode("utf-8")
            mask = table.get(key)
            if mask is None:
                mask = self._mask(key)
                if self.table_limit:
                    if len(table) >= self.table_limit:
                        table.clear()
                    table[key] = mask
            mask_words = <const uint64_t *>PyBytes_AS_STRING(mask)
            for w in range(2 * self.words):
                acc[w] |= mask_words[w]
        result = bytearray(self.words * 8)
        out = <uint64_t *><unsigned char *>result
        if self.balanced:
            complement_words = <const uint64_t *>PyBytes_AS_STRING(self.complement)
            for w in range(self.words):
                out[w] = acc[w] | (complement_words[w] & ~acc[self.words + w])
        else:
            for w in range(self.words):
                out[w] = acc[w]
        return bytes(result[: self.width // 8])

    def clear(self):
        """Forget every cached mask."""
        self.table.clear()

    def __len__(self):
        return len(self.table)

    def __repr__(self):
        return "BloomMasks([secure])"

    def __reduce__(self):
        raise TypeError("a Bloom key cannot be pickled")
