"""TVAE and its span heads on a small real table (the sdmetrics student placements demo)."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sdmetrics
import torch

from synthpriv.data.spans import Span
from synthpriv.errors import ModelFileError
from synthpriv.generators.base import FitReport
from synthpriv.generators.heads import SpanHeads
from synthpriv.generators.model_files import (
    GENERATOR_FILE,
    META_SHA256,
    WEIGHTS_FILE,
    load_generator,
    meta_sha256,
    save_generator,
)
from synthpriv.generators.tvae import TVAE

DEMO = Path(sdmetrics.__file__).parent / "demos/single_table/student_placements_real.csv"


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return pd.read_csv(DEMO)


def _report(generator: TVAE, table: pd.DataFrame) -> FitReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id-column notice
        return generator.fit(table)


def _fit(table: pd.DataFrame, *, epochs: int, seed: int = 0) -> TVAE:
    generator = TVAE(epochs=epochs, seed=seed)
    _report(generator, table)
    return generator


@pytest.fixture(scope="module")
def fitted(demo: pd.DataFrame) -> TVAE:
    return _fit(demo, epochs=60)


def test_fit_reports_one_history_entry_per_epoch(demo: pd.DataFrame) -> None:
    report = _report(TVAE(epochs=5, seed=0), demo)
    assert report.epochs == 5
    assert [h["epoch"] for h in report.history] == [0, 1, 2, 3, 4]
    assert {"loss", "reconstruction", "kl"} <= set(report.history[0])


def test_loss_decreases_over_training(demo: pd.DataFrame) -> None:
    history = _report(TVAE(epochs=30, seed=0), demo).history
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]


def test_sample_has_the_inputs_columns_order_and_dtypes(fitted: TVAE, demo: pd.DataFrame) -> None:
    synthetic = fitted.sample(300, seed=1)
    assert len(synthetic) == 300
    assert list(synthetic.columns) == list(demo.columns)
    pd.testing.assert_series_equal(synthetic.dtypes, demo.dtypes)
    assert synthetic["student_id"].tolist() == list(range(300))  # ids are regenerated
    assert set(synthetic["gender"]) <= set(demo["gender"])
    assert len(fitted.sample(0)) == 0


def test_same_seed_same_rows_other_seed_other_rows(fitted: TVAE) -> None:
    pd.testing.assert_frame_equal(fitted.sample(200, seed=3), fitted.sample(200, seed=3))
    assert not fitted.sample(200, seed=3).equals(fitted.sample(200, seed=4))


def test_fitting_twice_with_one_seed_gives_the_same_model(demo: pd.DataFrame) -> None:
    first, second = _fit(demo, epochs=5, seed=11), _fit(demo, epochs=5, seed=11)
    pd.testing.assert_frame_equal(first.sample(100, seed=0), second.sample(100, seed=0))
    assert not first.sample(100, seed=0).equals(_fit(demo, epochs=5, seed=12).sample(100, seed=0))


def test_missing_values_are_reproduced(fitted: TVAE, demo: pd.DataFrame) -> None:
    synthetic = fitted.sample(1000, seed=0)
    assert demo["salary"].isna().mean() == pytest.approx(67 / 215)
    for column in ("salary", "start_date", "duration"):
        assert 0.1 < synthetic[column].isna().mean() < 0.5, column
    assert synthetic["gender"].notna().all()


def test_save_and_load_give_the_same_rows(fitted: TVAE, tmp_path: Path) -> None:
    save_generator(fitted, tmp_path)
    loaded = load_generator(tmp_path)
    assert type(loaded) is TVAE
    pd.testing.assert_frame_equal(loaded.sample(150, seed=5), fitted.sample(150, seed=5))


class _Payload:
    """Stands in for an arbitrary object smuggled into a weights file."""


def _rewrite_weights(directory: Path, payload: bytes, *, fix_checksum: bool) -> None:
    (directory / WEIGHTS_FILE).write_bytes(payload)
    if fix_checksum:  # an attacker who also rewrites the checksums in generator.json
        meta = json.loads((directory / GENERATOR_FILE).read_text())
        meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
        meta[META_SHA256] = meta_sha256(meta)
        (directory / GENERATOR_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize(("fix_checksum", "reason"), [(False, "checksum"), (True, "cannot be loaded safely")])
def test_tampered_weights_are_refused(fitted: TVAE, tmp_path: Path, fix_checksum: bool, reason: str) -> None:
    save_generator(fitted, tmp_path)
    _rewrite_weights(tmp_path, pickle.dumps(_Payload()), fix_checksum=fix_checksum)
    with pytest.raises(ModelFileError, match=reason), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch notes the foreign pickle protocol
        load_generator(tmp_path)


def test_weights_of_another_shape_are_refused(fitted: TVAE, tmp_path: Path) -> None:
    save_generator(fitted, tmp_path)
    state = fitted._state_dict()
    state["log_sigma"] = torch.zeros(99)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _rewrite_weights(tmp_path, buffer.getvalue(), fix_checksum=True)
    with pytest.raises(ModelFileError, match="cannot be loaded safely"):
        load_generator(tmp_path)


# -- span heads ---------------------------------------------------------------------------

SPANS = (
    Span("a", "category", 0, 3, "softmax"),
    Span("x", "value", 3, 1, "identity"),
    Span("x", "missing", 4, 2, "softmax"),
    Span("y", "value", 6, 1, "identity"),
    Span("b", "category", 7, 2, "softmax"),
)


def _target(rows: int, generator: torch.Generator) -> torch.Tensor:
    target = torch.zeros(rows, 9)
    for span in SPANS:
        if span.activation == "softmax":
            pick = torch.randint(span.width, (rows,), generator=generator)
            target[torch.arange(rows), span.start + pick] = 1.0
        else:
            target[:, span.start] = torch.randn(rows, generator=generator)
    return target


def test_heads_losses_match_a_per_span_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    raw, target = 5 * torch.randn(8, 9, generator=generator), _target(8, generator)
    log_sigma = torch.tensor([-1.0, -2.0])
    value_nll, category_ce = SpanHeads.from_spans(SPANS).losses(raw, target, log_sigma)
    expected_ce = sum(
        torch.nn.functional.cross_entropy(
            raw[:, s.start : s.stop], target[:, s.start : s.stop].argmax(1), reduction="sum"
        )
        for s in SPANS
        if s.activation == "softmax"
    )
    present = target[:, 4]  # x is left out of its likelihood where it is missing
    sigma = log_sigma.exp()
    nll_x = (((target[:, 3] - raw[:, 3]) ** 2) / (2 * sigma[0] ** 2) + log_sigma[0]) * present
    nll_y = ((target[:, 6] - raw[:, 6]) ** 2) / (2 * sigma[1] ** 2) + log_sigma[1]
    assert category_ce.item() == pytest.approx(float(expected_ce) / 8, rel=1e-5)
    assert value_nll.item() == pytest.approx(float(nll_x.sum() + nll_y.sum()) / 8, rel=1e-5)


def test_heads_sample_one_hot_blocks_following_the_logits() -> None:
    heads = SpanHeads.from_spans(SPANS)
    raw = torch.zeros(4000, 9)
    raw[:, 0:3] = torch.tensor([0.0, np.log(3.0), -30.0])  # probabilities 1/4, 3/4, ~0
    raw[:, 3] = 2.0
    rows = heads.sample(raw, torch.tensor([np.log(0.5), np.log(0.01)]), torch.Generator().manual_seed(0))
    for span in SPANS:
        if span.activation == "softmax":
            assert torch.all(rows[:, span.start : span.stop].sum(1) == 1.0)
    assert rows[:, 1].mean().item() == pytest.approx(0.75, abs=0.03)
    assert rows[:, 2].sum().item() == 0
    assert rows[:, 3].mean().item() == pytest.approx(2.0, abs=0.05)
    assert rows[:, 3].std().item() == pytest.approx(0.5, abs=0.05)
    again = heads.sample(raw, torch.tensor([np.log(0.5), np.log(0.01)]), torch.Generator().manual_seed(0))
    assert torch.equal(rows, again)
