"""Export and the reports people share: gated Parquet with provenance, the data card, the
index's verdict, and `synthpriv report` / `synthpriv runs` on a finished run (issue 7)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.data.io import read_table
from synthpriv.data.split import Split
from synthpriv.errors import GateFailedError
from synthpriv.pipeline import Pipeline
from synthpriv.runner import failed_run, outcome_lines
from synthpriv.runtime.seeding import stream_seed
from tests.conftest import quick_demo_config

pytestmark = pytest.mark.slow
runner = CliRunner()
STAGES = ("train", "synthesize", "validate", "attack", "export")


def _typed_demo(folder: Path) -> Path:
    """The demo table with every dtype the export must keep: category, nullable integer,
    datetime, boolean, string and float."""
    table = read_table("builtin:student_placements")
    table["degree_type"] = table["degree_type"].astype("category")
    years = table["experience_years"].round().astype("Int64")
    years[::7] = pd.NA
    table["experience_years"] = years
    table["start_date"] = pd.to_datetime(table["start_date"])
    table["placed"] = table["placed"].astype(bool)
    path = folder / "typed.parquet"
    table.to_parquet(path, index=False)
    return path


def _run(pipeline: Path, out: Path, *extra: str) -> object:
    return runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(out), *extra])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("export")
    source = _typed_demo(folder)
    config = quick_demo_config(
        data={"path": str(source), "holdout": 0.2, "target": "placed"},
        synthesize={"rows": 300, "batch_size": 128},
        export={"formats": ["parquet", "csv"]},
        gates={"min_quality": 0.3, "max_membership_auc": 0.99},
    )
    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    out = folder / "run"
    result = _run(pipeline, out)
    assert result.exit_code == 0, result.output
    return source, pipeline, out


def test_export_keeps_the_input_columns_order_and_dtypes(exported: tuple[Path, Path, Path]) -> None:
    source, _, out = exported
    real = pd.read_parquet(source)
    synthetic = pd.read_parquet(out / "export" / "synthetic.parquet")
    assert list(synthetic.columns) == list(real.columns)
    for column in real.columns:
        assert synthetic[column].dtype == real[column].dtype, column
    assert isinstance(synthetic["degree_type"].dtype, pd.CategoricalDtype)
    assert synthetic["experience_years"].dtype == "Int64"
    # Written as the sampler streamed: 300 rows in batches of 128 are three row groups.
    assert pq.ParquetFile(out / "export" / "synthetic.parquet").num_row_groups == 3
    pd.testing.assert_frame_equal(synthetic, pd.read_parquet(out / "synthesize" / "synthetic.parquet"))


def test_export_metadata_carries_the_provenance(exported: tuple[Path, Path, Path]) -> None:
    _, _, out = exported
    meta = json.loads(pq.read_schema(out / "export" / "synthetic.parquet").metadata[b"synthpriv"])
    manifest = json.loads((out / "manifest.json").read_text())
    synthesize = json.loads((out / "synthesize" / "summary.json").read_text())
    assert meta["generator"] == "vae" and meta["seed"] == 0
    # The rows' seed is the run's ("synthesize", "rows") stream unless synthesize.seed is set.
    assert meta["sampling_seed"] == synthesize["seed"] == stream_seed(0, "synthesize", "rows", bits=32)
    assert meta["config_sha256"] == manifest["config_sha256"]
    assert meta["differential_privacy"] == "none"
    assert meta["synthpriv_version"] == manifest["synthpriv_version"]
    assert {g["name"] for g in meta["gates"]} == {"min_quality", "max_membership_auc"}
    assert meta["gates_forced"] is False and manifest["allow_failed_gates"] is False


def test_csv_beside_the_parquet_holds_the_same_rows(exported: tuple[Path, Path, Path]) -> None:
    _, _, out = exported
    parquet = pd.read_parquet(out / "export" / "synthetic.parquet")
    csv = pd.read_csv(out / "export" / "synthetic.csv")
    assert list(csv.columns) == list(parquet.columns) and len(csv) == len(parquet)
    pd.testing.assert_series_equal(csv["mba_perc"], parquet["mba_perc"], check_dtype=False)
    summary = json.loads((out / "export" / "summary.json").read_text())
    assert [f["path"] for f in summary["files"]] == ["synthetic.parquet", "synthetic.csv"]


def test_data_card_says_what_how_faithful_how_private_without_values(
    exported: tuple[Path, Path, Path],
) -> None:
    source, _, out = exported
    card = json.loads((out / "export" / "datacard.json").read_text())
    assert card["verdict"].startswith("exported: all 2 gate(s) passed")
    assert card["generated"]["rows"] == 300 and card["generated"]["generator"] == "vae"
    assert card["source"]["training_rows"] == 172
    assert [c["name"] for c in card["source"]["columns"]] == list(pd.read_parquet(source).columns)
    kinds = {h["kind"] for h in card["headlines"]}
    assert kinds == {"fidelity", "privacy"}
    assert all(h["reference"] for h in card["headlines"])
    markdown = (out / "export" / "datacard.md").read_text()
    for heading in (
        "## What this is",
        "## What it was made from",
        "## How private",
        "## How faithful",
        "## Gates",
    ):
        assert heading in markdown
    real = pd.read_parquet(source)
    unique = [str(v) for v in real["mba_perc"].value_counts().loc[lambda s: s == 1].index[:20]]
    for text in (markdown, json.dumps(card)):
        for value in unique:
            assert value not in text


def test_index_leads_with_the_verdict_guarantee_and_linked_figures(exported: tuple[Path, Path, Path]) -> None:
    _, _, out = exported
    html = (out / "index.html").read_text()
    assert html.index("Export allowed") < html.index("Privacy guarantee") < html.index("Stage reports")
    for stage in STAGES:
        assert f'href="{stage}/report.html"' in html
    assert _missing_links(out) == []  # every "How it is measured" lands on a section that exists
    assert 'href="attack/report.html#membership"' in html and 'href="validate/report.html#fidelity"' in html
    assert "real holdout" in html and "ideal 0.5" in html and "95% CI" in html
    for stage in STAGES:  # every stage report has the same header and navigation
        page = (out / stage / "report.html").read_text()
        assert 'href="../index.html"' in page and all(f'href="../{s}/report.html"' in page for s in STAGES)


def test_the_synthesize_page_draws_missing_values_beside_the_training_rows(
    exported: tuple[Path, Path, Path],
) -> None:
    source, _, out = exported
    summary = json.loads((out / "synthesize" / "summary.json").read_text())
    split = Split.from_frame(pd.read_parquet(out / "train" / "split.parquet"))
    training = pd.read_parquet(source).iloc[split.train]
    # Every 7th experience_years is missing in the source: the share among the training rows.
    expected = training["experience_years"].isna().mean()
    assert 0.1 < expected < 0.2 and summary["real_missing_share"]["experience_years"] == pytest.approx(
        expected, abs=1e-6
    )
    assert all(isinstance(share, float) for share in summary["real_missing_share"].values())  # shares only
    page = (out / "synthesize" / "report.html").read_text()
    assert "Missing values per column, real against synthetic" in page and "experience_years" in page


def test_report_command_renders_the_same_pages_again(exported: tuple[Path, Path, Path]) -> None:
    _, _, out = exported
    pages = [out / "index.html", *(out / s / "report.html" for s in STAGES)]
    before = {p: p.read_bytes() for p in pages}
    for page in pages:
        page.unlink()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert {p: p.read_bytes() for p in pages} == before
    # Re-rendering leaves every stage intact: a new run reuses all five.
    again = _run(exported[1], out)
    assert again.exit_code == 0 and again.stderr.count("reused") == 5, again.output


def test_runs_lists_the_run_with_its_verdict(exported: tuple[Path, Path, Path]) -> None:
    _, _, out = exported
    result = runner.invoke(app, ["runs", str(out.parent)])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("demo-test"))
    assert "Export allowed" in line and "vae" in line and str(out) in line


def test_report_on_a_folder_that_is_no_run_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 7
    assert result.stderr.strip().count("\n") == 0 and "no manifest.json" in result.stderr


def _missing_links(run_dir: Path) -> list[str]:
    """Every local link of the run's pages whose file or section does not exist: 'page -> href'."""
    missing = []
    for page in [run_dir / "index.html", *run_dir.glob("*/report.html")]:
        html = page.read_text()
        for href in re.findall(r'href="([^"]+)"', html):
            if href.startswith(("http://", "https://", "data:")):
                continue
            target, _, anchor = href.partition("#")
            path = (page.parent / target).resolve() if target else page
            if not path.is_file() or (anchor and f'id="{anchor}"' not in path.read_text()):
                missing.append(f"{page.relative_to(run_dir)} -> {href}")
    return missing


def test_a_failed_run_keeps_its_stage_table_for_the_terminal(tmp_path: Path) -> None:
    config = quick_demo_config(gates={"min_quality": 0.999})
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    with pytest.raises(GateFailedError) as raised:
        Pipeline.from_yaml(pipeline, output_dir=tmp_path / "run").run()
    result = failed_run(raised.value)
    assert result is not None
    lines = outcome_lines(result)
    assert [line.split()[:2] for line in lines[:5]] == [
        ["train", "ran"],
        ["synthesize", "ran"],
        ["validate", "ran"],
        ["attack", "ran"],
        ["export", "failed"],
    ]
    assert lines[-1] == f"open {tmp_path / 'run' / 'index.html'}"
    assert failed_run(ValueError("raised elsewhere")) is None


def test_failed_gates_each_get_a_line_and_block_export_unless_forced(tmp_path: Path) -> None:
    config = quick_demo_config(gates={"min_quality": 0.999, "max_detection_auc": 0.51, "min_validity": 0.5})
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    result = _run(pipeline, out)
    assert result.exit_code == 5, result.output
    # The error lines (the terminal also shows the stage table and where the pages are).
    errors = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert errors[0].startswith("error: gate min_quality FAILED:") and "must be >= 0.999" in errors[0]
    assert errors[1].startswith("error: gate max_detection_auc FAILED:") and "must be <= 0.51" in errors[1]
    assert "use --allow-failed-gates" in errors[2] and len(errors) == 3
    assert "Traceback" not in result.output
    assert not (out / "export").exists()
    html = (out / "index.html").read_text()
    assert "Not exported" in html and "min_quality: " in html and "max_detection_auc: " in html
    # No page links to the export page that was not written, and the index says why there is none.
    assert _missing_links(out) == []
    assert "nothing was exported because a gate failed" in html
    # `synthpriv report` renders the pages again with the same tabs: none for the missing export page.
    rendered = runner.invoke(app, ["report", str(out)])
    assert rendered.exit_code == 0, rendered.output
    assert _missing_links(out) == [] and not (out / "export").exists()
    assert all("export/report.html" not in (out / s / "report.html").read_text() for s in STAGES[:-1])

    forced = _run(pipeline, out, "--allow-failed-gates")
    assert forced.exit_code == 0, forced.output
    meta = json.loads(pq.read_schema(out / "export" / "synthetic.parquet").metadata[b"synthpriv"])
    assert meta["gates_forced"] is True
    assert [g["name"] for g in meta["gates"] if not g["passed"]] == ["min_quality", "max_detection_auc"]
    assert json.loads((out / "manifest.json").read_text())["allow_failed_gates"] is True
    assert "at the data owner's request" in (out / "export" / "datacard.md").read_text()
    assert "Exported despite failed gates" in (out / "index.html").read_text()
    assert _missing_links(out) == []
