"""Anonymeter's inference and linkability threat models (Giomi et al., PoPETs 2023), reimplemented.

Who is who. The generator saw the train rows and never the holdout rows. Each attack runs on
``n = min(len(train), len(holdout), max_rows)`` *attack* targets (a seeded sample of train
rows) and as many *control* targets (a seeded sample of holdout rows). The attacker holds the
whole synthetic table and, for each target, some of its columns (the auxiliary knowledge).
Distances are those of `synthpriv.attacks.distance.DistanceEncoding` (numbers min-max scaled,
a category mismatch counts 1), fitted on the synthetic rows of the columns the attacker uses:
the attacker holds nothing else. Nearest neighbours come from the same chunked float32 matrix
products as `nearest_distances` (memory near 64 MiB whatever the sizes, no per-row loop), the
shortlisted candidates re-ranked in float64; exact ties go to the lower synthetic row index, as
in Anonymeter, so quasi-identifiers that many rows share weaken both attacks.

1. Inference (`inference_risk`): the attacker knows a target's quasi-identifiers, takes the
   synthetic row nearest on them and guesses its value of the ``sensitive`` column. A guess
   succeeds when it equals the truth for a categorical, boolean or datetime column (missing
   equals missing); for a numerical column when |guess - truth| <= 0.05 |truth| (Anonymeter's
   relative tolerance, so a truth of 0 needs an exact guess; missing equals missing).
   Baseline: the sensitive value of a uniformly random synthetic row, scored on the attack
   targets.
2. Linkability (`linkability_risk`): the attacker holds two disjoint column sets A and B of a
   target, say from two data sources, and tries to tell that they belong to one person. For
   each target the ``n_neighbors`` synthetic rows nearest on A and the ``n_neighbors`` nearest
   on B are found; the target is linked when the two sets share a row. Baseline: two random
   sets of ``n_neighbors`` distinct synthetic rows each (the number of shared rows is then
   hypergeometric, drawn exactly).

Scoring, per attack: success rates on the attack targets, on the control targets and for the
baseline; risk = (attack - control) / (1 - control), clipped to [0, 1] (0 when control = 1: no
attack can do better than the population). A risk near 0 means the synthetic data tell the
attacker no more about the rows the generator saw than about any row of the population.
``weaker_than_baseline`` flags an attack that did no better than random guessing: its risk
says little either way. The singling-out attack (`synthpriv.attacks.singling_out`) is scored
the same way.

The risk interval (`risk_interval`) counts the uncertainty of both rates, as the Anonymeter
paper does: with e_a and e_c the half-widths of the 95 % Wilson intervals of the attack rate a
and the control rate c, the error of r(a, c) = (a - c) / (1 - c) is propagated to first order,

    error = sqrt((e_a dr/da)^2 + (e_c dr/dc)^2),  dr/da = 1 / (1 - c),  dr/dc = (a - 1) / (1 - c)^2,

and the interval is [r - error, r + error] around the unclipped estimate r (a and c the
observed shares), clipped to [0, 1]. Holding c fixed, as an interval of a alone would, makes a
small control sample look exact. When c = 1 the risk cannot be measured: the interval is [0, 1].

Results hold aggregates only: no value, distance or per-record outcome.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from synthpriv.attacks.base import (
    AttackInputs,
    AttackNeeds,
    RiskAttack,
    RiskResult,
    SeedLike,
    spawn_seeds,
)
from synthpriv.attacks.distance import DistanceEncoding, squared_distance_blocks
from synthpriv.config.base import StrictModel
from synthpriv.data.sampling import sample_rows
from synthpriv.data.schema import ColumnKind, TableSchema, require_columns
from synthpriv.errors import DataError

#: Relative tolerance of a numerical guess: success when |guess - truth| <= 0.05 |truth|.
NUMERIC_TOLERANCE = 0.05
_Z95 = 1.959963984540054
#: Candidates beyond k whose distances are recomputed in float64 (`_nearest_indices`).
_SHORTLIST = 8
_MISSING = "\x00missing"  # a key no real label can collide with


def wilson_interval(successes: int, trials: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % by default)."""
    if trials <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    center = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    # At 0 or n successes an end is exactly 0 or 1; the formula leaves rounding noise there.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == trials else min(1.0, center + half)
    return low, high


def risk_from_rates(attack: float, control: float) -> float:
    """(attack - control) / (1 - control), clipped to [0, 1]; 0 when control is 1."""
    if control >= 1.0:
        return 0.0
    return float(min(1.0, max(0.0, (attack - control) / (1.0 - control))))


def risk_interval(
    attack_successes: int, attack_trials: int, control_successes: int, control_trials: int
) -> tuple[float, float]:
    """95 % interval of the risk (attack - control) / (1 - control), from both rates' uncertainty.

    First-order propagation of the half-widths of the two Wilson intervals (module docstring),
    around the risk of the observed shares, clipped to [0, 1]; [0, 1] when every control
    attempt succeeded. Raises ValueError when a count lies outside [0, trials].
    """
    for successes, trials in ((attack_successes, attack_trials), (control_successes, control_trials)):
        if trials < 1 or not 0 <= successes <= trials:
            raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    attack = attack_successes / attack_trials
    control = control_successes / control_trials
    if control >= 1.0:
        return 0.0, 1.0
    attack_low, attack_high = wilson_interval(attack_successes, attack_trials)
    control_low, control_high = wilson_interval(control_successes, control_trials)
    risk = (attack - control) / (1.0 - control)
    d_attack = 1.0 / (1.0 - control)
    d_control = (attack - 1.0) / (1.0 - control) ** 2
    error = math.hypot(
        (attack_high - attack_low) / 2 * d_attack, (control_high - control_low) / 2 * d_control
    )
    return _clip01(risk - error), _clip01(risk + error)


def risk_result(
    name: str,
    *,
    attack_successes: int,
    control_successes: int,
    baseline_successes: int,
    trials: int,
    started: float,
    queries: int | None = None,
    rows: int | None = None,
) -> RiskResult:
    """The `RiskResult` of an attack from its success counts, each out of ``trials``.

    ``started`` is the `time.perf_counter()` reading when the attack began.
    """
    attack_rate, control_rate, baseline_rate = (
        attack_successes / trials,
        control_successes / trials,
        baseline_successes / trials,
    )
    return RiskResult(
        name=name,
        attack_rate=attack_rate,
        attack_rate_ci=wilson_interval(attack_successes, trials),
        control_rate=control_rate,
        control_rate_ci=wilson_interval(control_successes, trials),
        baseline_rate=baseline_rate,
        risk=risk_from_rates(attack_rate, control_rate),
        risk_ci=risk_interval(attack_successes, trials, control_successes, trials),
        targets=trials,
        weaker_than_baseline=attack_rate <= baseline_rate,
        seconds=time.perf_counter() - started,
        queries=queries,
        rows=rows,
    )


def inference_risk(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    quasi_identifiers: Sequence[str],
    sensitive: str,
    seed: SeedLike,
    max_rows: int = 2000,
) -> RiskResult:
    """Inference attack: guess ``sensitive`` from the synthetic row nearest on the quasi-identifiers.

    Raises DataError when a table is empty, lacks a column, or the columns are not usable.
    """
    started = time.perf_counter()
    quasi_identifiers = list(quasi_identifiers)
    _check_columns(schema, quasi_identifiers, "quasi-identifier")
    _check_columns(schema, [sensitive], "sensitive")
    if sensitive in quasi_identifiers:
        raise DataError(f"the sensitive column {sensitive!r} is also a quasi-identifier", where="inference")
    members, non_members, rng = _targets(
        train, holdout, synthetic, [*quasi_identifiers, sensitive], seed, max_rows
    )
    encoding = DistanceEncoding.fit(synthetic, _subschema(schema, quasi_identifiers))
    synthetic_x = encoding.transform(synthetic)
    numerical = schema[sensitive].kind is ColumnKind.NUMERICAL
    guesses = _sensitive_values(synthetic[sensitive], numerical)

    def successes(targets: pd.DataFrame, index: np.ndarray) -> np.ndarray:
        return _correct(guesses[index], _sensitive_values(targets[sensitive], numerical), numerical)

    attack = successes(members, _nearest_indices(encoding.transform(members), synthetic_x, 1)[:, 0])
    control = successes(non_members, _nearest_indices(encoding.transform(non_members), synthetic_x, 1)[:, 0])
    baseline = successes(members, rng.integers(0, len(synthetic), len(members)))
    return _result("inference", attack, control, baseline, started)


def linkability_risk(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    columns_a: Sequence[str] | None = None,
    columns_b: Sequence[str] | None = None,
    quasi_identifiers: Sequence[str] | None = None,
    seed: SeedLike,
    max_rows: int = 2000,
    n_neighbors: int = 1,
) -> RiskResult:
    """Linkability attack: do a target's ``n_neighbors`` nearest synthetic rows on A and on B meet?

    Without ``columns_a`` and ``columns_b`` the ``quasi_identifiers`` (by default every
    modelled column) are split in half, in their order: A the first half, B the rest.
    Raises DataError when a table is empty, lacks a column, or the column sets are unusable.
    """
    started = time.perf_counter()
    if (columns_a is None) != (columns_b is None):
        raise DataError("give both columns_a and columns_b, or neither", where="linkability")
    if columns_a is None or columns_b is None:
        pool = (
            list(quasi_identifiers) if quasi_identifiers is not None else [c.name for c in schema.modelled()]
        )
        if len(pool) < 2:
            raise DataError("linkability needs at least two columns to split", where="linkability")
        columns_a, columns_b = pool[: len(pool) // 2], pool[len(pool) // 2 :]
    columns_a, columns_b = list(columns_a), list(columns_b)
    _check_columns(schema, columns_a, "columns_a")
    _check_columns(schema, columns_b, "columns_b")
    if set(columns_a) & set(columns_b):
        raise DataError(
            f"columns_a and columns_b share {sorted(set(columns_a) & set(columns_b))}", where="linkability"
        )
    if not 1 <= n_neighbors <= len(synthetic):
        raise DataError(
            f"n_neighbors must lie in [1, {len(synthetic)}], got {n_neighbors}", where="linkability"
        )
    members, non_members, rng = _targets(train, holdout, synthetic, [*columns_a, *columns_b], seed, max_rows)
    encodings = [DistanceEncoding.fit(synthetic, _subschema(schema, cols)) for cols in (columns_a, columns_b)]
    synthetic_x = [encoding.transform(synthetic) for encoding in encodings]

    def linked(targets: pd.DataFrame) -> np.ndarray:
        near_a, near_b = (
            _nearest_indices(encoding.transform(targets), x, n_neighbors)
            for encoding, x in zip(encodings, synthetic_x)
        )
        return (near_a[:, :, None] == near_b[:, None, :]).any(axis=(1, 2))

    # Two random k-subsets of N rows: by symmetry fix the first as rows 0..k-1; the second's
    # rows among them are hypergeometric, and the sets meet when there is at least one.
    k = n_neighbors
    baseline = rng.hypergeometric(k, len(synthetic) - k, k, size=len(members)) > 0
    return _result("linkability", linked(members), linked(non_members), baseline, started)


# --- helpers ------------------------------------------------------------------------------


def _check_columns(schema: TableSchema, columns: Sequence[str], role: str) -> None:
    if not columns:
        raise DataError(f"no {role} column given", where="anonymeter")
    if len(set(columns)) != len(columns):
        raise DataError(f"repeated {role} column in {list(columns)}", where="anonymeter")
    modelled = {c.name for c in schema.modelled()}
    unknown = [c for c in columns if c not in modelled]
    if unknown:
        raise DataError(
            f"{role} column(s) {unknown} are not modelled columns of the schema", where="anonymeter"
        )


def _subschema(schema: TableSchema, columns: Sequence[str]) -> TableSchema:
    return TableSchema(columns=tuple(schema[name] for name in columns))


def _targets(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: Sequence[str],
    seed: SeedLike,
    max_rows: int,
) -> tuple[pd.DataFrame, pd.DataFrame, np.random.Generator]:
    """Seeded samples of train (attack) and holdout (control) rows of one size, and the baseline's
    generator."""
    for role, table in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        require_columns(table, columns, role)
    if max_rows < 1:
        raise DataError(f"max_rows must be at least 1, got {max_rows}", where="anonymeter")
    train_rng, holdout_rng, baseline_rng = (np.random.default_rng(s) for s in spawn_seeds(seed, 3))
    n = min(len(train), len(holdout), max_rows)
    return sample_rows(train, n, train_rng), sample_rows(holdout, n, holdout_rng), baseline_rng


def _nearest_indices(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Indices (queries x k) of each query's k nearest reference rows, nearest first.

    The float32 products shortlist `_SHORTLIST` extra candidates per query, whose distances are
    then recomputed in float64: float32 rounding cannot tell apart rows closer than about 1e-3
    of a column's range, and picking the wrong one of two near-copies would hide a copy.
    Exact ties go to the lower index among the shortlisted rows.
    """
    width = min(len(reference), k + _SHORTLIST)
    out = np.empty((len(queries), k), dtype=np.int64)
    reference64 = np.asarray(reference, dtype=np.float64)
    for start, block in squared_distance_blocks(queries, reference, chunk=1024):
        if width == len(reference):
            candidates = np.broadcast_to(np.arange(width), (len(block), width))
        else:
            candidates = np.argpartition(block, width - 1, axis=1)[:, :width]
        candidates = np.sort(candidates, axis=1)  # index order, so that exact ties go to the lower index
        part = np.asarray(queries[start : start + len(block)], dtype=np.float64)
        difference = reference64[candidates] - part[:, None, :]
        exact = np.einsum("ijk,ijk->ij", difference, difference)
        best = np.argsort(exact, axis=1, kind="stable")[:, :k]
        out[start : start + len(block)] = np.take_along_axis(candidates, best, axis=1)
    return out


def _sensitive_values(values: pd.Series, numerical: bool) -> np.ndarray:
    """Floats (NaN = missing) for a numerical column, text keys (one for missing) otherwise."""
    if numerical:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return np.where(np.isfinite(numbers), numbers, np.nan)
    return values.astype(object).astype(str).where(values.notna().to_numpy(), _MISSING).to_numpy(dtype=object)


def _correct(guesses: np.ndarray, truth: np.ndarray, numerical: bool) -> np.ndarray:
    if not numerical:
        return guesses == truth
    both_missing = np.isnan(guesses) & np.isnan(truth)
    with np.errstate(invalid="ignore"):
        close = np.abs(guesses - truth) <= NUMERIC_TOLERANCE * np.abs(truth)
    return both_missing | close


def _result(
    name: str, attack: np.ndarray, control: np.ndarray, baseline: np.ndarray, started: float
) -> RiskResult:
    return risk_result(
        name,
        attack_successes=int(attack.sum()),
        control_successes=int(control.sum()),
        baseline_successes=int(baseline.sum()),
        trials=int(attack.size),
        started=started,
    )


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


# --- the registered attacks -----------------------------------------------------------------


class InferenceSettings(StrictModel):
    """``attack.settings.inference``."""

    targets: int = Field(default=2000, ge=10, le=100_000)
    """Train rows (and as many holdout rows) the attack targets (the flat key `attack.risk_targets`)."""


class LinkabilitySettings(StrictModel):
    """``attack.settings.linkability``."""

    targets: int = Field(default=2000, ge=10, le=100_000)
    """Train rows (and as many holdout rows) the attack targets (the flat key `attack.risk_targets`)."""
    neighbors: int = Field(default=10, ge=1, le=1000)
    """Nearest synthetic rows of each half that must overlap (`attack.linkability_neighbors`)."""


def attacked_rows(inputs: AttackInputs, name: str) -> tuple[pd.DataFrame, np.random.SeedSequence]:
    """The synthetic rows a row-level attack searches (a seeded sample past `max_rows`: at 1M rows
    the full search took 88 s of the stage's 128) and the seed of the attack itself."""
    sample_seed, attack_seed = inputs.seed_sequence(name).spawn(2)
    return inputs.synthetic_sample(np.random.default_rng(sample_seed)), attack_seed


class InferenceAttack(RiskAttack[InferenceSettings]):
    name = "inference"
    title = "attribute inference"
    description = (
        "Attribute inference: an attacker who knows a person's quasi-identifiers takes the sensitive "
        "value of the closest synthetic row."
    )
    settings_model = InferenceSettings
    needs = AttackNeeds(quasi_identifiers=1, sensitive=True)
    gates = ("max_inference_risk",)
    legacy_settings = (("targets", "risk_targets"),)

    def run(self, inputs: AttackInputs, settings: InferenceSettings) -> RiskResult:
        attacked, seed = attacked_rows(inputs, self.name)
        assert inputs.sensitive is not None  # skip_reason: the stage runs it only with a sensitive column
        return inference_risk(
            inputs.train,
            inputs.holdout,
            attacked,
            inputs.schema,
            quasi_identifiers=inputs.quasi_identifiers,
            sensitive=inputs.sensitive,
            seed=seed,
            max_rows=settings.targets,
        )


class LinkabilityAttack(RiskAttack[LinkabilitySettings]):
    name = "linkability"
    title = "linkability"
    description = (
        "Linkability: an attacker holds two halves of the quasi-identifiers from two sources and counts them "
        "linked when the synthetic rows nearest to each half overlap."
    )
    settings_model = LinkabilitySettings
    needs = AttackNeeds(quasi_identifiers=2)
    gates = ("max_linkage_risk",)
    legacy_settings = (("targets", "risk_targets"), ("neighbors", "linkability_neighbors"))

    def run(self, inputs: AttackInputs, settings: LinkabilitySettings) -> RiskResult:
        attacked, seed = attacked_rows(inputs, self.name)
        return linkability_risk(
            inputs.train,
            inputs.holdout,
            attacked,
            inputs.schema,
            quasi_identifiers=inputs.quasi_identifiers,
            seed=seed,
            max_rows=settings.targets,
            n_neighbors=min(settings.neighbors, len(attacked)),
        )
