"""Access to the real table for the stages: read once per run, split by recorded indices."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synthpriv.config.model import DataConfig, Declarations
from synthpriv.data.align import align_to_real
from synthpriv.data.io import fingerprint_source, read_table
from synthpriv.data.overlap import HoldoutOverlap, dtype_family, holdout_overlap
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.data.split import MIN_HOLDOUT_ROWS, Split, all_rows, split_rows, split_sizes
from synthpriv.errors import DataError


@dataclass
class RealData:
    """The real table of a run. Loaded lazily and at most once; never written anywhere."""

    config: DataConfig
    source_path: Path | str  # resolved against the pipeline file; may be `builtin:<name>`
    holdout_path: Path | None = None
    #: Differential privacy: the schema comes from declarations and dtypes, never the values.
    private: bool = False
    _source: pd.DataFrame | None = field(default=None, repr=False)
    _holdout_file: pd.DataFrame | None = field(default=None, repr=False)
    _schema: TableSchema | None = field(default=None, repr=False)
    _fingerprint: str | None = field(default=None, repr=False)
    #: How a refused overlap is told to drop the repeats (`evaluate` names its option instead).
    drop_duplicates_remedy: str = "set data.drop_holdout_duplicates: true"
    _overlap: HoldoutOverlap | None = field(default=None, repr=False)
    _kept_holdout: pd.DataFrame | None = field(default=None, repr=False)

    def source(self) -> pd.DataFrame:
        if self._source is None:
            self._source = read_table(self.source_path, where="data.path")
        return self._source

    def schema(self) -> TableSchema:
        """The inferred schema with the pipeline file's overrides and drops applied."""
        if self._schema is None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self._schema = infer_schema(
                    self.source(), self.config.columns, self.config.drop, public_only=self.private
                )
            self.warnings = [str(w.message) for w in caught]
        return self._schema

    def declarations(self) -> Declarations:
        """The pipeline file's column declarations and groups of columns blank together (public
        knowledge DP preprocessing may use)."""
        return self.config.declarations()

    def make_split(self, seed: int) -> Split:
        """Draw the run's split (the train stage does, once, and stores it; later stages read that file)."""
        n_rows = len(self.source())
        if self.holdout_path is not None:
            return all_rows(n_rows)
        assert isinstance(self.config.holdout, float)
        return split_rows(n_rows, self.config.holdout, seed)

    def train_rows(self) -> int:
        """How many rows the split will train on, known without drawing it; DataError if it cannot be made."""
        n_rows = len(self.source())
        if self.holdout_path is not None:
            return len(all_rows(n_rows).train)
        assert isinstance(self.config.holdout, float)
        return split_sizes(n_rows, self.config.holdout)[0]

    def train(self, split: Split) -> pd.DataFrame:
        return self._modelled(self.source().iloc[split.train])

    def holdout(self, split: Split) -> pd.DataFrame:
        if self.holdout_path is None:
            return self._modelled(self.source().iloc[split.holdout])
        return self._modelled(self._kept_holdout_rows())

    def holdout_file(self) -> pd.DataFrame:
        """The holdout file as read, once its columns are checked; DataError naming ``data.holdout``."""
        assert self.holdout_path is not None
        if self._holdout_file is None:
            frame = read_table(self.holdout_path, where="data.holdout")
            missing = [c for c in self.schema().names if c not in frame.columns]
            if missing:
                raise DataError(
                    f"holdout file lacks columns {missing}", where=f"data.holdout {self.holdout_path}"
                )
            self._holdout_file = frame
        return self._holdout_file

    def holdout_overlap(self) -> HoldoutOverlap | None:
        """How many holdout rows repeat training rows (None when the holdout is split from the table)."""
        if self.holdout_path is None:
            return None
        self._kept_holdout_rows()
        return self._overlap

    @property
    def dropped_holdout_rows(self) -> int:
        """Holdout rows left out because they repeated training rows (``data.drop_holdout_duplicates``)."""
        overlap = self.holdout_overlap()
        return overlap.shared_rows if overlap is not None and self.config.drop_holdout_duplicates else 0

    def _kept_holdout_rows(self) -> pd.DataFrame:
        if self._kept_holdout is None:
            self._kept_holdout = self._checked_holdout_file()
        return self._kept_holdout

    def _checked_holdout_file(self) -> pd.DataFrame:
        """The holdout file's rows the stages may use as the control.

        Rows equal to a training row (on the modelled columns) are refused when there are more
        of them than the table's own repeats explain (`synthpriv.data.overlap`), or all dropped
        with ``data.drop_holdout_duplicates``. Only counts reach the message.
        """
        frame = self.holdout_file()
        where = f"data.holdout {self.holdout_path}"
        columns = [c.name for c in self.schema().modelled()]
        overlap, shared = holdout_overlap(self.source(), self._comparable(frame, columns), columns)
        if self.config.drop_holdout_duplicates:
            frame = frame[~shared]
        elif overlap.excessive:
            raise DataError(
                f"{overlap.shared_rows} of {overlap.holdout_rows} holdout rows also appear in the training "
                f"rows, more than the {overlap.allowed} the table's own repeats "
                f"({overlap.repeat_share:.1%} of its rows) explain; a holdout must be real rows the "
                f"generator never sees; use another file or {self.drop_duplicates_remedy}",
                where=where,
            )
        if len(frame) < MIN_HOLDOUT_ROWS:
            dropped = (
                f" after dropping {overlap.shared_rows} that repeat training rows"
                if self.config.drop_holdout_duplicates
                else ""
            )
            raise DataError(
                f"{len(frame)} holdout rows{dropped} are too few: the validate and attack stages need "
                f"at least {MIN_HOLDOUT_ROWS}; use a larger holdout file",
                where=where,
            )
        self._overlap = overlap
        return frame

    def _comparable(self, holdout: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        """The holdout's columns as the training table's dtypes where the two files disagree.

        A file of another format reads the same values as another kind (dates as text in a
        Parquet file made from a CSV, where the CSV reader parses them): such a column is
        converted as `evaluate` converts a synthetic table, and kept as it is if it does not
        convert. Only for counting: the stages see the holdout as read.
        """
        source, schema = self.source(), self.schema()
        out = {}
        for name in columns:
            column = holdout[name].reset_index(drop=True)
            if dtype_family(column) != dtype_family(source[name]):
                try:
                    single = TableSchema(columns=(schema[name],))
                    column = align_to_real(holdout[[name]], source[[name]], single, where="data.holdout")[
                        name
                    ]
                except DataError:
                    pass  # values that are not the other kind: compared as they are (they differ)
            out[name] = column
        return pd.DataFrame(out, index=range(len(holdout)))

    def _modelled(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.schema().names].reset_index(drop=True)

    def fingerprint(self) -> str:
        """A hash of the input files' bytes: a changed table invalidates every stage."""
        if self._fingerprint is None:
            parts = [fingerprint_source(self.source_path)]
            if self.holdout_path is not None:
                parts.append(fingerprint_source(self.holdout_path))
            self._fingerprint = ":".join(parts)
        return self._fingerprint
