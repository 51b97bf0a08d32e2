# C-level declarations of sha256.h (SHA-256 with the x86 SHA instructions), shared by
# hashing.pyx and decision.pyx; there is no sha256 module to import. Each module includes its
# own static copy of the header and calls omen_sha256_init() at import.

cdef extern from "sha256.h":
    void omen_sha256_init()
    # Whether omen_sha256() may be called on this CPU (else: hashlib).
    int omen_sha256_hw()
    void omen_sha256(const unsigned char *p, size_t n, unsigned char *out)
