"""Named seed streams: stable, independent per name, and sensitive to the root seed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthpriv.runtime.seeding import seed_sequence, stream_rng, stream_seed

names = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3)


@given(root=st.integers(min_value=0, max_value=2**63), path=names)
def test_a_stream_is_a_function_of_its_root_and_names(root: int, path: list[str]) -> None:
    assert stream_seed(root, *path) == stream_seed(root, *path)
    assert 0 <= stream_seed(root, *path) < 2**63
    assert np.array_equal(stream_rng(root, *path).random(4), stream_rng(root, *path).random(4))


def test_names_and_roots_give_different_streams() -> None:
    seeds = {stream_seed(root, *path) for root in (0, 1) for path in (("a",), ("b",), ("a", "b"), ("ab",))}
    assert len(seeds) == 8


def test_streams_do_not_depend_on_the_process() -> None:
    # Python's str hash is salted per process; the streams must not be.
    code = "from synthpriv.runtime.seeding import stream_seed; print(stream_seed(7, 'attack', 'membership'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == stream_seed(7, "attack", "membership")


def test_a_stream_needs_a_name() -> None:
    with pytest.raises(ValueError):
        seed_sequence(0)


def test_a_narrower_seed_is_the_same_stream_s_top_bits() -> None:
    wide = stream_seed(3, "validate", "detection", bits=64)
    assert stream_seed(3, "validate", "detection") == wide >> 1
    narrow = stream_seed(3, "validate", "detection", bits=32)
    assert narrow == wide >> 32 and 0 <= narrow < 2**32
    with pytest.raises(ValueError, match="1 to 64 bits"):
        stream_seed(3, "x", bits=65)
