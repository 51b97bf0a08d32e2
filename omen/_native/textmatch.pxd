# C-level declarations of omen._native.textmatch (asyncpg style: the cdef class and its helpers
# are declared here and defined in textmatch.pyx). The semantics are those of
# omen.domain.analysis.TextAnalyzer; textmatch_py.py is the reference.


cdef enum:
    # Characters of one text lower-cased on the stack; a longer text uses the heap.
    TEXT_STACK_SIZE = 1024


cdef class TextAnalyzer:
    cdef:
        object _lexicon      # the domain Lexicon the tables come from (the reference)
        dict _surface        # surface form -> listed word
        dict _terms          # listed words of a term -> (canonical text, payloads)
        dict _starts         # surface form that can start a term -> (word, longest span)
        dict _singles        # listed word -> (canonical text, payloads) of its one-word term

    cdef int append_tokens(self, list tokens, object text) except -1
    cdef list match_tokens(self, list tokens)
