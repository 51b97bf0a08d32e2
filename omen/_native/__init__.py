"""Compiled hot path (Cython) and the pure-Python twins it must match byte for byte.

Import through `omen.native`, never from here: the selector picks an implementation and honours
OMEN_NO_EXTENSIONS and OMEN_REQUIRE_NATIVE.
"""
