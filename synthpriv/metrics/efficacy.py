"""Machine-learning efficacy: is a model trained on the synthetic rows as good as one trained on real rows?

Train on synthetic, test on real holdout (TSTR), against train on real, test on the same
holdout (TRTR). Both models are scikit-learn's HistGradientBoosting with the same settings
(`synthpriv.metrics.features.classifier` / `regressor`), fed the schema's modelled columns
except the target. The target's kind decides the task: categorical or boolean → classification
(ROC AUC and macro F1), numerical → regression (R²).

- Binary: the positive class is the less frequent class of the real train rows; the AUC
  scores its predicted probability. Multiclass: macro one-vs-rest ROC AUC over the classes
  present in the holdout. Predicted labels (for F1) are the most probable class.
- Classes come from the real train rows. Holdout or synthetic rows of any other class cannot be
  scored or learned against them and are left out (counted in `notes`); rows without a target
  value are left out too. A synthetic target with a single class cannot train a classifier: that
  model predicts its one class for every row, which scores AUC 0.5, and `notes` says so.
- Uncertainty: percentile bootstrap over the holdout rows. One index matrix resamples the
  holdout's predictions for both models at once (paired), so the ratio synthetic / real gets its
  own interval from the same replicates. Models are not refitted per replicate: the interval
  covers test-set noise, not training noise.

No label, category or row value enters the result: only scores, counts and notes built from counts.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from synthpriv.config.base import StrictModel
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, require_columns
from synthpriv.errors import DataError
from synthpriv.metrics.decisive import DECISIVE_AUC, decisive_features
from synthpriv.metrics.features import (
    bootstrap_weights,
    category_keys,
    classifier,
    column_numbers,
    model_frames,
    percentile_interval,
    regressor,
    weighted_macro_f1,
    weighted_r2,
    weighted_roc_auc,
)
from synthpriv.runtime.seeding import stream_rng, stream_seed

#: Below this real score (R², or AUC) the ratio synthetic / real is noise, not a figure: None.
MIN_REAL_SCORE = 0.05

Task = Literal["binary", "multiclass", "regression"]


class EfficacyResult(StrictModel):
    """TSTR vs TRTR scores on the real holdout, with 95 % percentile bootstrap intervals.

    Ideal: every synthetic score equal to the real one (`ratio` 1). Synthetic scores above the
    real ones are possible by chance; far below them means the synthetic rows lost the
    relations between the features and the target.
    """

    target: str
    task: Task
    """"binary" or "multiclass" (categorical or boolean target), or "regression" (numerical target)."""
    headline_metric: Literal["roc_auc", "r2"]
    """The score `ratio` compares: ROC AUC for classification, R² for regression."""
    n_classes: int | None = Field(default=None, ge=2)
    """Classes of the real train target; None for regression."""
    synthetic_roc_auc: float | None = None
    """ROC AUC of the model trained on synthetic rows (TSTR); ideal: the real one. 0.5 = chance."""
    synthetic_roc_auc_ci: tuple[float, float] | None = None
    real_roc_auc: float | None = None
    """ROC AUC of the model trained on real train rows (TRTR): the reference."""
    real_roc_auc_ci: tuple[float, float] | None = None
    synthetic_f1_macro: float | None = None
    """Macro F1 of the TSTR model's predicted labels; ideal: the real one."""
    synthetic_f1_macro_ci: tuple[float, float] | None = None
    real_f1_macro: float | None = None
    """Macro F1 of the TRTR model's predicted labels."""
    real_f1_macro_ci: tuple[float, float] | None = None
    synthetic_r2: float | None = None
    """R² of the TSTR regressor; ideal: the real one. 0 = no better than the holdout mean."""
    synthetic_r2_ci: tuple[float, float] | None = None
    real_r2: float | None = None
    """R² of the TRTR regressor."""
    real_r2_ci: tuple[float, float] | None = None
    ratio: float | None = None
    """Synthetic score / real score of the headline metric; ideal 1. None when the real score is
    below 0.05 (a ratio of near-zero scores means nothing); negative when the synthetic R² is."""
    ratio_ci: tuple[float, float] | None = None
    """95 % interval of `ratio` from the paired bootstrap replicates."""
    rows_train_real: int = Field(ge=1)
    """Real train rows the TRTR model was fitted on (after dropping and subsampling)."""
    rows_synthetic: int = Field(ge=1)
    """Synthetic rows the TSTR model was fitted on."""
    rows_holdout: int = Field(ge=1)
    """Holdout rows both models were scored on."""
    n_bootstrap: int = Field(ge=0)
    seconds: float = Field(ge=0)
    """Wall-clock time of the whole evaluation."""
    notes: list[str] = Field(default_factory=list)
    """What was left out or could not be modelled (counts only, never values)."""
    decisive_features: list[str] = Field(default_factory=list)
    """Features whose target rate alone scores the real holdout at ROC AUC 0.99 or more
    (`synthpriv.metrics.decisive`): efficacy is then trivial, and is also given without them."""
    decisive_feature_auc: float | None = None
    """The best of their AUCs."""
    synthetic_roc_auc_without_decisive: float | None = None
    """TSTR ROC AUC with every feature but the decisive ones (None: none is, or none is left)."""
    real_roc_auc_without_decisive: float | None = None
    """TRTR ROC AUC with every feature but the decisive ones."""


def ml_efficacy(
    train_real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: TableSchema,
    target: str,
    *,
    seed: int,
    n_bootstrap: int = 200,
    max_rows: int | None = None,
) -> EfficacyResult:
    """TSTR vs TRTR efficacy of ``synthetic`` for predicting ``target``, scored on ``holdout``.

    Each table longer than ``max_rows`` (after rows without a target are dropped) is replaced by
    a seeded random sample of that many rows. Raises DataError when the target is not a
    modelled numerical, categorical or boolean column, when a table is empty or lacks a modelled
    column, when the real train target has fewer than two classes, when the holdout cannot be
    scored (one class, or a constant numerical target), or when a table has no row with a usable target.
    """
    started = time.perf_counter()
    features = _features(schema, target)
    tables = {"real train": train_real, "synthetic": synthetic, "holdout": holdout}
    for role, table in tables.items():
        require_columns(table, [c.name for c in schema.modelled()], role)
    # Named streams of the seed the caller gives (the run's validate/efficacy stream).
    sample_rngs = [stream_rng(seed, "sample", role) for role in tables]
    boot_rng = stream_rng(seed, "bootstrap")
    model_seed = stream_seed(seed, "model")
    notes: list[str] = []
    targets = _Targets.read(tables, schema[target], notes)
    picked = {role: _pick(targets.usable[role], max_rows, rng) for role, rng in zip(tables, sample_rngs)}
    frames = model_frames([tables[role].iloc[rows] for role, rows in picked.items()], schema, features)
    x = dict(zip(picked, frames))
    y = {role: targets.values[role][rows] for role, rows in picked.items()}
    if targets.classes is not None:
        scores, task = _classification(x, y, targets, model_seed, n_bootstrap, boot_rng, notes)
    else:
        scores = _regression(x, y, f"column {target!r}", model_seed, n_bootstrap, boot_rng)
        task = "regression"
    headline: Literal["roc_auc", "r2"] = "r2" if task == "regression" else "roc_auc"
    decisive = _without_decisive(x, y, targets, model_seed, notes) if task == "binary" else {}
    return EfficacyResult.model_validate(
        {
            **decisive,
            "target": target,
            "task": task,
            "headline_metric": headline,
            "n_classes": len(targets.classes) if targets.classes is not None else None,
            **_score_fields(scores, headline, notes),
            "rows_train_real": len(picked["real train"]),
            "rows_synthetic": len(picked["synthetic"]),
            "rows_holdout": len(picked["holdout"]),
            "n_bootstrap": n_bootstrap,
            "seconds": time.perf_counter() - started,
            "notes": notes,
        }
    )


def _without_decisive(
    x: dict[str, pd.DataFrame], y: dict[str, np.ndarray], targets: _Targets, seed: int, notes: list[str]
) -> dict[str, object]:
    """When features alone decide the (binary) target on real rows, their names and best AUC and
    both models' AUC without them (no intervals: the headline keeps them); else nothing."""
    assert targets.classes is not None and targets.counts is not None
    rarest = _rarest_class(targets.counts)
    positive = {role: keys.astype(object) == rarest for role, keys in y.items()}
    found = decisive_features(x["real train"], positive["real train"], x["holdout"], positive["holdout"])
    if not found:
        return {}
    names = [name for name, _ in found]
    out: dict[str, object] = {"decisive_features": names, "decisive_feature_auc": found[0][1]}
    listed = ", ".join(names)
    if len(names) == len(x["holdout"].columns):
        notes.append(f"every feature alone predicts the target (real ROC AUC >= {DECISIVE_AUC}): {listed}")
        return out
    rest = {role: frame.drop(columns=names) for role, frame in x.items()}
    scores, _ = _classification(rest, y, targets, seed, 0, stream_rng(seed, "without decisive"), [])
    real, synthetic = scores["real_roc_auc"][0], scores["synthetic_roc_auc"][0]
    notes.append(
        f"{listed} alone predict{'s' if len(names) == 1 else ''} the target (real ROC AUC "
        f"{found[0][1]:.3f}): without {'it' if len(names) == 1 else 'them'} the synthetic model "
        f"scores {synthetic:.3f} against the real model's {real:.3f}"
    )
    return out | {"synthetic_roc_auc_without_decisive": synthetic, "real_roc_auc_without_decisive": real}


def _rarest_class(counts: pd.Series) -> str:
    """The positive class of a binary target: the rarer real class, the one worth finding (a tie
    goes to the first key; keys are text)."""
    return str(min(counts.items(), key=lambda item: (item[1], item[0]))[0])


def _features(schema: TableSchema, target: str) -> list[str]:
    """The modelled columns besides ``target``; DataError when the target cannot be predicted."""
    where = f"column {target!r}"
    if target not in schema or schema[target].kind is ColumnKind.ID:
        raise DataError("the efficacy target is not a modelled column", where=where)
    if schema[target].kind is ColumnKind.DATETIME:
        raise DataError(
            "the efficacy target must be numerical, categorical or boolean, not datetime", where=where
        )
    features = [c.name for c in schema.modelled() if c.name != target]
    if not features:
        raise DataError("efficacy needs at least one column besides the target", where=where)
    return features


@dataclass
class _Targets:
    """Each table's target: class keys (classification) or numbers, and which rows can be used."""

    values: dict[str, np.ndarray]
    usable: dict[str, np.ndarray]
    classes: np.ndarray | None
    """The real train rows' classes, sorted (None for regression)."""
    counts: pd.Series | None
    """Rows per class among the real train rows (None for regression)."""

    @classmethod
    def read(cls, tables: dict[str, pd.DataFrame], spec: ColumnSpec, notes: list[str]) -> _Targets:
        """Rows without a target value, or (classification) of a class the real train rows lack,
        are left out and counted in ``notes``."""
        if spec.kind is ColumnKind.NUMERICAL:
            numbers = {role: column_numbers(table[spec.name], spec) for role, table in tables.items()}
            targets = cls(numbers, {role: ~np.isnan(v) for role, v in numbers.items()}, None, None)
        else:
            keys = {role: category_keys(table[spec.name]).to_numpy() for role, table in tables.items()}
            targets = cls(keys, {role: pd.notna(v) for role, v in keys.items()}, None, None)
        targets._note_missing(notes)
        if spec.kind is not ColumnKind.NUMERICAL:
            targets._keep_known_classes(f"column {spec.name!r}", notes)
        for role, mask in targets.usable.items():
            if not mask.any():
                raise DataError(f"no {role} row has a usable target value", where=f"column {spec.name!r}")
        return targets

    def _note_missing(self, notes: list[str]) -> None:
        for role, mask in self.usable.items():
            if not mask.all():
                notes.append(f"{int((~mask).sum())} {role} rows without a target value were left out")

    def _keep_known_classes(self, where: str, notes: list[str]) -> None:
        self.counts = pd.Series(self.values["real train"][self.usable["real train"]]).value_counts()
        if len(self.counts) < 2:
            raise DataError("the real train target has fewer than two classes", where=where)
        self.classes = np.sort(self.counts.index.to_numpy(dtype=object))
        for role in ("holdout", "synthetic"):
            unknown = self.usable[role] & ~pd.Series(self.values[role]).isin(self.classes).to_numpy()
            if unknown.any():
                self.usable[role] &= ~unknown
                notes.append(
                    f"{int(unknown.sum())} {role} rows of classes absent from the real train rows "
                    "were left out"
                )


def _score_fields(scores: Scores, headline: str, notes: list[str]) -> dict[str, object]:
    """Every score with its interval, and the ratio synthetic / real of the headline score."""
    fields: dict[str, object] = {}
    for name, (point, replicates) in scores.items():
        fields[name] = point
        fields[f"{name}_ci"] = percentile_interval(replicates, point)
    real_point, real_replicates = scores[f"real_{headline}"]
    synthetic_point, synthetic_replicates = scores[f"synthetic_{headline}"]
    if real_point < MIN_REAL_SCORE:
        notes.append(f"the real model's {headline} ({real_point:.3f}) is below {MIN_REAL_SCORE}: no ratio")
        return fields
    ratio = synthetic_point / real_point
    with np.errstate(invalid="ignore", divide="ignore"):
        paired = np.where(real_replicates >= MIN_REAL_SCORE, synthetic_replicates / real_replicates, np.nan)
    return fields | {"ratio": ratio, "ratio_ci": percentile_interval(paired, ratio)}


Scores = dict[str, tuple[float, np.ndarray]]


def _pick(usable: np.ndarray, max_rows: int | None, rng: np.random.Generator) -> np.ndarray:
    """Positions of the usable rows, a seeded sample of ``max_rows`` of them when there are more."""
    rows = np.flatnonzero(usable)
    if max_rows is not None and len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    return rows


def _classification(
    x: dict[str, pd.DataFrame],
    y: dict[str, np.ndarray],
    targets: _Targets,
    seed: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    notes: list[str],
) -> tuple[Scores, Task]:
    """Scores of the classifiers fitted on the real and the synthetic rows (class keys ``y``)."""
    assert targets.classes is not None and targets.counts is not None  # classification
    classes, counts = targets.classes, targets.counts
    codes = {role: np.searchsorted(classes, keys.astype(object)).astype(np.int64) for role, keys in y.items()}
    n_classes = len(classes)
    truth = codes["holdout"]
    if np.unique(truth).size < 2:
        raise DataError(
            "the holdout target has fewer than two classes: ROC AUC is undefined", where="holdout table"
        )
    synthetic_classes = np.unique(codes["synthetic"]).size
    if synthetic_classes == 1:
        notes.append(
            "the synthetic target holds a single class: its model predicts that class for every row "
            "(ROC AUC 0.5)"
        )
    elif synthetic_classes < n_classes:
        notes.append(
            f"the synthetic target lacks {n_classes - synthetic_classes} of the {n_classes} real classes"
        )
    probabilities = {
        "real": _class_probabilities(x["real train"], codes["real train"], x["holdout"], n_classes, seed),
        "synthetic": _class_probabilities(x["synthetic"], codes["synthetic"], x["holdout"], n_classes, seed),
    }
    positive = int(np.searchsorted(classes, _rarest_class(counts)))
    task: Task = "binary" if n_classes == 2 else "multiclass"

    def score(weights: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for role, proba in probabilities.items():
            if task == "binary":
                auc = weighted_roc_auc(weights, truth == positive, proba[:, positive])
            else:
                per_class = np.stack(
                    [weighted_roc_auc(weights, truth == c, proba[:, c]) for c in range(n_classes)], axis=1
                )
                # Classes a (resampled) holdout lacks have no AUC and drop out of the macro mean.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a replicate where none has one
                    auc = np.nanmean(per_class, axis=1)
            out[f"{role}_roc_auc"] = auc
            out[f"{role}_f1_macro"] = weighted_macro_f1(weights, truth, proba.argmax(axis=1), n_classes)
        return out

    return _bootstrap(score, len(truth), n_bootstrap, rng), task


def _class_probabilities(
    x_train: pd.DataFrame, y_train: np.ndarray, x_test: pd.DataFrame, n_classes: int, seed: int
) -> np.ndarray:
    """Probabilities of every real class (columns 0..n_classes-1) for the test rows.

    A class the train rows lack gets probability 0; a single-class train target yields that
    class with probability 1 everywhere (the trees cannot be fitted on one class).
    """
    full = np.zeros((len(x_test), n_classes))
    present = np.unique(y_train)
    if present.size == 1:
        full[:, present[0]] = 1.0
        return full
    model = classifier(seed).fit(x_train, y_train)
    full[:, model.classes_] = model.predict_proba(x_test)
    return full


def _regression(
    x: dict[str, pd.DataFrame],
    targets: dict[str, np.ndarray],
    where: str,
    seed: int,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> Scores:
    """Scores of the regressors fitted on the real and the synthetic rows."""
    y = {role: values.astype(float) for role, values in targets.items()}
    if np.ptp(y["holdout"]) == 0:
        raise DataError("the holdout target is constant: R² is undefined", where=where)
    truth = y["holdout"]
    predictions = {
        "real": regressor(seed).fit(x["real train"], y["real train"]).predict(x["holdout"]),
        "synthetic": regressor(seed).fit(x["synthetic"], y["synthetic"]).predict(x["holdout"]),
    }

    def score(weights: np.ndarray) -> dict[str, np.ndarray]:
        return {f"{role}_r2": weighted_r2(weights, truth, p) for role, p in predictions.items()}

    return _bootstrap(score, len(truth), n_bootstrap, rng)


def _bootstrap(
    score: Callable[[np.ndarray], dict[str, np.ndarray]],
    n_rows: int,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> Scores:
    """Point estimates (every row weight 1) and the paired replicates of every score."""
    points = {name: float(values[0]) for name, values in score(np.ones((1, n_rows))).items()}
    blocks = [score(weights) for weights in bootstrap_weights(n_rows, n_bootstrap, rng)]
    return {
        name: (point, np.concatenate([block[name] for block in blocks]) if blocks else np.empty(0))
        for name, point in points.items()
    }
