"""Squared Euclidean distances between rows, block by block: the geometry that the coverage
metrics and the distance-based attacks share (one implementation, below both of them)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# Bounds the float32 distance block computed at once (elements): 64 MiB.
_BLOCK_ELEMENTS = 1 << 24


def squared_distance_blocks(
    queries: np.ndarray, reference: np.ndarray, *, chunk: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Approximate (float32) squared distances of successive blocks of query rows to every reference row.

    The block buffer is reused: consume each block before asking for the next.
    """
    if len(reference) == 0:
        raise ValueError("the reference set is empty")
    # Centring shrinks the norms, and so the float32 rounding of ||q||^2 + ||r||^2 - 2 q.r.
    center = reference.mean(axis=0, dtype=np.float64)
    ref = (reference - center).astype(np.float32)
    # One augmented product gives the whole sum: [-2q, 1, ||q||^2] . [r, ||r||^2, 1].
    ref_norms = np.einsum("ij,ij->i", ref, ref)[:, None]
    ref_t = np.ascontiguousarray(np.hstack([ref, ref_norms, np.ones_like(ref_norms)]).T)
    rows = max(1, min(chunk, _BLOCK_ELEMENTS // len(reference)))
    buffer = np.empty((rows, len(reference)), dtype=np.float32)
    for start in range(0, len(queries), rows):
        part = (queries[start : start + rows] - center).astype(np.float32)
        norms = np.einsum("ij,ij->i", part, part)[:, None]
        augmented = np.hstack([-2.0 * part, np.ones_like(norms), norms])
        block = buffer[: len(part)]
        np.matmul(augmented, ref_t, out=block)
        yield start, block
