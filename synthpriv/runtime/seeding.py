"""Named seed streams: every random draw of a run derives from the pipeline's seed and a name.

A stream is keyed by stable names (stage, then purpose: ``("attack", "membership")``), so
adding a draw to one part never shifts the numbers another part draws, and two parts never
share a stream by accident. Names are hashed (sha256), not Python's ``hash``, which changes
between processes.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np


def seed_sequence(root: int, *names: str) -> np.random.SeedSequence:
    """The `SeedSequence` of the stream ``names`` under the run's seed ``root``."""
    if not names:
        raise ValueError("a seed stream needs at least one name")
    words = [int(root) % 2**64]
    for name in names:
        digest = hashlib.sha256(name.encode()).digest()
        words += [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence(words)


def stream_rng(root: int, *names: str) -> np.random.Generator:
    """A NumPy generator for the stream ``names`` under ``root``."""
    return np.random.default_rng(seed_sequence(root, *names))


def stream_seed(root: int, *names: str, bits: int = 63) -> int:
    """A non-negative integer seed of ``bits`` bits (1 to 64) for the stream (torch, a child API).

    ``bits=32`` gives a seed every library takes (scikit-learn's ``random_state`` is below 2**32).
    """
    if not 1 <= bits <= 64:
        raise ValueError(f"a seed has 1 to 64 bits, not {bits}")
    return int(seed_sequence(root, *names).generate_state(1, dtype=np.uint64)[0] >> (64 - bits))


def seed_everything(seed: int) -> None:
    """Seed the global generators of ``random``, NumPy and torch (code that draws from them)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
