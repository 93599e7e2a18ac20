"""The `synthpriv` command. The only place where errors become exit codes and one line."""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from synthpriv.errors import GateFailedError, StageError, SynthprivError
from synthpriv.runtime.terminal import printable

if TYPE_CHECKING:  # the CLI imports the pipeline lazily, so that --help stays fast
    from synthpriv.config.model import StageName
    from synthpriv.privacy.marginal_plan import MarginalPlan
    from synthpriv.privacy.plan import PrivacyPlan
    from synthpriv.runner import RunResult
    from synthpriv.runs import RunInfo

app = typer.Typer(
    name="synthpriv",
    help="Privacy-preserving synthetic data for tables: train, synthesize, validate, attack, export.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

#: The stage names for --only/--from help (config.model.STAGES; literal here so that --help
#: imports nothing of the package beyond this module).
_STAGE_NAMES = "train, synthesize, validate, attack or export"


def _print_version(value: bool) -> None:
    if value:
        from synthpriv import __version__

        typer.echo(f"synthpriv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Privacy-preserving synthetic data for tables: train, synthesize, validate, attack, export."""


PipelineArg = Annotated[Path, typer.Argument(help="The pipeline file (YAML).", show_default=False)]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]
INTERNAL_ERROR = 70


def _fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {printable(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _say(text: str, **kwargs: Any) -> None:
    """Echo a line built from names the user chose (columns, files, runs), made inert first."""
    typer.echo(printable(text), **kwargs)


class _Guard:
    """Runs a command body; maps our errors to one line and an exit code (plus the traceback with --debug)."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def __enter__(self) -> None:
        from synthpriv.runtime.logging import configure_logging

        configure_logging(logging.DEBUG if self.debug else logging.WARNING)
        if not self.debug:
            warnings.simplefilter("ignore")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, (typer.Exit, typer.Abort, SystemExit)):
            return  # nothing to map: the exception, if any, goes on
        if self.debug:  # the traceback, then the same line and exit code as without --debug
            traceback.print_exception(exc, file=sys.stderr)
        if isinstance(exc, GateFailedError):
            for line in exc.failed:
                typer.secho(f"error: {printable(line)}", err=True, fg=typer.colors.RED)
            if not exc.message:
                raise typer.Exit(exc.exit_code) from None
        if isinstance(exc, SynthprivError):
            raise _fail(str(exc), exc.exit_code) from None
        if isinstance(exc, KeyboardInterrupt):
            raise _fail("interrupted; completed stages are kept, run again to continue", 130) from None
        if isinstance(exc, OSError):
            raise _fail(_describe_os_error(exc), 74) from None
        hint = "" if self.debug else "; run again with --debug for the traceback"
        raise _fail(f"internal error ({type(exc).__name__}){hint}", INTERNAL_ERROR) from None


def _guard(debug: bool) -> _Guard:
    return _Guard(debug)


def _stage_option(option: str, value: str | None) -> StageName | None:
    """The stage named by ``--only``/``--from`` (None when the option is not given)."""
    from synthpriv.config.model import STAGES
    from synthpriv.errors import ConfigError

    if value is None:
        return None
    for stage in STAGES:
        if value == stage:
            return stage
    raise ConfigError(f"unknown stage {value!r}; stages: {', '.join(STAGES)}", where=option)


_OS_ERROR_HINTS = {
    errno.ENOSPC: "free some disk space and run again (completed stages are kept)",
    errno.EDQUOT: "free some space in your quota and run again (completed stages are kept)",
    errno.EACCES: "make it writable for this user or choose another --output-dir",
    errno.EPERM: "make it writable for this user or choose another --output-dir",
    errno.EROFS: "the file system is read-only; choose another --output-dir",
    errno.ENOTDIR: "a file is in the way of a folder; choose another --output-dir or move that file",
    errno.EEXIST: "a file is in the way; choose another --output-dir or move that file",
}


def _describe_os_error(exc: OSError) -> str:
    """One line for an OS error: the file, what went wrong, and what to do about it."""
    where = f"{exc.filename}: " if exc.filename else ""
    what = os.strerror(exc.errno) if exc.errno else (exc.strerror or type(exc).__name__)
    hint = _OS_ERROR_HINTS.get(exc.errno or 0, "check the path and run again")
    return f"{where}{what}; {hint}"


@app.command()
def run(
    pipeline: PipelineArg,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Where the run writes (overrides the file's output_dir)."),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help=f"Run this stage alone (its inputs must exist): {_STAGE_NAMES}."),
    ] = None,
    from_stage: Annotated[
        str | None,
        typer.Option("--from", help=f"Run from this stage on, redoing it even if unchanged: {_STAGE_NAMES}."),
    ] = None,
    allow_failed_gates: Annotated[
        bool,
        typer.Option("--allow-failed-gates", help="Export even if a gate failed (recorded in the manifest)."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Run the pipeline: train → synthesize → validate → attack → export."""
    with _guard(debug):
        from synthpriv.pipeline import Pipeline
        from synthpriv.runner import failed_run
        from synthpriv.runtime.progress import terminal_progress

        only_stage, first_stage = _stage_option("--only", only), _stage_option("--from", from_stage)
        started = time.perf_counter()
        runner = Pipeline.from_yaml(
            pipeline,
            output_dir=output_dir,
            progress=terminal_progress(quiet=quiet),
            allow_failed_gates=allow_failed_gates,
        )
        try:
            result = runner.run(only=only_stage, from_stage=first_stage)
        except BaseException as exc:
            # The stage table and the page to open, then (from the guard) the error lines.
            _say_outcome(failed_run(exc))
            raise
        _say_outcome(result)
        typer.echo(f"done in {time.perf_counter() - started:.1f} s", err=True)


def _say_outcome(result: RunResult | None) -> None:
    """The stage table of a run, passed or failed, and ``open <run>/index.html`` when it exists
    (nothing for a run that failed before its first stage)."""
    from synthpriv.runner import outcome_lines

    for line in outcome_lines(result) if result is not None else []:
        _say(line, err=True)


@app.command()
def check(pipeline: PipelineArg, debug: DebugOpt = False) -> None:
    """Validate a pipeline file and the columns it names, without training."""
    with _guard(debug):
        from synthpriv.pipeline import Pipeline

        runner = Pipeline.from_yaml(pipeline)
        runner.check_wiring()
        schema = runner.check()
        kinds = ", ".join(f"{c.name}: {c.kind.value}" for c in schema.columns)
        _say(f"ok: {pipeline} ({len(schema.columns)} columns: {kinds})")
        if runner.preflight is not None:
            typer.echo(_describe_privacy_plan(runner.preflight))


# The options of `evaluate`, named here so that its signature reads as a list.
_TrainOpt = Annotated[
    Path,
    typer.Option(
        "--train", help="Real rows the synthetic table was made from (CSV or Parquet).", show_default=False
    ),
]
_HoldoutOpt = Annotated[
    Path, typer.Option("--holdout", help="Real rows its maker never saw: the control.", show_default=False)
]
_SyntheticOpt = Annotated[
    Path, typer.Option("--synthetic", help="The synthetic table, made by any tool.", show_default=False)
]
_ReportsDirOpt = Annotated[
    Path, typer.Option("--output-dir", "-o", help="Where the reports go.", show_default=False)
]
_TargetOpt = Annotated[
    str | None, typer.Option("--target", help="Column a model predicts (machine-learning efficacy).")
]
_QuasiOpt = Annotated[
    str | None,
    typer.Option("--quasi-identifiers", help="Comma-separated columns an attacker knows, e.g. age,sex,race."),
]
_SensitiveOpt = Annotated[str | None, typer.Option("--sensitive", help="Column an attacker wants to learn.")]
_SettingsOpt = Annotated[
    Path | None,
    typer.Option("--pipeline", help="Take validate, attack and gates settings from this pipeline file."),
]
_SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Seed of the samples the metrics and attacks draw.")
]
_DropDuplicatesOpt = Annotated[
    bool,
    typer.Option(
        "--drop-holdout-duplicates",
        help=(
            "Drop holdout rows that repeat training rows (counted in the reports) instead of refusing "
            "the holdout."
        ),
    ),
]
_QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


@app.command()
def evaluate(
    train: _TrainOpt,
    holdout: _HoldoutOpt,
    synthetic: _SyntheticOpt,
    output_dir: _ReportsDirOpt,
    target: _TargetOpt = None,
    quasi_identifiers: _QuasiOpt = None,
    sensitive: _SensitiveOpt = None,
    pipeline: _SettingsOpt = None,
    seed: _SeedOpt = None,
    drop_holdout_duplicates: _DropDuplicatesOpt = False,
    quiet: _QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Validate and attack a synthetic table made by any tool, with the same reports as `run`."""
    with _guard(debug):
        from synthpriv.evaluate import Evaluation, failed_gates
        from synthpriv.runtime.progress import terminal_progress

        started = time.perf_counter()
        quasi = (
            [c.strip() for c in quasi_identifiers.split(",") if c.strip()]
            if quasi_identifiers is not None
            else None
        )
        evaluation = Evaluation.from_files(
            train,
            holdout,
            synthetic,
            output_dir=output_dir,
            pipeline_file=pipeline,
            target=target,
            quasi_identifiers=quasi,
            sensitive=sensitive,
            seed=seed,
            drop_holdout_duplicates=True if drop_holdout_duplicates else None,
            progress=terminal_progress(quiet=quiet),
        )
        result = evaluation.run()
        _say(f"done in {time.perf_counter() - started:.1f} s; open {result.run_dir / 'index.html'}", err=True)
        failed = failed_gates(result)
        if failed:
            raise GateFailedError("", failed=failed)  # the gate lines say it all


@app.command()
def report(
    run_dir: Annotated[
        Path, typer.Argument(help="A run folder (holding manifest.json).", show_default=False)
    ],
    debug: DebugOpt = False,
) -> None:
    """Render a run's reports again from its summaries (nothing is recomputed)."""
    with _guard(debug):
        from synthpriv.runs import rerender

        pages = rerender(run_dir)
        _say(f"rendered {len(pages)} page(s); open {pages[-1]}", err=True)


@app.command()
def runs(
    root: Annotated[Path, typer.Argument(help="The folder holding run folders.")] = Path("reports"),
    debug: DebugOpt = False,
) -> None:
    """List the runs under a folder (default: reports/) with their verdicts, newest first."""
    with _guard(debug):
        from synthpriv.runs import list_runs

        if not root.is_dir():
            raise StageError("no such folder; name the folder that holds run folders", where=str(root))
        found = list_runs(root)
        if not found:
            _say(f"no runs under {root}", err=True)
            return
        rows: list[tuple[str, ...]] = [("run", "verdict", "generator", "privacy", "finished", "folder")]
        rows += [
            (
                r.name,
                _verdict_cell(r),
                r.generator if r.kind == "pipeline" else "(evaluation)",
                r.privacy,
                r.finished_at or "–",
                str(r.path),
            )
            for r in found
        ]
        rows = [tuple(printable(cell) for cell in row) for row in rows]  # escaped before widths are measured
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            typer.echo(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                + "  "
                + row[-1]
            )


def _verdict_cell(run: RunInfo) -> str:
    """The verdict; for a run that cannot be read, why (a damaged or foreign manifest, say)."""
    return f"{run.verdict} ({run.reason})" if run.verdict == "unreadable" and run.reason else run.verdict


def _describe_privacy_plan(plan: PrivacyPlan | MarginalPlan) -> str:
    """The plan `train` will execute: the totals, each planned release, DP-SGD's noise, steps and
    sample rate, and a warning when the noise is so large that the model may learn little."""
    return "\n".join(plan.describe())


@app.command()
def schema() -> None:
    """Print the JSON Schema of the pipeline file (for editors)."""
    from synthpriv.config.model import PipelineConfig

    typer.echo(json.dumps(PipelineConfig.model_json_schema(by_alias=True), indent=2))


@app.command()
def generators() -> None:
    """List the generators a pipeline file can name in train.generator: what each is, its fit
    time on UCI Adult with its defaults, and the differential privacy it offers."""
    from synthpriv.generators.registry import available_generators, describe_generator

    kinds = available_generators()
    width = max(len(kind) for kind in kinds)
    for kind in kinds:
        typer.echo(f"{kind:<{width}}  {describe_generator(kind)}")


#: What `synthpriv outliers` writes into its folder; the marker first, so that a folder it began
#: is recognised as its own (and may be written again) even if the command was interrupted.
_OUTLIERS_MARKER = "outliers.json"
_OUTLIERS_FILES = (_OUTLIERS_MARKER, "scores.parquet", "report.html")


@app.command()
def outliers(
    data: Annotated[Path, typer.Argument(help="The table to score (CSV or Parquet).", show_default=False)],
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir",
            "-o",
            help="Where scores.parquet and report.html go: a new or empty folder, or an earlier one of this "
            "command's.",
            show_default=False,
        ),
    ],
    pipeline: Annotated[
        Path | None,
        typer.Option(
            "--pipeline",
            help="Take column kinds, data.drop, data.min_category_count and the seed from this pipeline "
            "file.",
        ),
    ] = None,
    seed: _SeedOpt = None,
    quiet: _QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Score every row of a table by how badly autoencoders rebuild it (high = unusual).

    Writes scores.parquet (each row's position in the file and its score, no values) and
    report.html (the score distribution and the columns behind the top scores). Exit codes: 2 a
    bad pipeline file, 3 an unusable table, 7 an output folder it did not write, 74 a file that
    cannot be written.
    """
    with _guard(debug):
        from synthpriv.runtime.progress import terminal_progress

        started = time.perf_counter()
        _check_outliers_folder(output_dir, data)
        table, schema, settings = _outliers_inputs(data, pipeline, seed)
        progress = terminal_progress(quiet=quiet)
        written = _score_outliers(table, schema, settings, progress, source=data.name)
        _write_outliers(output_dir, data, written, settings, time.perf_counter() - started)
        _say(f"scored {len(table):,} rows; open {output_dir / 'report.html'}", err=True)


def _check_outliers_folder(folder: Path, data: Path) -> None:
    """StageError unless ``folder`` is absent, empty, or holds only what this command writes."""
    resolved = folder.resolve()
    if resolved == data.resolve() or resolved in data.resolve().parents:
        raise StageError(
            "output folder holds the input table; choose another --output-dir", where=str(folder)
        )
    if not resolved.is_dir():
        return  # absent: created; a file in the way: mkdir says so
    entries = sorted(os.scandir(resolved), key=lambda e: e.name)
    foreign = next(
        (e.name for e in entries if e.is_symlink() or not e.is_file() or e.name not in _OUTLIERS_FILES), None
    )
    if foreign is None and entries and not _is_outliers_marker(resolved / _OUTLIERS_MARKER):
        foreign = entries[0].name
    if foreign is not None:
        raise StageError(
            f"output folder holds '{foreign}', which synthpriv outliers did not write; choose an empty or "
            "new --output-dir (synthpriv overwrites only what it wrote)",
            where=str(folder),
        )


def _is_outliers_marker(path: Path) -> bool:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and content.get("kind") == "outliers"


def _outliers_inputs(data: Path, pipeline: Path | None, seed: int | None) -> tuple[Any, Any, dict[str, int]]:
    """The table, its schema, and the scorer's seed and ``min_category_count`` (from ``pipeline``)."""
    from synthpriv.config.loader import load_config
    from synthpriv.config.model import DataConfig
    from synthpriv.data.io import read_table
    from synthpriv.data.schema import infer_schema

    config = load_config(pipeline).config if pipeline is not None else None
    data_config = config.data if config is not None else DataConfig(path=str(data))
    table = read_table(str(data), where="DATA")  # a str, so that builtin:<name> names a builtin table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an id column is left out, as a run leaves it
        schema = infer_schema(table, data_config.columns, data_config.drop)
    chosen = seed if seed is not None else (config.seed if config is not None else 0)
    return table, schema, {"seed": chosen, "min_category_count": data_config.min_category_count}


def _score_outliers(
    table: Any, schema: Any, settings: dict[str, int], progress: Any, *, source: str
) -> dict[str, Any]:
    """The scores of ``table``'s rows and the page's aggregates of them."""
    import numpy as np

    from synthpriv.metrics.outliers import OutlierScorer
    from synthpriv.reports.pages.outliers import OutlierOverview

    began = time.perf_counter()
    scorer = OutlierScorer(
        schema, seed=settings["seed"], min_category_count=settings["min_category_count"], progress=progress
    )
    scores = scorer.fit(table).score(table)
    top = min(len(scores), max(10, (len(scores) + 99) // 100))  # the top 1 %, at least 10 rows
    high = float(np.quantile(scores.scores, 0.99))
    edges = np.linspace(0.0, high if high > 0 else 1.0, 31)
    counts, _ = np.histogram(np.minimum(scores.scores, edges[-1]), bins=edges)
    overview = OutlierOverview(
        source=source,
        rows=len(scores),
        networks=scorer.settings.models,
        bottleneck=scorer.settings.bottleneck,
        epochs=scorer.settings.epochs_for(len(table)),
        quantiles={
            label: float(np.quantile(scores.scores, q))
            for label, q in (("median score", 0.5), ("95th percentile", 0.95), ("99th percentile", 0.99))
        },
        histogram_edges=edges.tolist(),
        histogram_counts=counts.tolist(),
        top_rows=top,
        top_shares=scores.column_shares(scores.most_outlying(top)),
        seconds=time.perf_counter() - began,
    )
    return {"scores": scores.scores, "overview": overview}


def _write_outliers(
    folder: Path, data: Path, written: dict[str, Any], settings: dict[str, int], seconds: float
) -> None:
    """The marker, the scores (row position and score only) and the page."""
    import numpy as np
    import pandas as pd

    from synthpriv import __version__
    from synthpriv.data.io import write_parquet
    from synthpriv.reports.pages.outliers import outliers_page
    from synthpriv.reports.render import render_report
    from synthpriv.runtime.files import atomic_write_text

    overview = written["overview"]
    folder.mkdir(parents=True, exist_ok=True)
    marker = {"kind": "outliers", "synthpriv_version": __version__, "input": str(data), **settings}
    marker |= {"rows": overview.rows, "networks": overview.networks, "epochs": overview.epochs}
    marker["seconds"] = round(seconds, 3)
    atomic_write_text(folder / _OUTLIERS_MARKER, json.dumps(marker, indent=2) + "\n")
    frame = pd.DataFrame({"row": np.arange(overview.rows, dtype=np.int64), "score": written["scores"]})
    write_parquet(frame, folder / "scores.parquet")
    render_report(outliers_page(data.name, overview), folder / "report.html")


def main() -> None:
    app(prog_name="synthpriv")


if __name__ == "__main__":
    main()
