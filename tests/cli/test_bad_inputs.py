"""The bad-input suite (issue 8): one case per bad input, each through the real CLI.

A bad input that can be told up front fails `synthpriv check`; one that shows only while
running fails `synthpriv run`. Either way: a non-zero exit, exactly one line on stderr that
starts with ``error: ``, names the file, key or column and says what to do, no traceback, and
nothing half-written (no files under ``.staging``, no stage folder without its ``stage.json``,
no temporary files, earlier outputs unchanged).

Where the right answer is to go on (names with spaces, unicode or HTML; missing values; a
constant column; text mixing numbers and words; an id; a column of rare categories), one
shared tiny run takes them all, and each case checks what the export kept.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.config.model import STAGES
from tests.cli.terminal import run_error_line

runner = CliRunner()
ROWS = 60  # holdout 0.2: 48 training rows


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One OpenMP thread: on a busy two-core machine, spinning threads make sklearn ~10x slower."""
    with threadpool_limits(1):
        yield


def tiny_table(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "sex": rng.choice(["F", "M"], n),
            "score": rng.normal(size=n).round(3),
        }
    )


def tiny_config(path: str = "data.csv", **sections: dict[str, Any]) -> dict[str, Any]:
    """A pipeline that trains for seconds (2 epochs of a small vae)."""
    config: dict[str, Any] = {
        "name": "bad-input",
        "seed": 0,
        "data": {"path": path, "holdout": 0.2},
        "train": {
            "generator": "vae",
            "epochs": 2,
            "batch_size": 32,
            "params": {"hidden_dims": [16], "latent_dim": 4},
        },
        "synthesize": {"rows": ROWS},
        "validate": {"bootstrap": 0},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


def write(folder: Path, config: dict[str, Any] | str, name: str = "pipeline.yaml") -> Path:
    path = folder / name
    path.write_text(
        config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    )
    return path


def error_line(result) -> str:  # type: ignore[no-untyped-def]
    """The one error line a failed command printed (asserting there is exactly one, and no
    traceback); before it, a run that got to its stages prints only its stage table."""
    assert result.exit_code not in (0, 70), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return run_error_line(result, result.exit_code)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under a run folder with its hash (the manifest and index say how the last run went: left out)."""
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "index.html")
    }


def assert_nothing_half_written(out: Path, before: dict[str, str]) -> None:
    if not out.exists():
        return
    assert not [p for p in (out / ".staging").rglob("*") if p.is_file()], "files left in .staging"
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name], "temporary files left"
    assert not (out / ".lock").exists()
    for stage in STAGES:
        if (out / stage).exists():
            assert (out / stage / "stage.json").is_file(), f"{stage}/ without its stage.json"
    after = snapshot(out)
    assert {k: after.get(k) for k in before} == before, "an earlier output changed"


# -- cases found before any work: `synthpriv check` -------------------------------------------


@dataclass
class Case:
    """One bad input: how to make it, and what the error line must hold."""

    id: str
    make: Callable[[Path], Path]  # writes the data and the pipeline file into a folder; returns the file
    code: int
    needles: tuple[str, ...]  # the place (file, key or column) and what to do
    setup: Callable[[Path, pytest.MonkeyPatch], None] | None = field(default=None, repr=False)


def _csv(
    frame: pd.DataFrame, config: dict[str, Any] | None = None, name: str = "data.csv"
) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        frame.to_csv(folder / name, index=False)
        return write(folder, config or tiny_config(name))

    return make


def _raw(
    content: bytes | None, name: str, config: dict[str, Any] | str | None = None
) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        if content is None:
            (folder / name).mkdir()
        else:
            (folder / name).write_bytes(content)
        return write(folder, config or tiny_config(name))

    return make


def _unreadable(folder: Path) -> Path:
    tiny_table().to_csv(folder / "data.csv", index=False)
    os.chmod(folder / "data.csv", 0)
    return write(folder, tiny_config())


def _as_root_reading_fails(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 does not stop root: make the CSV reader meet the error it would meet."""
    if os.access(folder / "data.csv", os.R_OK):
        from synthpriv.data import io

        def denied(path: Any, *args: Any, **kwargs: Any) -> Any:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

        monkeypatch.setattr(io.pacsv, "read_csv", denied)


def _dp(**privacy: Any) -> dict[str, Any]:
    declared = {
        "age": {"kind": "numerical", "bounds": [0, 120]},
        "score": {"kind": "numerical", "bounds": [-5, 5]},
    }
    return tiny_config(data={"columns": declared}, train={"privacy": privacy})


TINY = tiny_table()
CHECK_CASES = [
    Case(
        "malformed YAML",
        _raw(b"", "data.csv", "name: t\ndata:\n\tpath: data.csv\n"),
        2,
        (":3:", "malformed YAML"),
    ),
    Case(
        "unknown key",
        _raw(b"", "data.csv", "name: t\ndata:\n  path: data.csv\n  holdot: 0.2\n"),
        2,
        (":4:", "data.holdot", "unknown key", "did you mean 'holdout'"),
    ),
    Case(
        "wrong type", _csv(TINY, tiny_config(train={"epochs": "many"})), 2, ("train.epochs", "valid integer")
    ),
    Case(
        "missing data file",
        lambda d: write(d, tiny_config("missing.csv")),
        3,
        ("data.path", "missing.csv", "not found", "check the path"),
    ),
    Case(
        "unreadable data file (chmod 000)",
        _unreadable,
        3,
        ("data.csv", "permission denied", "make the file readable"),
        setup=_as_root_reading_fails,
    ),
    Case(
        "data path is a folder",
        _raw(None, "data.csv"),
        3,
        ("data.csv", "is a folder with no .parquet files", "point it at the file"),
    ),
    Case(
        "garbage bytes named .parquet",
        _raw(os.urandom(600), "data.parquet"),
        3,
        ("data.parquet", "cannot read as Parquet", "valid Parquet file"),
    ),
    Case(
        "neither CSV nor Parquet (.xlsx)",
        _raw(b"PK\x03\x04 not a sheet", "data.xlsx"),
        3,
        ("data.xlsx", "unsupported file type", "use .csv (also .csv.gz, .csv.bz2, .csv.zst), .parquet"),
    ),
    Case(
        "binary bytes named .csv",
        _raw(bytes(range(256)) * 3, "data.csv"),
        3,
        ("data.csv", "cannot read as CSV", "valid CSV file"),
    ),
    Case(
        "empty file (0 bytes)", _raw(b"", "data.csv"), 3, ("data.csv", "empty (0 bytes)", "header and rows")
    ),
    Case(
        "empty table (header only)",
        _raw(b"age,sex,score\n", "data.csv"),
        3,
        ("data.csv", "no rows", "at least one row"),
    ),
    Case(
        "a table with one row",
        _csv(tiny_table(1)),
        3,
        ("data.holdout", "1 rows are too few", "use a larger table"),
    ),
    Case(
        "fewer rows than the holdout and the attacks need",
        # 10 training and 5 held-out rows: validate's k-NN coverage needs 6
        _csv(tiny_table(15), tiny_config(data={"holdout": 0.34})),
        3,
        ("data.holdout", "6 holdout rows", "change data.holdout"),
    ),
    Case(
        "infinities",
        _csv(TINY.assign(score=np.where(np.arange(ROWS) == 7, np.inf, TINY["score"]))),
        3,
        ("data.csv", "column 'score'", "infinite values", "replace them"),
    ),
    Case(
        "duplicate column names",
        _raw(b"age,sex,age\n" + b"30,F,31\n" * ROWS, "data.csv"),
        3,
        ("data.csv", "duplicate column names ['age']", "rename them"),
    ),
    Case(
        "target names no column",
        _csv(TINY, tiny_config(data={"target": "outcome"})),
        3,
        ("data.target", "'outcome'", "fix the name"),
    ),
    Case(
        "quasi-identifier names no column",
        _csv(TINY, tiny_config(attack={"quasi_identifiers": ["sex", "agee"]})),
        3,
        ("attack.quasi_identifiers[1]", "'agee'", "did you mean 'age'"),
    ),
    Case(
        "sensitive names no column",
        _csv(TINY, tiny_config(attack={"sensitive": "income"})),
        3,
        ("attack.sensitive", "'income'", "fix the name"),
    ),
    Case(
        "condition names no column",
        _csv(TINY, tiny_config(synthesize={"conditions": {"sexx": "F"}})),
        3,
        ("synthesize.conditions.sexx", "did you mean 'sex'"),
    ),
    Case("negative epsilon", _csv(TINY, _dp(epsilon=-1.0)), 2, ("train.privacy.epsilon", "greater than 0")),
    Case("zero epsilon", _csv(TINY, _dp(epsilon=0)), 2, ("train.privacy.epsilon", "greater than 0")),
    Case(
        "delta of exactly 1/n",
        _csv(TINY, _dp(epsilon=1.0, delta=1 / 48)),
        4,
        ("train.privacy.delta", "must be below 1/n"),
    ),
    Case(
        "delta above 1/n",
        _csv(TINY, _dp(epsilon=1.0, delta=0.5)),
        4,
        ("train.privacy.delta", "must be below 1/n"),
    ),
]


@pytest.mark.parametrize("case", CHECK_CASES, ids=[c.id for c in CHECK_CASES])
def test_check_refuses_with_one_line(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = case.make(tmp_path)
    if case.setup is not None:
        case.setup(tmp_path, monkeypatch)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["check", str(path)])
    line = error_line(result)
    assert result.exit_code == case.code, line
    assert f"{path}:" in line  # file:line of the pipeline file
    for needle in case.needles:
        assert needle in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # check writes nothing


def test_run_refuses_up_front_too(tmp_path: Path) -> None:
    """`run` makes the same checks before any work: nothing is created for a one-row table."""
    path = _csv(tiny_table(1))(tmp_path)
    out = tmp_path / "out"
    line = error_line(runner.invoke(app, ["run", "-q", str(path), "-o", str(out)]))
    assert "data.holdout" in line and f"{path}:" in line
    assert not out.exists()


# -- cases that go on: one shared run -----------------------------------------------------------

SPACES, UNICODE, HTML = "age in years", "Geschlecht ü 性别", "<b>score</b>&amp;"


def proceed_table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = ROWS
    partly = rng.normal(50, 10, n).round(1)
    partly[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame(
        {
            SPACES: rng.integers(18, 80, n),
            UNICODE: rng.choice(["weiblich", "männlich"], n),
            HTML: rng.normal(size=n).round(3),
            "constant number": 7.5,
            "constant int": 3,
            "constant text": "same",
            "partly missing": partly,
            "text partly missing": rng.choice(["a", "b", None], n),
            "all missing": [None] * n,
            "mixed": ["1", "two", "3.5"] * (n // 3),  # numbers and words: read as text
            # unique whole numbers, named like an id
            "patient_id": rng.permutation(np.arange(10_000, 10_000 + n)),
            "city": [f"town-{i // 2:02d}" for i in range(n)],  # 30 categories of 2 rows: none may be learned
        }
    )


@dataclass
class Run:
    folder: Path
    pipeline: Path
    out: Path
    real: pd.DataFrame
    export: pd.DataFrame
    result: Any


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("proceed")
    proceed_table().to_csv(folder / "data.csv", index=False)
    pipeline = write(folder, tiny_config())
    out = folder / "out"
    with threadpool_limits(1):
        result = runner.invoke(app, ["run", "-q", str(pipeline), "-o", str(out)])
    assert result.exit_code == 0, result.output
    real = pd.read_csv(folder / "data.csv")
    return Run(folder, pipeline, out, real, pd.read_parquet(out / "export" / "synthetic.parquet"), result)


def _names_round_trip(run: Run) -> None:
    assert list(run.export.columns) == list(run.real.columns)
    for page in run.out.rglob("*.html"):  # shown as text, never as markup
        assert HTML not in page.read_text(encoding="utf-8"), page
    check = runner.invoke(app, ["check", str(run.pipeline)])
    assert (
        check.exit_code == 0
        and f"{SPACES}: numerical" in check.stdout
        and f"{UNICODE}: categorical" in check.stdout
    )


def _constant_columns(run: Run) -> None:
    assert run.export["constant number"].tolist() == [7.5] * len(run.export)
    assert run.export["constant int"].tolist() == [3] * len(run.export)
    assert str(run.export["constant int"].dtype) == "int64"
    assert run.export["constant text"].tolist() == ["same"] * len(run.export)


def _missing_values(run: Run) -> None:
    assert run.export["all missing"].isna().all()
    assert str(run.export["partly missing"].dtype) == "float64"
    assert set(run.export["text partly missing"].dropna()) <= {"a", "b"}


def _mixed_types(run: Run) -> None:
    assert set(run.export["mixed"]) <= {"1", "two", "3.5"}  # text, exactly as written
    assert run.export["mixed"].map(type).eq(str).all()


def _id_column(run: Run) -> None:
    exported = run.export["patient_id"]
    assert exported.is_unique and not set(exported) & set(run.real["patient_id"])  # regenerated, not learned
    assert "patient_id: id" in runner.invoke(app, ["check", str(run.pipeline)]).stdout


def _rare_categories(run: Run) -> None:
    assert set(run.export["city"]) == {"(other)"}
    for path in (run.out / "train" / "model").iterdir():
        assert "town-" not in path.read_text(encoding="utf-8", errors="ignore"), path


PROCEED_CASES = {
    "column names with spaces, unicode and HTML": _names_round_trip,
    "a constant column": _constant_columns,
    "missing values and a column that is all missing": _missing_values,
    "a column of mixed types (numbers and words)": _mixed_types,
    "a numerical column that is really an id": _id_column,
    "a categorical column with more categories than rows allow": _rare_categories,
}


@pytest.mark.parametrize("check", PROCEED_CASES.values(), ids=list(PROCEED_CASES))
def test_proceeds_and_keeps_the_data(shared_run: Run, check: Callable[[Run], None]) -> None:
    assert "Traceback" not in shared_run.result.output
    assert not [line for line in shared_run.result.stderr.splitlines() if line.startswith("error")]
    check(shared_run)


# -- cases found while running: `synthpriv run` on a copy of the shared run --------------------


def _copy_of(run: Run, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(run.out, out)
    return out


def test_condition_value_that_never_occurs(shared_run: Run, tmp_path: Path) -> None:
    out = _copy_of(shared_run, tmp_path)
    before = snapshot(out)
    path = write(
        shared_run.folder, tiny_config(synthesize={"conditions": {UNICODE: "divers"}}), "condition.yaml"
    )
    line = error_line(runner.invoke(app, ["run", "-q", str(path), "-o", str(out)]))
    assert f"{path}:" in line and f"synthesize.conditions.{UNICODE}" in line and "not a category" in line
    assert_nothing_half_written(out, before)


def test_output_folder_that_cannot_be_written(shared_run: Run, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["run", "-q", str(shared_run.pipeline), "-o", str(blocker / "run")])
    line = error_line(result)
    assert result.exit_code == 74
    assert str(blocker) in line and "choose another --output-dir" in line
    assert blocker.read_text() == "not a folder"


def test_a_full_disk(shared_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The synthetic table's write meets ENOSPC: one line, the earlier outputs as they were."""
    import pyarrow.parquet as pq

    from synthpriv.data import io

    class FullDisk(pq.ParquetWriter):
        def write_table(self, table: Any, *args: Any, **kwargs: Any) -> None:
            raise OSError(
                errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device"
            )

    monkeypatch.setattr(io.pq, "ParquetWriter", FullDisk)
    out = _copy_of(shared_run, tmp_path)
    before = snapshot(out)
    # A new synthesize section: train is reused, synthesize runs again and meets the full disk.
    path = write(shared_run.folder, tiny_config(synthesize={"rows": ROWS + 1}), "disk-full.yaml")
    result = runner.invoke(app, ["run", "-q", str(path), "-o", str(out)])
    line = error_line(result)
    assert result.exit_code == 74
    assert (
        "synthetic.parquet" in line and "No space left on device" in line and "free some disk space" in line
    )
    assert_nothing_half_written(out, before)


@pytest.fixture
def tiny_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 160 KiB tmpfs (a real full disk); skipped where mounting is not allowed (not root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)]
    if os.geteuid() != 0 or subprocess.run(command, check=False, capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_really_full_disk(shared_run: Run, tiny_disk: Path) -> None:
    """The same on a real full file system: whichever write meets ENOSPC, one line and no partial stage."""
    out = tiny_disk / "run"
    result = runner.invoke(app, ["run", "-q", str(shared_run.pipeline), "-o", str(out)])
    line = error_line(result)
    assert result.exit_code == 74
    assert f"{out}/" in line and "No space left on device" in line and "free some disk space" in line
    assert_nothing_half_written(out, {})
