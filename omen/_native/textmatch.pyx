"""Compiled twin of textmatch_py.py: tokenise an event's title and description and match the
lexicon's terms in them, in one pass.

textmatch_py.py (omen.domain.analysis.TextAnalyzer) is the reference: analyze() returns an equal
TextAnalysis, with the same tokens and the same TermMatch values carrying the very payload objects
of the lexicon (tests/unit/test_textmatch_parity.py checks both). The tables are built once by the
domain's Lexicon (inflections, irregular forms, phrases, conflict checks) and only read here, so
the two implementations cannot disagree about what a term is.

ASCII text (nearly all market text) is lower-cased and split by one C loop over its characters: a
token is a run of ASCII letters and digits, which is what the reference's translate() + split()
yields. Market text repeats a small vocabulary, so each analyzer keeps the str of every short
token it has made (up to TOKEN_CACHE_ENTRIES of them) in a table keyed by the token's bytes and
hands out that same str again: equal to a new one, but without allocating it, hashing it for the
lexicon lookup (a str caches its hash) or freeing it afterwards. And a feed observes each market
again and again with the same question, so the analyses of the latest RECENT_TEXTS distinct
(title, description) pairs are kept and returned again for the same pair (TextAnalysis values are
never changed after they are built). Any other text is tokenised by the reference's tokenize() (its Unicode regex). Matching
walks the token list once: a position that starts no term costs one dict lookup, and the longest
term wins at each position, as in Lexicon.match().
"""

cimport cython
from cpython.dict cimport PyDict_GetItem
from cpython.list cimport PyList_AsTuple, PyList_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memset

from omen._native.slots cimport Layout, layout_init, layout_make, layout_make4, untracked_tuple

from cpython.unicode cimport (
    Py_UCS1,
    PyUnicode_1BYTE_DATA,
    PyUnicode_1BYTE_KIND,
    PyUnicode_FromKindAndData,
    PyUnicode_GET_LENGTH,
)

from omen.domain.analysis import TextAnalysis as _TextAnalysis
from omen.domain.text import BOUNDARY as _DOMAIN_BOUNDARY
from omen.domain.text import Lexicon as _Lexicon
from omen.domain.text import TermMatch as _TermMatch
from omen.domain.text import tokenize as _tokenize

cdef extern from "Python.h":
    # True when every character is ASCII (a flag of the string: O(1)).
    bint PyUnicode_IS_ASCII(object o)

# C-level copies: reassigning the domain's names at run time cannot change this module.
cdef str _BOUNDARY = _DOMAIN_BOUNDARY
cdef object _CLASSES = (_TermMatch, _TextAnalysis)
# Built as their __init__ would build them, without running it, and left out of the cycle
# collector (slots.pxd): a TermMatch holds its term and the lexicon's payloads, a TextAnalysis
# tokens and TermMatch values, none of which can ever refer back to them.
cdef Layout L_TermMatch
cdef Layout L_TextAnalysis
layout_init(&L_TermMatch, _TermMatch, acyclic=True)
layout_init(&L_TextAnalysis, _TextAnalysis, acyclic=True)


def fast_layouts():
    """Each value class -> True when it is built without running its __init__ (slots.pxd)."""
    return {"TermMatch": L_TermMatch.fast, "TextAnalysis": L_TextAnalysis.fast}

# Each ASCII code -> its lower-case letter or digit, or 0 when it separates tokens.
cdef Py_UCS1 _WORD[128]


cdef void _fill_word_table() noexcept:
    cdef int c
    for c in range(128):
        if 0x61 <= c <= 0x7A or 0x30 <= c <= 0x39:  # a-z, 0-9
            _WORD[c] = <Py_UCS1>c
        elif 0x41 <= c <= 0x5A:  # A-Z
            _WORD[c] = <Py_UCS1>(c + 32)
        else:
            _WORD[c] = 0


_fill_word_table()


@cython.final
@cython.auto_pickle(False)
cdef class TextAnalyzer:
    """One lexicon built from every section's terms; one pass over each event's text.

    Implements omen.domain.analysis.TextMatcher with the results of the domain's TextAnalyzer.
    """

    def __cinit__(self):
        self._cache = NULL
        self._cached = 0

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self._cache is not NULL:
            for i in range(TOKEN_CACHE_SLOTS):
                if self._cache[i].token is not NULL:
                    Py_DECREF(<object>self._cache[i].token)
            PyMem_Free(self._cache)

    def __init__(self, entries, irregular=None):
        if self._cache is NULL:
            self._cache = <TokenSlot *>PyMem_Malloc(TOKEN_CACHE_SLOTS * sizeof(TokenSlot))
            if self._cache is NULL:
                raise MemoryError()
            memset(self._cache, 0, TOKEN_CACHE_SLOTS * sizeof(TokenSlot))
        lexicon = _Lexicon(entries, irregular)
        tables = lexicon.tables
        self._lexicon = lexicon
        self._surface = dict(tables.surface)
        self._terms = dict(tables.terms)
        self._starts = dict(tables.starts)
        self._singles = {key[0]: hit for key, hit in self._terms.items() if len(key) == 1}
        self._recent = {}

    @property
    def lexicon(self):
        return self._lexicon

    def analyze(self, event):
        """The tokens of title + description (separated by BOUNDARY) and every match."""
        title = event.title
        description = event.description
        cdef object key = None
        cdef PyObject *recent
        if type(title) is str and type(description) is str:
            # A market is observed again and again with the same question: its analysis is a
            # function of the two strings, so the latest RECENT_TEXTS are kept and shared.
            key = (title, description)
            recent = PyDict_GetItem(self._recent, key)
            if recent is not NULL:
                return <object>recent
        cdef list tokens = []
        self.append_tokens(tokens, title)
        if description:
            tokens.append(_BOUNDARY)
            self.append_tokens(tokens, description)
        analysis = layout_make(
            &L_TextAnalysis,
            (untracked_tuple(tokens), untracked_tuple(self.match_tokens(tokens))),
        )
        if key is not None:
            if len(self._recent) >= RECENT_TEXTS:
                self._recent.clear()  # bounded, and never worse than no memo at all
            self._recent[key] = analysis
        return analysis

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef int append_tokens(self, list tokens, object text) except -1:
        cdef Py_ssize_t n, i, start
        cdef const Py_UCS1 *src
        cdef Py_UCS1 *buf
        cdef Py_UCS1 stack[TEXT_STACK_SIZE]
        cdef Py_UCS1 c
        if not (isinstance(text, str) and PyUnicode_IS_ASCII(text)):
            tokens += _tokenize(text)
            return 0
        n = PyUnicode_GET_LENGTH(text)
        src = PyUnicode_1BYTE_DATA(text)
        buf = stack
        if n > TEXT_STACK_SIZE:
            buf = <Py_UCS1 *>PyMem_Malloc(n)
            if buf is NULL:
                raise MemoryError()
        try:
            i = 0
            while i < n:
                c = _WORD[src[i]]
                if c == 0:
                    i += 1
                    continue
                start = i
                while True:
                    buf[i] = c
                    i += 1
                    if i == n:
                        break
                    c = _WORD[src[i]]
                    if c == 0:
                        break
                tokens.append(self.token(buf + start, i - start))
        finally:
            if buf != stack:
                PyMem_Free(buf)
        return 0

    cdef object token(self, const Py_UCS1 *data, Py_ssize_t length):
        """The str of these lower-cased ASCII bytes: the cached one, or a new one (cached while
        the table has room)."""
        cdef uint64_t h = 14695981039346656037ULL  # FNV-1a
        cdef Py_ssize_t k, slot
        cdef TokenSlot *entry
        if length > TOKEN_CACHE_MAX_LENGTH:
            return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, data, length)
        for k in range(length):
            h = (h ^ data[k]) * 1099511628211ULL
        slot = <Py_ssize_t>(h & (TOKEN_CACHE_SLOTS - 1))
        while True:
            entry = &self._cache[slot]
            if entry.token is NULL:
                break
            if (
                entry.hash == h
                and entry.length == length
                and memcmp(PyUnicode_1BYTE_DATA(<object>entry.token), data, length) == 0
            ):
                return <object>entry.token
            slot = (slot + 1) & (TOKEN_CACHE_SLOTS - 1)
        token = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, data, length)
        if self._cached < TOKEN_CACHE_ENTRIES:
            Py_INCREF(token)
            entry.token = <PyObject *>token
            entry.hash = h
            entry.length = length
            self._cached += 1
        return token

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef list match_tokens(self, list tokens):
        # Lexicon.match(): non-overlapping matches in token order, the longest term winning at
        # each position; the tokens of a matched phrase are not matched again.
        cdef Py_ssize_t n = PyList_GET_SIZE(tokens)
        cdef Py_ssize_t i, span, size
        cdef Py_ssize_t next_free = 0
        cdef PyObject *entry
        cdef list found = []
        cdef tuple window
        cdef object head, hit
        for i in range(n):
            if i < next_free:
                continue  # inside a phrase matched earlier
            entry = PyDict_GetItem(self._starts, tokens[i])
            if entry is NULL:
                continue
            head = <object>PyTuple_GET_ITEM(<object>entry, 0)
            span = <object>PyTuple_GET_ITEM(<object>entry, 1)
            if span > n - i:
                span = n - i
            hit = None
            size = 1
            if span > 1:
                window = _window(self._surface, head, tokens, i, span)
                size = span
                while size > 1:
                    hit = self._terms.get(window if size == span else window[:size])
                    if hit is not None:
                        break
                    size -= 1
            if hit is None:
                hit = self._singles.get(head)
                if hit is None:
                    continue
            found.append(layout_make4(&L_TermMatch, hit[0], hit[1], i, size))
            next_free = i + size
        return found


cdef tuple _window(dict surface, object head, list tokens, Py_ssize_t i, Py_ssize_t span):
    # (head, and the listed word of each of the next span - 1 tokens, or the token itself).
    cdef list words = [head]
    cdef Py_ssize_t j
    cdef PyObject *word
    cdef object token
    for j in range(i + 1, i + span):
        token = tokens[j]
        word = PyDict_GetItem(surface, token)
        words.append(token if word is NULL else <object>word)
    return PyList_AsTuple(words)
