"""API keys are held as digests and compared against every configured key."""

from __future__ import annotations

import pytest

from omen.entrypoints.grpc.interceptors import ApiKeys


def test_any_configured_key_is_accepted():
    keys = ApiKeys(["first-key-123", "second-key-456"])
    assert keys.accepts("first-key-123")
    assert keys.accepts("second-key-456")
    assert keys.accepts(b"second-key-456")


@pytest.mark.parametrize("presented", [None, "", "first-key-12", "first-key-1234", "FIRST-KEY-123"])
def test_anything_else_is_refused(presented):
    assert not ApiKeys(["first-key-123"]).accepts(presented)


def test_an_empty_key_set_is_a_programming_error():
    with pytest.raises(ValueError):
        ApiKeys([])
