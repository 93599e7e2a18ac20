"""Stage 2, synthesize: sample rows from the trained model, streamed to Parquet in batches."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pandas as pd

from synthpriv.config.model import SynthesizeConfig
from synthpriv.data.io import write_parquet_batches
from synthpriv.errors import ModelFileError, PrivacyConfigError
from synthpriv.generators.base import Generator
from synthpriv.generators.model_files import GENERATOR_FILE, load_generator
from synthpriv.privacy.dpsgd import DPSGDSettings
from synthpriv.privacy.ledger import Release
from synthpriv.reports.model import Report
from synthpriv.reports.pages.synthesize import synthesize_report
from synthpriv.reports.summaries import SynthesizeSummary
from synthpriv.stages.base import Stage, StageContext, StageResult, read_summary


class SynthesizeStage(Stage[SynthesizeConfig]):
    name: ClassVar = "synthesize"
    requires: ClassVar = frozenset({"model"})
    produces: ClassVar = frozenset({"synthetic", "sampling"})

    def run(self, ctx: StageContext) -> StageResult:
        generator = load_generator(ctx.artifact("model"))
        check_privacy_records(generator, ctx.artifact("model"))
        generator.encode_conditions(self.config.conditions)  # fail before any sampling
        rows = self.config.rows or generator.train_rows
        # A seed set in the file is the user's; otherwise the run's stream for the rows.
        seed = self.config.seed if self.config.seed is not None else ctx.stream_seed("synthesize", "rows")
        batch_size = min(self.config.batch_size, rows)
        n_batches = -(-rows // batch_size)
        missing_counts: pd.Series | None = None

        def tracked(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            nonlocal missing_counts
            ctx.progress.start("sample", n_batches)
            for batch in batches:
                counts = batch.isna().sum()
                missing_counts = counts if missing_counts is None else missing_counts + counts
                ctx.progress.advance(1)
                yield batch
            ctx.progress.finish()

        started = time.perf_counter()
        written = write_parquet_batches(
            tracked(
                generator.sample_batches(
                    rows, seed=seed, batch_size=batch_size, conditions=self.config.conditions
                )
            ),
            ctx.stage_dir / "synthetic.parquet",
            # The input's Arrow types (decimals, dates, durations, unsigned integers...), not pandas' guesses.
            arrow_types=generator.schema.arrow_types() if generator.schema is not None else None,
        )
        seconds = time.perf_counter() - started
        assert missing_counts is not None
        summary = SynthesizeSummary(
            rows=written,
            seed=seed,
            batch_size=batch_size,
            seconds=round(seconds, 3),
            rows_per_second=round(written / max(seconds, 1e-9), 1),
            missing_share={str(k): round(float(v) / written, 6) for k, v in missing_counts.items()},
            conditions=dict(self.config.conditions),
        )
        return StageResult(summary=summary)

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        return synthesize_report(run_name, SynthesizeSummary.model_validate(read_summary(stage_dir)))


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
