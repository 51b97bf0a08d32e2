# C-level declarations of omen._native.textmatch (asyncpg style: the cdef class and its helpers
# are declared here and defined in textmatch.pyx). The semantics are those of
# omen.domain.analysis.TextAnalyzer; textmatch_py.py is the reference.


from cpython.object cimport PyObject
from cpython.unicode cimport Py_UCS1
from libc.stdint cimport uint64_t


cdef enum:
    # Characters of one text lower-cased on the stack; a longer text uses the heap.
    TEXT_STACK_SIZE = 1024
    # The token cache: an open-addressing table (a power of two) at most half full.
    TOKEN_CACHE_SLOTS = 65536
    TOKEN_CACHE_ENTRIES = 32768
    TOKEN_CACHE_MAX_LENGTH = 32
    # Analyses kept for re-observed (title, description) pairs (the table is cleared when full).
    RECENT_TEXTS = 4096


ctypedef struct TokenSlot:
    PyObject *token          # an owned reference, or NULL for an empty slot
    uint64_t hash            # FNV-1a of the token's bytes
    Py_ssize_t length


cdef class TextAnalyzer:
    cdef:
        object _lexicon      # the domain Lexicon the tables come from (the reference)
        dict _surface        # surface form -> listed word
        dict _terms          # listed words of a term -> (canonical text, payloads)
        dict _starts         # surface form that can start a term -> (word, longest span)
        dict _singles        # listed word -> (canonical text, payloads) of its one-word term
        TokenSlot *_cache    # lower-cased ASCII token bytes -> the str made for them
        Py_ssize_t _cached   # entries in _cache
        dict _recent         # (title, description) -> its TextAnalysis, the latest RECENT_TEXTS

    cdef int append_tokens(self, list tokens, object text) except -1
    cdef object token(self, const Py_UCS1 *data, Py_ssize_t length)
    cdef list match_tokens(self, list tokens)
