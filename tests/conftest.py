"""Shared fixtures: the demo table that sdmetrics ships, and pipeline files in tmp folders."""

from __future__ import annotations

import copy
import hashlib
import os

# Before pandas, sklearn or torch load their OpenMP runtimes (synthpriv's own import sets it too).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Under pytest-xdist each worker gets its share of the cores (one thread each on CI's two cores,
# where two workers of two threads each put four busy threads on two cores: scikit-learn's
# gradient boosting then spent more time waiting for its other thread than computing, 15 s
# against 5.7 s for test_efficacy.py). The `synthpriv` processes tests start inherit it. An
# explicit OMP_NUM_THREADS wins; one process (`-n 0`) keeps every core.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if _WORKERS > 0:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

from pathlib import Path

import pandas as pd
import pytest
import yaml

from synthpriv.data.io import builtin_table_path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def demo_table() -> pd.DataFrame:
    return pd.read_csv(builtin_table_path("student_placements"))


@pytest.fixture
def write_pipeline(tmp_path: Path):
    """Write a pipeline file (dict or raw text) into tmp_path; returns its path."""

    def write(content: dict | str, name: str = "pipeline.yaml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text)
        return path

    return write


#: validate settings that keep a test run's validate stage to a second or two.
TINY_VALIDATE = {
    "max_rows": 100,
    "model_rows": 100,
    "efficacy_rows": 100,
    "neighbour_rows": 100,
    "bootstrap": 0,
}


def quick_demo_config(**overrides: object) -> dict:
    """The demo pipeline with few epochs, for tests."""
    config: dict = {
        "name": "demo-test",
        "seed": 0,
        "data": {"path": "builtin:student_placements", "holdout": 0.2, "target": "placed"},
        "train": {
            "generator": "vae",
            "epochs": 15,
            "batch_size": 64,
            "params": {"hidden_dims": [64, 64], "latent_dim": 16},
        },
        "synthesize": {"rows": 300},
        "attack": {"quasi_identifiers": ["gender", "degree_type"], "sensitive": "placed"},
    }
    config.update(copy.deepcopy(overrides))  # a shared constant passed in stays unchanged
    return config


@pytest.fixture(scope="session")
def students(demo_table: pd.DataFrame) -> pd.DataFrame:
    """The demo table as pandas reads the CSV (dates as strings), a copy per use is the caller's job."""
    return demo_table


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    """UCI Adult from ../shared (skipped where the shared datasets are absent)."""
    path = SHARED / "adult.parquet"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return pd.read_parquet(path)


def one_line_error(result, code: int, *needles: str) -> str:  # type: ignore[no-untyped-def]
    """Assert a CLI result failed with ``code`` and exactly one ``error:`` line holding ``needles``."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed): file hashes, link targets, folders."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[key] = "dir"
    return out
