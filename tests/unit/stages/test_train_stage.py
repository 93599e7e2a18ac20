"""Train-stage diagnostics."""

from __future__ import annotations

import pandas as pd

from synthpriv.data.schema import infer_schema
from synthpriv.stages.train import category_coverage


def test_category_coverage_counts_real_categories_reproduced() -> None:
    real = pd.DataFrame(
        {"colour": ["red", "blue", "green", "red"] * 6, "flag": [True, False] * 12, "x": range(24)}
    )
    synthetic = pd.DataFrame({"colour": ["red", "red", "blue", None], "flag": [True] * 4, "x": [1, 2, 3, 4]})
    coverage = category_coverage(real, synthetic, infer_schema(real))
    assert coverage == {"colour": 2 / 3, "flag": 0.5}
