"""Integer noise: the samplers follow their exact pmfs, and the zCDP conversion is valid and tight.

The distribution checks use fixed seeds and tolerances of several standard errors, so a passing
run stays passing, while a wrong scale, a continuous draw or a biased sampler fails them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from synthpriv.privacy.noise import (
    discrete_gaussian,
    discrete_laplace,
    gaussian_sigma,
    zcdp_epsilon,
    zcdp_rho,
)

DRAWS = 200_000
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)


def laplace_pmf(k: np.ndarray, scale: float) -> np.ndarray:
    """The discrete Laplace pmf: ``(1 - q) / (1 + q) q^|k|`` with ``q = exp(-1 / scale)``."""
    q = math.exp(-1.0 / scale)
    return (1 - q) / (1 + q) * q ** np.abs(k)


def gaussian_pmf(k: np.ndarray, sigma: float) -> np.ndarray:
    """The discrete Gaussian pmf, normalized over a support wide enough to hold all its mass."""
    support = np.arange(-int(40 * sigma) - 40, int(40 * sigma) + 41)
    norm = np.exp(-(support.astype(float) ** 2) / (2 * sigma * sigma)).sum()
    return np.exp(-(k.astype(float) ** 2) / (2 * sigma * sigma)) / norm


def chi_square_p(draws: np.ndarray, pmf: np.ndarray, support: np.ndarray) -> float:
    """The chi-square p-value of ``draws`` against ``pmf`` on ``support`` (the rest pooled in one cell)."""
    observed = np.array([(draws == k).sum() for k in support], dtype=float)
    expected = pmf * draws.size
    rest_observed, rest_expected = draws.size - observed.sum(), draws.size - expected.sum()
    keep = expected >= 5  # cells too thin for the test join the rest
    rest_observed += observed[~keep].sum()
    rest_expected += expected[~keep].sum()
    observed = np.append(observed[keep], rest_observed)
    expected = np.append(expected[keep], rest_expected)
    if rest_expected < 5:  # nothing worth a cell outside: fold it into the last kept one
        observed, expected = observed[:-1], expected[:-1]
        observed[-1] += rest_observed
        expected[-1] += rest_expected
    return float(stats.chisquare(observed, expected).pvalue)


# -- discrete Laplace ----------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0, 20.0])
def test_discrete_laplace_is_integer_centred_with_the_exact_variance(scale: float) -> None:
    draws = discrete_laplace(scale, DRAWS, np.random.default_rng(1))
    assert draws.dtype.kind == "i"
    q = math.exp(-1.0 / scale)
    variance = 2 * q / (1 - q) ** 2
    assert abs(draws.mean()) < 5 * math.sqrt(variance / DRAWS)
    # The sample variance's relative standard error is about sqrt((kurtosis - 1) / n) < 0.006.
    assert draws.var() == pytest.approx(variance, rel=0.04)


def test_discrete_laplace_variance_tells_scales_apart() -> None:
    # The check above can fail: the same draws are far from a scale 10 % off.
    draws = discrete_laplace(3.0, DRAWS, np.random.default_rng(2))
    q = math.exp(-1.0 / 3.3)
    assert draws.var() < 0.9 * 2 * q / (1 - q) ** 2


@pytest.mark.parametrize("scale", [0.7, 2.0])
def test_discrete_laplace_follows_its_exact_pmf(scale: float) -> None:
    draws = discrete_laplace(scale, DRAWS, np.random.default_rng(3))
    support = np.arange(-30, 31)
    assert chi_square_p(draws, laplace_pmf(support, scale), support) > 1e-4


def test_a_rounded_continuous_laplace_fails_the_pmf_check() -> None:
    # The pmf check has power: numpy's Laplace rounded to integers is another distribution.
    rounded = np.rint(np.random.default_rng(4).laplace(0.0, 2.0, DRAWS)).astype(np.int64)
    support = np.arange(-30, 31)
    assert chi_square_p(rounded, laplace_pmf(support, 2.0), support) < 1e-6


def test_discrete_laplace_shapes_and_bad_scales() -> None:
    rng = np.random.default_rng(5)
    assert discrete_laplace(1.0, (3, 4), rng).shape == (3, 4)
    assert discrete_laplace(1.0, 0, rng).shape == (0,)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="scale"):
            discrete_laplace(bad, 3, rng)


# -- discrete Gaussian ---------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1.0, 2.5, 10.0])
def test_discrete_gaussian_is_integer_centred_with_variance_sigma_squared(sigma: float) -> None:
    draws = discrete_gaussian(sigma, DRAWS, np.random.default_rng(6))
    assert draws.dtype.kind == "i"
    assert abs(draws.mean()) < 5 * sigma / math.sqrt(DRAWS)
    # For sigma >= 1 the discrete Gaussian's variance is sigma^2 to within 1e-15 relative; the
    # sample variance's relative standard error is sqrt(2 / n) = 0.003.
    assert draws.var() == pytest.approx(sigma * sigma, rel=0.02)


@pytest.mark.parametrize("sigma", [0.4, 0.8, 1.5])
def test_discrete_gaussian_follows_its_exact_pmf(sigma: float) -> None:
    draws = discrete_gaussian(sigma, DRAWS, np.random.default_rng(7))
    support = np.arange(-20, 21)
    assert chi_square_p(draws, gaussian_pmf(support, sigma), support) > 1e-4
    # ...and not the pmf of a sigma 10 % off.
    assert chi_square_p(draws, gaussian_pmf(support, 1.1 * sigma), support) < 1e-6


def test_discrete_gaussian_shapes_and_bad_sigmas() -> None:
    rng = np.random.default_rng(8)
    assert discrete_gaussian(2.0, (5, 2), rng).shape == (5, 2)
    assert discrete_gaussian(2.0, np.int64(7), rng).shape == (7,)
    assert discrete_gaussian(2.0, 0, rng).shape == (0,)
    for bad in (0.0, -2.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="sigma"):
            discrete_gaussian(bad, 3, rng)


def test_seeded_draws_repeat() -> None:
    first = discrete_gaussian(3.0, 100, np.random.default_rng(9))
    assert np.array_equal(first, discrete_gaussian(3.0, 100, np.random.default_rng(9)))
    assert not np.array_equal(first, discrete_gaussian(3.0, 100, np.random.default_rng(10)))


# -- zCDP ----------------------------------------------------------------------------------


def gaussian_mechanism_epsilon(rho: float, delta: float) -> float:
    """The exact epsilon of the (continuous) Gaussian mechanism that is exactly ``rho``-zCDP
    (Balle and Wang 2018): every valid zCDP conversion gives at least this."""
    sigma = math.sqrt(1 / (2 * rho))

    def excess(eps: float) -> float:
        return float(
            stats.norm.cdf(1 / (2 * sigma) - eps * sigma)
            - math.exp(eps + stats.norm.logcdf(-1 / (2 * sigma) - eps * sigma))
            - delta
        )

    # The classic bound is a valid epsilon, so the root lies below it.
    high = rho + 2 * math.sqrt(rho * math.log(1 / delta))
    return 0.0 if excess(0.0) <= 0 else float(optimize.brentq(excess, 0.0, high))


def test_gaussian_sigma_gives_rho() -> None:
    for rho in (0.01, 0.5, 3.0):
        assert 1 / (2 * gaussian_sigma(rho) ** 2) == pytest.approx(rho)
    with pytest.raises(ValueError):
        gaussian_sigma(0.0)


@PROPERTY
@given(
    rho=st.floats(min_value=1e-6, max_value=100.0),
    delta=st.floats(min_value=1e-12, max_value=0.1),
)
def test_zcdp_epsilon_lies_between_the_gaussian_curve_and_the_classic_bound(rho: float, delta: float) -> None:
    epsilon = zcdp_epsilon(rho, delta)
    classic = rho + 2 * math.sqrt(rho * math.log(1 / delta))
    assert epsilon <= classic
    # Valid: no conversion can promise less than the Gaussian mechanism, which is rho-zCDP.
    assert epsilon >= gaussian_mechanism_epsilon(rho, delta) - 1e-9


@PROPERTY
@given(
    rho=st.floats(min_value=1e-6, max_value=50.0),
    factor=st.floats(min_value=1.0001, max_value=10.0),
    delta=st.floats(min_value=1e-12, max_value=0.1),
)
def test_zcdp_epsilon_grows_with_rho(rho: float, factor: float, delta: float) -> None:
    assert zcdp_epsilon(rho, delta) <= zcdp_epsilon(rho * factor, delta)


@PROPERTY
@given(
    epsilon=st.floats(min_value=0.01, max_value=50.0),
    delta=st.floats(min_value=1e-12, max_value=0.1),
)
def test_zcdp_rho_round_trips(epsilon: float, delta: float) -> None:
    rho = zcdp_rho(epsilon, delta)
    assert rho > 0
    back = zcdp_epsilon(rho, delta)
    assert back <= epsilon
    assert back == pytest.approx(epsilon, rel=1e-6)
    # The largest such rho: a little more spends more than epsilon.
    assert zcdp_epsilon(rho * (1 + 1e-4), delta) > epsilon


def test_zcdp_known_values_and_refusals() -> None:
    # rho = 0 spends nothing; a familiar point: rho 0.1 at delta 1e-5 is epsilon about 2.0.
    assert zcdp_epsilon(0.0, 1e-5) == 0.0
    assert 1.8 < zcdp_epsilon(0.1, 1e-5) < 0.1 + 2 * math.sqrt(0.1 * math.log(1e5))
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError):
            zcdp_epsilon(0.1, bad)
    with pytest.raises(ValueError):
        zcdp_rho(0.0, 1e-5)
    with pytest.raises(ValueError):
        zcdp_rho(1.0, 1.0)
