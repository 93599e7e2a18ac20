"""Stage 2, synthesize: sample rows from the trained model (or complete partial rows), streamed to
Parquet in batches."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pandas as pd

from synthpriv.config.model import GatesConfig, SynthesizeConfig
from synthpriv.data.io import read_table, write_parquet_batches
from synthpriv.data.split import Split
from synthpriv.errors import ConfigError, ModelFileError, PrivacyConfigError
from synthpriv.generators.base import Generator
from synthpriv.generators.model_files import GENERATOR_FILE, load_generator
from synthpriv.generators.rebalance import plan_rebalance
from synthpriv.privacy.dpsgd import DPSGDSettings
from synthpriv.privacy.ledger import Release
from synthpriv.reports.model import Report
from synthpriv.reports.pages.synthesize import synthesize_report
from synthpriv.reports.summaries import SynthesizeSummary
from synthpriv.runtime.progress import Progress
from synthpriv.stages.base import Stage, StageContext, StageResult, read_summary


class SynthesizeStage(Stage[SynthesizeConfig]):
    """Sample the rows (`Generator.sample_batches`), rebalance one column's categories
    (`synthpriv.generators.rebalance`) or complete the partial rows of a conditions file
    (`Generator.impute_batches`), and stream them to ``synthetic.parquet``.

    Of the real table it reads only each column's share of missing values in the training rows
    (the split): the reference the page draws beside the synthetic shares, no value of any row.
    """

    name: ClassVar = "synthesize"
    requires: ClassVar = frozenset({"model", "split"})
    produces: ClassVar = frozenset({"synthetic", "sampling"})

    def __init__(
        self,
        config: SynthesizeConfig,
        gates: GatesConfig | None = None,
        *,
        conditions_path: Path | str | None = None,
    ) -> None:
        super().__init__(config, gates)
        #: The conditions file as the pipeline resolved it (relative to its file, as ``data.path``);
        #: None reads ``config.conditions_file`` as written (relative to the working directory).
        self.conditions_path = conditions_path

    def run(self, ctx: StageContext) -> StageResult:
        generator = load_generator(ctx.artifact("model"))
        check_privacy_records(generator, ctx.artifact("model"))
        partial = self._partial_rows()
        rows = self._row_count(generator, partial)
        # A seed set in the file is the user's; otherwise the run's stream for the rows.
        seed = self.config.seed if self.config.seed is not None else ctx.stream_seed("synthesize", "rows")
        batch_size = min(self.config.batch_size, rows)
        # Every check (conditions, shares, what the generator can do) before the first row.
        batches = self._batches(generator, partial, rows, seed=seed, batch_size=batch_size)
        started = time.perf_counter()
        missing_counts = _MissingCounts()
        written = write_parquet_batches(
            missing_counts.tracked(batches, ctx.progress, -(-rows // batch_size)),
            ctx.stage_dir / "synthetic.parquet",
            # The input's Arrow types (decimals, dates, durations, unsigned integers...), not pandas' guesses.
            arrow_types=generator.schema.arrow_types() if generator.schema is not None else None,
        )
        seconds = time.perf_counter() - started
        summary = SynthesizeSummary(
            rows=written,
            seed=seed,
            batch_size=batch_size,
            seconds=round(seconds, 3),
            rows_per_second=round(written / max(seconds, 1e-9), 1),
            missing_share=missing_counts.shares(written),
            real_missing_share=_real_missing_share(ctx),
            conditions=self.config.fixed_conditions,
            conditions_file_rows=None if partial is None else len(partial),
            rebalance={
                column: {str(category): share for category, share in shares.items()}
                for column, shares in self.config.rebalance.items()
            },
        )
        return StageResult(summary=summary)

    def _partial_rows(self) -> pd.DataFrame | None:
        """The conditions file's rows (None without one)."""
        if self.config.conditions_file is None:
            return None
        path = self.conditions_path or self.config.conditions_file
        return read_table(path, where="synthesize.conditions")

    def _row_count(self, generator: Generator, partial: pd.DataFrame | None) -> int:
        if partial is None:
            return self.config.rows or generator.train_rows
        if self.config.rows is not None and self.config.rows != len(partial):
            raise ConfigError(
                f"rows is {self.config.rows:,} but the conditions file has {len(partial):,} rows, one "
                "synthetic row each; leave rows out",
                where="synthesize.rows",
            )
        return len(partial)

    def _batches(
        self, generator: Generator, partial: pd.DataFrame | None, rows: int, *, seed: int, batch_size: int
    ) -> Iterator[pd.DataFrame]:
        conditions = self.config.fixed_conditions
        generator.encode_conditions(conditions)
        if partial is not None:
            return generator.impute_batches(partial, seed=seed, batch_size=batch_size)
        if self.config.rebalance:
            plan = plan_rebalance(generator, self.config.rebalance, conditions=conditions, seed=seed)
            return plan.batches(generator, rows, seed=seed, batch_size=batch_size)
        return generator.sample_batches(rows, seed=seed, batch_size=batch_size, conditions=conditions)

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        return synthesize_report(run_name, SynthesizeSummary.model_validate(read_summary(stage_dir)))


def _real_missing_share(ctx: StageContext) -> dict[str, float]:
    """Per modelled column, the share of the training rows with a missing value (aggregates only)."""
    split = Split.from_frame(pd.read_parquet(ctx.artifact("split")))
    shares = ctx.real.train(split).isna().mean()
    return {str(column): round(float(share), 6) for column, share in shares.items()}


class _MissingCounts:
    """Missing cells per column over the batches written (the page's chart), counted as they pass."""

    def __init__(self) -> None:
        self.counts: pd.Series | None = None

    def tracked(
        self, batches: Iterator[pd.DataFrame], progress: Progress, total: int
    ) -> Iterator[pd.DataFrame]:
        progress.start("sample", total)
        for batch in batches:
            counts = batch.isna().sum()
            self.counts = counts if self.counts is None else self.counts + counts
            progress.advance(1)
            yield batch
        progress.finish()

    def shares(self, rows: int) -> dict[str, float]:
        assert self.counts is not None
        return {str(k): round(float(v) / rows, 6) for k, v in self.counts.items()}


def check_privacy_records(generator: Generator, model_dir: Path) -> None:
    """Refuse a loaded model whose DP records are not a `DPSGDSettings` and a `Release`.

    `load_generator` keeps ``generator.json``'s privacy settings and release as the JSON it
    read (generators never import `synthpriv.privacy`), checking only that each is an object;
    here, where privacy may be imported, their keys and values are checked before any row is
    sampled (ModelFileError, exit 6).
    """
    records = ((DPSGDSettings, generator.privacy), (Release, generator.privacy_release))
    try:
        for record_type, record in records:
            if isinstance(record, Mapping):
                record_type(**record)
    except (TypeError, ValueError, PrivacyConfigError) as exc:
        message = exc.message if isinstance(exc, PrivacyConfigError) else str(exc)
        raise ModelFileError(
            f"privacy record is not valid: {message}", where=str(model_dir / GENERATOR_FILE)
        ) from None
