from libc.stdint cimport uint16_t, uint32_t, uint64_t

# C-level interface of privacy/_keyed.pyx, for other native modules (the ingest kernel).

cdef extern from "openssl/sha.h":
    ctypedef struct SHA256_CTX:
        pass

cdef extern from "openssl/evp.h":
    ctypedef struct EVP_CIPHER_CTX:
        pass


cdef class _Hmac:
    cdef SHA256_CTX inner
    cdef SHA256_CTX outer
    cdef void digest(self, const unsigned char *message, size_t size, unsigned char *out) noexcept


cdef class _Siv:
    cdef EVP_CIPHER_CTX *mac_cipher
    cdef EVP_CIPHER_CTX *ctr_cipher
    cdef unsigned char subkey[16]
    cdef unsigned char d[16]
    cdef int _block(self, EVP_CIPHER_CTX *ctx, const unsigned char *inp, unsigned char *out, int size) except -1
    cdef int encrypt32(self, const unsigned char *plain, unsigned char *out) except -1


cdef class Token:
    cdef _Hmac mac
    cdef _Siv siv
    cdef bytes of_utf8(self, const unsigned char *message, Py_ssize_t size)
    cdef bytes of_str(self, str value)


cdef class BloomMasks:
    cdef _Hmac mac
    cdef int core
    cdef int hashes
    cdef int q
    cdef bint balanced
    cdef Py_ssize_t width
    cdef Py_ssize_t words
    cdef unsigned int *positions
    cdef uint64_t *complement_words
    cdef uint64_t *accumulator
    cdef Py_ssize_t table_limit
    cdef Py_ssize_t capacity
    cdef Py_ssize_t max_capacity
    cdef Py_ssize_t entries
    cdef uint64_t seed
    cdef Py_ssize_t stride
    cdef unsigned char *slots
    cdef void _positions_of(self, unsigned char *message, Py_ssize_t size, uint16_t *out) noexcept
    cdef uint64_t _slot_of(self, uint64_t packed) noexcept
    cdef int _grow(self) except -1
    cdef const uint16_t *_lookup(self, uint64_t packed, uint64_t slot, unsigned char *message, Py_ssize_t size, uint16_t *scratch) noexcept
    cpdef bytes packed(self, str value, str salt)
