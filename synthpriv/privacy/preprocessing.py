"""Differentially private preprocessing: fit the `TabularTransformer` without leaking.

The non-private transformer reads quantiles, category lists and missing-value rates off
the real table; each is a statistic about the rows that DP-SGD's guarantee does not cover.
Here every statistic comes either from the pipeline file (public knowledge: a declared
range, a declared category list) or from a DP mechanism charged to the `PrivacyLedger`:

- numerical and datetime columns: the declared ``bounds`` are required. The quantile map's
  knots come from a discrete Laplace histogram of the clipped column (`private_normalizer`).
- categorical columns: a declared category list is public and costs nothing. Without one,
  the list is released by a stability-based histogram (`stability_histogram`), which is
  (epsilon, delta)-DP; values it does not release are merged (see `OTHER_TOKEN`, defined in
  `synthpriv.data.encoders`).
- boolean columns: the domain ``{False, True}`` is public.
- missing values: nothing is read. Whether a column may hold nulls is ``spec.nullable``,
  which a DP run's schema takes from public structure only (`synthpriv.data.schema.
  public_nullable`): the declaration's ``nullable``; else not nullable when its categories are
  declared (a declared domain is complete); else the input's schema, never its values. What
  is public there depends on how the table arrives. A Parquet file declares each field's
  nullability in its schema: public, like a database's NOT NULL. A CSV declares nothing
  (Arrow's reader makes every column nullable), and the pandas dtype of a column read from
  a file is not public: pandas views an integer column holding a null as float64 and one
  holding none as int64, so that dtype tells whether a value is missing. So every CSV column
  may hold nulls unless declared ``nullable: false``. A table built in Python keeps its
  pandas dtypes as its schema: a NumPy integer or bool column cannot hold a null. A nullable
  column gets its missing block or null category, and how often it is used is learned by
  DP-SGD; a non-nullable one gets neither, so no generator can give it a null (a null in
  the real rows is encoded as the centre of a number's map or as the fallback category).

**Neighbouring relation.** Tables differ by adding or removing one row (the relation the
DP-SGD accountant uses too, with Poisson sampling). Under it one row changes one cell of a
histogram by one: the L1 sensitivity of every histogram here is 1. (Under replacing a row
it would be 2; do not mix the two.)

**Budget.** ``epsilon`` (the preprocessing share of the run's budget) is split evenly over
the mechanisms that need it, one per numerical or datetime column and one per categorical
column without declared categories. Histograms are pure DP (delta 0), so the run's
delta goes to DP-SGD except for a small share (`DEFAULT_DELTA_SHARE` of what the ledger has
left) split evenly over the stability histograms. Columns compose sequentially: epsilons and
deltas add up, as the ledger records.

**Charging.** `fit_private_transformer` charges each release to the ledger itself, right
before the mechanism draws its noise, after checking that all of them fit (so a refused
budget reads nothing), and also returns them for the report.

**Noise.** Every release adds *integer* noise to integer counts: the discrete Laplace
mechanism (`synthpriv.privacy.noise.discrete_laplace`, scale ``1 / epsilon``), which is
epsilon-DP for a sensitivity-1 count exactly as the continuous one is (Canonne, Kamath and
Steinke 2020). A noisy count is an integer, so it carries none of the low-order bits through
which a floating-point Laplace sample leaks its input (Mironov, CCS 2012). What is done
with the noisy counts afterwards (the clamp at 0, the pseudo-count, the quantile map in
floating point) is post-processing.

**Limits.** The noise is drawn from numpy's generator, a PRNG seeded from the OS (or from a
test's seed), not a cryptographic generator; the guarantee assumes its draws are secret and
unpredictable.
The schema (kinds, integer flags, nullability) comes from declarations and dtypes, never from the
values: a DP run infers it with ``infer_schema(public_only=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

import numpy as np
import pandas as pd

from synthpriv.config.model import ColumnDeclaration
from synthpriv.data.encoders import OTHER_TOKEN, OneHotEncoder, QuantileNormalizer, holds_strings
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, require_columns
from synthpriv.data.transform import MissingPatterns, TabularTransformer, numeric_values
from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.ledger import PrivacyLedger, Release
from synthpriv.privacy.noise import discrete_laplace

#: The share of the ledger's remaining delta that the stability histograms may use (the rest
#: is left for DP-SGD). Split evenly over them.
DEFAULT_DELTA_SHARE = 0.1
#: Bins of a continuous column's histogram between its bounds (plus one cell at each bound),
#: at most: see `histogram_bins`.
DEFAULT_BINS = 256
#: A histogram has as many bins as keep an even spread of the rows at least this many times
#: the noise's scale in each (`histogram_bins`).
COUNT_OVER_NOISE = 2.0
#: An integer column whose declared range holds at most this many integers gets one cell per
#: integer (and one plateau per value in its quantile map, so values come back exactly).
MAX_INTEGER_CELLS = 512
# `OTHER_TOKEN` (from the data layer, shared with the non-DP folding of rare categories) is
# the category every value a stability histogram did not release maps to, in columns holding
# strings. Here it is always present (at index 0, the encoder's fallback), whether or not any
# value was merged into it, so its presence says nothing about the data. In a column of
# numbers a string cannot be restored to the dtype: there unreleased values fold into the
# released category with the largest noisy count instead.
#: A pseudo-count added to every cell after clamping: zero cells keep a positive width in
#: the CDF, so the quantile map stays strictly increasing and invertible. Post-processing.
_FLOOR = 1e-3

#: The mechanisms, as the ledger records them (a planned release and the executed one carry
#: the same name): a histogram of a numerical or datetime column, a category list.
HISTOGRAM: Final = "discrete laplace"
STABILITY: Final = "stability histogram (discrete laplace)"
Route = Literal["discrete laplace", "stability histogram (discrete laplace)"]


@dataclass(frozen=True)
class PlannedRelease:
    """One DP mechanism preprocessing will run, and its cost (known before reading data)."""

    column: str
    mechanism: Route
    epsilon: float
    delta: float = 0.0

    def release(self) -> Release:
        what = (
            f"quantile map of {self.column!r} (histogram)"
            if self.mechanism == HISTOGRAM
            else f"category list of {self.column!r}"
        )
        # Both mechanisms add discrete Laplace noise of scale 1 / epsilon (sensitivity 1).
        return Release(
            what=what,
            mechanism=self.mechanism,
            epsilon=self.epsilon,
            delta=self.delta,
            noise=1.0 / self.epsilon,
        )


# -- the mechanisms -----------------------------------------------------------------------


def discrete_laplace_counts(counts: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Integer counts of disjoint cells plus discrete Laplace noise of scale ``1 / epsilon``
    each, clamped at 0 (integers).

    epsilon-DP under add/remove-one: a row sits in at most one cell, so the counts' L1
    sensitivity is 1, and the discrete Laplace mechanism is epsilon-DP for it (its pmf
    ratio at neighbouring integers is ``exp(epsilon)``; cells compose in parallel). Clamping
    is post-processing; it biases a near-empty cell upwards (by ``q / (1 - q^2)``, ``q =
    exp(-epsilon)``, for an empty one) but keeps the CDF built from the counts a CDF.
    """
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError("epsilon must be finite and > 0")
    counts = np.asarray(counts)
    if counts.size and not (np.issubdtype(counts.dtype, np.integer) or np.all(counts == np.round(counts))):
        raise ValueError("counts must be whole numbers")
    counts = counts.astype(np.int64)
    return np.maximum(counts + discrete_laplace(1.0 / epsilon, counts.shape, rng), 0)


def stability_threshold(epsilon: float, delta: float) -> int:
    """The noisy count a category needs to be released by `stability_histogram`.

    ``t = 1 + s``, ``s`` the smallest integer with ``q^s / (1 + q) <= delta``, ``q =
    exp(-epsilon)``: ``s = ceil(ln(1 / ((1 + q) delta)) / epsilon)``. Derivation, for
    add/remove-one neighbours and discrete Laplace noise ``Z`` of scale ``b = 1 / epsilon``
    on each present category's count (the stability-based histogram of Korolova et al. 2009
    and Bun, Nissim & Stemmer 2016; Vadhan 2017, Prop. 3.5 states it for replace-one, with
    noise 2 / epsilon): adding a row changes one count by one. If that category is present
    in both tables, its noisy count is an epsilon-DP discrete Laplace release and the
    threshold is post-processing. If it is absent from the smaller table (count 0, so never
    considered there), the larger table releases it only when ``1 + Z >= t``, i.e. ``Z >=
    s`` (both integers). For an integer ``s >= 1``, ``P(Z >= s) = sum_{k >= s} (1 - q) /
    (1 + q) q^k = q^s / (1 + q)``, at most ``delta`` by the choice of ``s`` (``s >= 1``
    holds: ``delta < 1/2 < 1 / (1 + q)``). Everything else is distributed identically, so
    the mechanism is (epsilon, delta)-DP. (For small epsilon ``1 + q`` is about 2 and ``t``
    is the continuous mechanism's ``1 + ln(1 / (2 delta)) / epsilon``, rounded up.)
    """
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError("epsilon must be finite and > 0")
    if not 0 < delta < 0.5:
        raise ValueError("delta must be in (0, 0.5)")
    log_q = -epsilon
    log_tail = math.log1p(math.exp(log_q))  # ln(1 + q)
    steps = max(1, math.ceil((math.log(1.0 / delta) - log_tail) / epsilon))
    while steps * log_q - log_tail > math.log(delta):  # rounding in ceil: never under the bound
        steps += 1
    return 1 + steps


def stability_histogram(
    tokens: np.ndarray, epsilon: float, delta: float, rng: np.random.Generator
) -> tuple[list[str], np.ndarray]:
    """The categories whose noisy count passes `stability_threshold`, most frequent first.

    ``tokens`` are the column's values as strings (nulls left out by the caller). Returns
    the released categories and their noisy counts (sorted together, largest count first);
    the domain need not be known in advance, which is what the threshold pays delta for.
    A category held by one row is released with probability at most ``delta``.
    """
    categories, counts = np.unique(np.asarray(tokens, dtype=str), return_counts=True)
    noisy = counts + discrete_laplace(1.0 / epsilon, counts.shape, rng)
    kept = noisy >= stability_threshold(epsilon, delta)
    order = np.argsort(-noisy[kept], kind="stable")
    return [str(c) for c in categories[kept][order]], noisy[kept][order]


def private_normalizer(
    values: np.ndarray,
    bounds: tuple[float, float],
    epsilon: float,
    rng: np.random.Generator,
    *,
    integer: bool = False,
    bins: int = DEFAULT_BINS,
) -> QuantileNormalizer:
    """A `QuantileNormalizer` whose knots come from an epsilon-DP histogram of ``values``.

    Values are clipped to the declared ``bounds`` (NaN rows are left out: a row adds to at
    most one cell). The cells:

    - an integer column whose range holds at most `MAX_INTEGER_CELLS` integers: one cell
      per integer, and one plateau per integer in the map (values come back exactly);
    - otherwise: a cell for each bound itself, where clipped values and spikes at a natural
      limit (Adult's ``capital_gain == 0``) land and which becomes a plateau, and ``bins``
      equal bins in between, whose edges are the knots (linear within a bin).

    Knots lie within the bounds and never decrease; their CDF levels strictly increase.
    """
    low, high = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError("bounds must be finite with low < high")
    if bins < 1:
        raise ValueError("bins must be >= 1")
    values = np.asarray(values, dtype=np.float64)
    clipped = np.clip(values[~np.isnan(values)], low, high)
    first, last = math.ceil(low), math.floor(high)
    if integer and first <= last and last - first + 1 <= MAX_INTEGER_CELLS:
        grid = np.arange(first, last + 1, dtype=np.float64)
        cells = np.clip(np.rint(clipped) - first, 0, grid.size - 1).astype(np.int64)
        counts = np.bincount(cells, minlength=grid.size)
        return QuantileNormalizer.from_counts(grid, discrete_laplace_counts(counts, epsilon, rng) + _FLOOR)

    # Cell 0 is the low bound, cells 1..bins the bins, cell bins + 1 the high bound.
    inner = 1 + np.clip(((clipped - low) / (high - low) * bins).astype(np.int64), 0, bins - 1)
    cells = np.where(clipped <= low, 0, np.where(clipped >= high, bins + 1, inner))
    weights = discrete_laplace_counts(np.bincount(cells, minlength=bins + 2), epsilon, rng) + _FLOOR
    total = float(weights.sum())
    step = weights / total
    encoder = QuantileNormalizer()
    half_low, half_high = encoder.plateau_half_widths(step[[0, -1]], total)
    levels = np.cumsum(step)
    # A plateau at each bound, in the middle of its step; the bin edges in between at the
    # CDF level they close. Plateau halves are < step / 2, so the levels strictly increase.
    quantiles = np.concatenate([[low, low], low + (high - low) * np.arange(1, bins) / bins, [high, high]])
    references = np.concatenate(
        [
            [step[0] / 2 - half_low, step[0] / 2 + half_low],
            levels[1:bins],
            [1.0 - step[-1] / 2 - half_high, 1.0 - step[-1] / 2 + half_high],
        ]
    )
    return QuantileNormalizer.from_knots(quantiles, references)


def histogram_bins(rows: int, epsilon: float, most: int = DEFAULT_BINS) -> int:
    """Bins for a quantile map's histogram of ``rows`` rows at ``epsilon``: ``most`` on a
    large table; fewer where ``most`` bins would each hold less than the noise (scale
    ``1 / epsilon``), as on a table of a few hundred rows, whose map would then be noise.
    The row count is public here as everywhere in the ledger (DP-SGD's sampling rate, delta
    below 1 / n), so choosing bins from it reads no value."""
    return int(min(max(rows * epsilon / COUNT_OVER_NOISE, 1), most))


# -- the plan: what is public, what is released, at what cost -----------------------------


def _needs_bounds(spec: ColumnSpec, others: list[str]) -> PrivacyConfigError:
    example = "[low, high]" if spec.kind is ColumnKind.NUMERICAL else "['2000-01-01', '2030-12-31']"
    also = f" (so do {', '.join(repr(o) for o in others)})" if others else ""
    return PrivacyConfigError(
        f"column {spec.name!r} needs declared bounds for differential privacy: "
        f"{{kind: {spec.kind.value}, bounds: {example}}} from public knowledge, not from the data{also}",
        where=f"data.columns.{spec.name}",
    )


def _declaration(spec: ColumnSpec, declarations: Mapping[str, ColumnDeclaration]) -> ColumnDeclaration | None:
    declaration = declarations.get(spec.name)
    if declaration is not None and declaration.kind is not spec.kind:
        raise PrivacyConfigError(
            f"column {spec.name!r} is declared {declaration.kind.value} but modelled as {spec.kind.value}",
            where=f"data.columns.{spec.name}",
        )
    return declaration


def plan_private_preprocessing(
    schema: TableSchema,
    declarations: Mapping[str, ColumnDeclaration],
    *,
    epsilon: float,
    delta: float,
    delta_share: float = DEFAULT_DELTA_SHARE,
) -> list[PlannedRelease]:
    """The mechanisms DP preprocessing will run and what each costs; reads no data.

    ``epsilon`` is the preprocessing share, ``delta`` what the ledger has left (a
    ``delta_share`` of it goes to the stability histograms). Raises PrivacyConfigError, one
    line naming the column, when a column has neither a declaration nor a DP route, so a
    pipeline can fail before training.
    """
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise PrivacyConfigError("the preprocessing epsilon must be finite and >= 0", where="train.privacy")
    if not 0 <= delta_share <= 1:
        raise ValueError("delta_share must be in [0, 1]")
    modelled = schema.modelled()
    _check_groups(schema, getattr(declarations, "missing_together", ()))
    routes: list[tuple[str, Route]] = []
    unbounded: list[ColumnSpec] = []
    for spec in modelled:
        declaration = _declaration(spec, declarations)
        if declaration is not None and declaration.values is not None:
            continue  # a declared value set is the whole map: nothing to release
        if spec.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
            if declaration is None or declaration.bounds is None:
                unbounded.append(spec)
            routes.append((spec.name, HISTOGRAM))
        elif spec.kind is ColumnKind.CATEGORICAL and (declaration is None or declaration.categories is None):
            routes.append((spec.name, STABILITY))
    if unbounded:
        raise _needs_bounds(unbounded[0], [s.name for s in unbounded[1:]])
    if not routes:
        return []
    if epsilon <= 0:
        raise PrivacyConfigError(
            f"column {routes[0][0]!r} needs a DP release but the preprocessing epsilon is 0; "
            "declare its domain or give preprocessing a share of epsilon",
            where=f"data.columns.{routes[0][0]}",
        )
    per_mechanism = epsilon / len(routes)
    stability = [name for name, route in routes if route == STABILITY]
    per_stability_delta = delta * delta_share / len(stability) if stability else 0.0
    if stability and not 0 < per_stability_delta < 0.5:
        raise PrivacyConfigError(
            f"column {stability[0]!r} needs declared categories: releasing them privately needs a delta > 0",
            where=f"data.columns.{stability[0]}",
        )
    return [
        PlannedRelease(name, route, per_mechanism, per_stability_delta if route == STABILITY else 0.0)
        for name, route in routes
    ]


def _check_groups(schema: TableSchema, groups: Sequence[Sequence[str]]) -> None:
    """PrivacyConfigError unless every column of ``data.missing_together`` is a modelled number
    or date that may be missing (the groups tie the missing flags only those have)."""
    modelled = {spec.name: spec for spec in schema.modelled()}
    for name in (name for group in groups for name in group):
        spec = modelled.get(name)
        if spec is None or spec.kind not in (ColumnKind.NUMERICAL, ColumnKind.DATETIME) or not spec.nullable:
            raise PrivacyConfigError(
                f"column {name!r} is not a numerical or datetime column that may be missing "
                "(declare it nullable, or leave it out of the group)",
                where="data.missing_together",
            )


# -- fitting ------------------------------------------------------------------------------


def _bounds_in_model_units(spec: ColumnSpec, declaration: ColumnDeclaration) -> tuple[float, float]:
    """Declared bounds in the numbers the transformer encodes (seconds for datetimes)."""
    assert declaration.bounds is not None
    low, high = declaration.bounds
    return _model_units(low), _model_units(high)


def _model_units(bound: float | datetime) -> float:
    if isinstance(bound, datetime):
        # Naive, UTC (the config normalises aware bounds): as the transformer measures.
        return pd.Timestamp(bound).value / 1e9
    return float(bound)


def _category_domain(
    spec: ColumnSpec,
    declaration: ColumnDeclaration | None,
    released: list[str] | None,
    threshold: int | None,
) -> list[str]:
    """The encoder's categories, fallback first, null token last when the column may be null.

    A declared list is the domain as declared: nothing is folded into it, no `OTHER_TOKEN` is
    added, and the null token only when the schema says the column may be null.
    """
    if spec.kind is ColumnKind.BOOLEAN:
        domain = ["False", "True"]
    elif declaration is not None and declaration.categories is not None:
        # A declared domain is complete: a value outside it falls back to the first one.
        domain = list(declaration.categories)
    elif holds_strings(spec.dtype):
        assert released is not None
        domain = [OTHER_TOKEN, *(c for c in released if c != OTHER_TOKEN)]
    else:
        assert released is not None
        if not released:
            # Post-processing of the DP release: this failure reveals nothing further.
            raise PrivacyConfigError(
                f"no category of column {spec.name!r} reached the DP release threshold "
                f"(a noisy count of {threshold:.0f}); declare its categories",
                where=f"data.columns.{spec.name}",
            )
        domain = released
    if spec.nullable:
        domain = [c for c in domain if c != OneHotEncoder.NULL_TOKEN] + [OneHotEncoder.NULL_TOKEN]
    return domain


def fit_private_transformer(
    table: pd.DataFrame,
    schema: TableSchema,
    declarations: Mapping[str, ColumnDeclaration],
    ledger: PrivacyLedger,
    epsilon: float,
    rng_seed: int | None,
    *,
    delta_share: float = DEFAULT_DELTA_SHARE,
    bins: int = DEFAULT_BINS,
) -> tuple[TabularTransformer, list[Release]]:
    """A fitted transformer for ``schema.modelled()`` whose every statistic is public or DP.

    ``epsilon`` is the preprocessing share of the budget, split evenly over the mechanisms
    (`plan_private_preprocessing`); stability histograms take ``delta_share`` of the
    ledger's remaining delta. Each release is charged to ``ledger`` here, just before its
    mechanism runs, after a dry run on a copy of the ledger has shown that all of them fit;
    the releases are also returned, in the order charged. Epsilon that no mechanism needs
    (every domain declared) is not charged, so it stays in the ledger for DP-SGD.

    ``rng_seed`` seeds the noise. The guarantee assumes the noise is secret: a seed an
    adversary knows (the pipeline's ``seed``, printed in the manifest) lets them subtract it.
    Pass None in a real DP run (fresh entropy from the OS) or a seed kept secret; fixed seeds
    are for tests.

    Raises PrivacyConfigError (naming the column or the budget) before any noise is drawn.
    """
    plan = plan_private_preprocessing(
        schema, declarations, epsilon=epsilon, delta=ledger.remaining_delta, delta_share=delta_share
    )
    releases = [p.release() for p in plan]
    _check_the_whole_bill(ledger, releases)
    modelled = schema.modelled()
    require_columns(table, [c.name for c in modelled], "train")
    by_column = {p.column: (p, r) for p, r in zip(plan, releases, strict=True)}
    rng = np.random.default_rng(rng_seed)
    encoders = _Encoders()
    for spec in modelled:  # in schema order: each mechanism draws its noise from rng in turn
        planned: PlannedRelease | None = None
        if spec.name in by_column:
            planned, release = by_column[spec.name]
            ledger.charge(release)
        declaration = declarations.get(spec.name)
        _fit_column(encoders, spec, table[spec.name], declaration, planned, rng, bins=bins)
    groups = getattr(declarations, "missing_together", ())
    transformer = TabularTransformer.from_encoders(
        modelled,
        encoders.numeric,
        encoders.categorical,
        encoders.has_missing,
        MissingPatterns.declared(groups) if groups else None,
    )
    return transformer, releases


@dataclass
class _Encoders:
    """What `TabularTransformer.from_encoders` is built from, filled one column at a time."""

    numeric: dict[str, QuantileNormalizer] = field(default_factory=dict)
    categorical: dict[str, OneHotEncoder] = field(default_factory=dict)
    has_missing: dict[str, bool] = field(default_factory=dict)


def _check_the_whole_bill(ledger: PrivacyLedger, releases: list[Release]) -> None:
    """Charge every release at once to a copy of ``ledger``: a refused budget reads no data."""
    if not releases:
        return
    trial = PrivacyLedger(epsilon=ledger.epsilon, delta=ledger.delta, releases=list(ledger.releases))
    trial.charge(
        Release(
            what=f"DP preprocessing ({len(releases)} releases)",
            mechanism=f"{HISTOGRAM} and {STABILITY}",
            epsilon=math.fsum(r.epsilon for r in releases),
            delta=math.fsum(r.delta for r in releases),
        )
    )


def _fit_column(
    encoders: _Encoders,
    spec: ColumnSpec,
    values: pd.Series,
    declaration: ColumnDeclaration | None,
    planned: PlannedRelease | None,
    rng: np.random.Generator,
    *,
    bins: int,
) -> None:
    """Fit ``spec``'s encoder from its declaration and, where ``planned``, its DP release."""
    if declaration is not None and declaration.values is not None:
        # Declared values, equally weighted: the generator learns how often each occurs.
        grid = np.asarray(declaration.values, dtype=np.float64)
        encoders.numeric[spec.name] = QuantileNormalizer.from_counts(grid, np.ones_like(grid))
        encoders.has_missing[spec.name] = spec.nullable
        return
    if planned is not None and planned.mechanism == HISTOGRAM:
        assert declaration is not None  # the plan gives the histogram route only to declared bounds
        encoders.numeric[spec.name] = private_normalizer(
            numeric_values(spec, values),
            _bounds_in_model_units(spec, declaration),
            planned.epsilon,
            rng,
            integer=spec.integer and spec.kind is ColumnKind.NUMERICAL,
            bins=histogram_bins(len(values), planned.epsilon, most=bins),
        )
        encoders.has_missing[spec.name] = spec.nullable
        return
    released: list[str] | None = None
    threshold: int | None = None
    if planned is not None:  # a stability histogram of the column's values
        tokens = OneHotEncoder.tokens(values)
        released, _ = stability_histogram(
            tokens[tokens != OneHotEncoder.NULL_TOKEN], planned.epsilon, planned.delta, rng
        )
        threshold = stability_threshold(planned.epsilon, planned.delta)
    encoders.categorical[spec.name] = OneHotEncoder.from_categories(
        _category_domain(spec, declaration, released, threshold)
    )
