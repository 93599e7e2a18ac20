"""Integer-valued noise for counts: the discrete Laplace and discrete Gaussian mechanisms.

Why not ``numpy``'s ``laplace`` / ``normal``: a floating-point sample carries low-order bits
that depend on the value it was added to, and Mironov (CCS 2012) showed that an adversary
who sees the unrounded result can tell neighbouring inputs apart, whatever epsilon says.
A count plus an *integer* draw is an integer: there are no such bits to read. The discrete
mechanisms give the same guarantees as their continuous kin for integer-valued queries of
sensitivity 1 (Canonne, Kamath and Steinke, NeurIPS 2020):

- `discrete_laplace` with scale ``1 / epsilon``: pure epsilon-DP;
- `discrete_gaussian` with standard deviation sigma: ``1 / (2 sigma^2)``-zCDP, and
  ``(epsilon, delta)``-DP by the usual conversion.

Sampling follows the paper's construction (a discrete Gaussian by rejection from a discrete
Laplace), vectorized over the whole array. One difference from its reference code: the
acceptance probabilities are computed in double precision, not exact rational arithmetic,
so the sampled distribution is the intended one up to rounding in those probabilities (about
1e-16 relative), which moves no output bit an adversary could read. The same holds for the
geometric draws under the discrete Laplace (numpy inverts an exponential draw in double
precision): the output is an integer, and only its probabilities carry rounding.
"""

from __future__ import annotations

import math

import numpy as np

#: Stop after this many rejection rounds (each accepts more than half of what is left, so
#: reaching it would mean a broken generator, not bad luck: 2^-200).
_MAX_ROUNDS = 200


def discrete_laplace(scale: float, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Integers with ``P(k) ∝ exp(-|k| / scale)``: the difference of two geometric draws."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError("the discrete Laplace scale must be a positive number")
    success = -math.expm1(-1.0 / scale)  # 1 - exp(-1 / scale), exact for large scales
    # numpy's geometric counts trials (>= 1); the difference of two is symmetric around 0.
    return rng.geometric(success, size=size).astype(np.int64) - rng.geometric(success, size=size)


def discrete_gaussian(sigma: float, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Integers with ``P(k) ∝ exp(-k^2 / (2 sigma^2))`` (Canonne, Kamath and Steinke, Algorithm 3)."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError("the discrete Gaussian sigma must be a positive number")
    shape = (int(size),) if isinstance(size, int | np.integer) else tuple(size)
    out = np.empty(int(np.prod(shape)), dtype=np.int64)
    pending = np.arange(out.size)
    scale = math.floor(sigma) + 1.0
    for _ in range(_MAX_ROUNDS):
        if pending.size == 0:
            return out.reshape(shape)
        candidate = discrete_laplace(scale, pending.size, rng)
        excess = np.abs(candidate) - sigma * sigma / scale
        accept = rng.random(pending.size) < np.exp(-(excess * excess) / (2.0 * sigma * sigma))
        out[pending[accept]] = candidate[accept]
        pending = pending[~accept]
    raise RuntimeError("discrete Gaussian sampling did not converge")


def gaussian_sigma(rho: float) -> float:
    """The discrete Gaussian sigma that makes a sensitivity-1 count ``rho``-zCDP."""
    if not rho > 0:
        raise ValueError("rho must be positive")
    return math.sqrt(1.0 / (2.0 * rho))


def zcdp_epsilon(rho: float, delta: float) -> float:
    """The epsilon of ``rho``-zCDP at ``delta``: the tight conversion of Canonne, Kamath and
    Steinke (2020, Proposition 12 / Corollary 13), minimized over the Renyi order."""
    if rho <= 0:
        return 0.0
    if not 0 < delta < 1:
        raise ValueError("delta must be in (0, 1)")
    orders = np.concatenate([np.linspace(1.0001, 10, 2000), np.geomspace(10, 1e6, 4000)])
    spread = math.log(1.0 / delta) + (orders - 1) * np.log1p(-1.0 / orders) - np.log(orders)
    eps = orders * rho + spread / (orders - 1)
    return float(max(np.min(eps), 0.0))


def zcdp_rho(epsilon: float, delta: float) -> float:
    """The largest rho whose `zcdp_epsilon` at ``delta`` is at most ``epsilon`` (bisection)."""
    if not (epsilon > 0 and 0 < delta < 1):
        raise ValueError("epsilon must be positive and delta in (0, 1)")
    low, high = 0.0, max(epsilon, 1.0)
    while zcdp_epsilon(high, delta) <= epsilon:
        high *= 2.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if zcdp_epsilon(middle, delta) <= epsilon else (low, middle)
    return low
