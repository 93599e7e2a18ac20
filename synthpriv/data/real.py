"""Access to the real table for the stages: read once per run, split by recorded indices."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synthpriv.config.model import ColumnDeclaration, DataConfig
from synthpriv.data.io import read_table, resolve_source
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.data.split import Split, all_rows, split_rows
from synthpriv.errors import DataError
from synthpriv.runtime.files import sha256_file


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

    def declarations(self) -> dict[str, ColumnDeclaration]:
        """The pipeline file's column declarations (public knowledge DP preprocessing may use)."""
        return self.config.declarations()

    def make_split(self, seed: int) -> Split:
        n_rows = len(self.source())
        if self.holdout_path is not None:
            return all_rows(n_rows)
        assert isinstance(self.config.holdout, float)
        return split_rows(n_rows, self.config.holdout, seed)

    def train(self, split: Split) -> pd.DataFrame:
        return self._modelled(self.source().iloc[split.train])

    def holdout(self, split: Split) -> pd.DataFrame:
        if self.holdout_path is None:
            return self._modelled(self.source().iloc[split.holdout])
        if self._holdout_file is None:
            frame = read_table(self.holdout_path, where="data.holdout")
            missing = [c for c in self.schema().names if c not in frame.columns]
            if missing:
                raise DataError(f"holdout file lacks columns {missing}", where=f"data.holdout {self.holdout_path}")
            self._holdout_file = frame
        return self._modelled(self._holdout_file)

    def _modelled(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.schema().names].reset_index(drop=True)

    def fingerprint(self) -> str:
        """A hash of the input files' bytes: a changed table invalidates every stage."""
        if self._fingerprint is None:
            parts = [sha256_file(resolve_source(self.source_path))]
            if self.holdout_path is not None:
                parts.append(sha256_file(self.holdout_path))
            self._fingerprint = ":".join(parts)
        return self._fingerprint
