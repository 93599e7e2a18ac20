"""The typed stage interface.

A stage declares the artifacts it reads and writes; the pipeline checks that wiring before
any data is read. A stage writes only into its own staging folder; the pipeline moves that
folder into place when (and only when) the stage succeeds.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel

from synthpriv.config.model import GatesConfig, StageName
from synthpriv.reports.headline import gate_relation
from synthpriv.reports.model import Report
from synthpriv.runtime.progress import NullProgress, Progress
from synthpriv.runtime.seeding import stream_rng, stream_seed

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from synthpriv.data.real import RealData
    from synthpriv.data.schema import TableSchema

C = TypeVar("C", bound=BaseModel)

#: Every artifact a stage can hand to another, and the file (relative to the run folder) that holds it.
ARTIFACTS: dict[str, str] = {
    "model": "train/model",
    "split": "train/split.parquet",
    "ledger": "train/privacy.json",
    "synthetic": "synthesize/synthetic.parquet",
    "fidelity": "validate/summary.json",
    "privacy": "attack/summary.json",
    "export": "export/synthetic.parquet",
    "training": "train/summary.json",
    "sampling": "synthesize/summary.json",
}
#: The stages that read the real table (through `StageContext.real`): its files are among their inputs.
REAL_DATA_READERS: frozenset[StageName] = frozenset({"train", "synthesize", "validate", "attack"})


def producer(artifact: str) -> StageName:
    """The stage that writes ``artifact``."""
    return cast(StageName, ARTIFACTS[artifact].split("/")[0])


@dataclass(frozen=True)
class GateOutcome:
    """One gate of the pipeline file, evaluated: ``value`` against ``bound``."""

    name: str
    value: float
    bound: float
    passed: bool

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gate {self.name} {verdict}: {self.value:.4g} "
            f"(must be {gate_relation(self.name)} {self.bound:.4g})"
        )


def check_gate(name: str, value: float, bound: float | None) -> list[GateOutcome]:
    """Evaluate a ``min_*`` or ``max_*`` gate; no outcome when the gate is not set."""
    if bound is None:
        return []
    passed = value >= bound if name.startswith("min_") else value <= bound
    return [GateOutcome(name=name, value=float(value), bound=float(bound), passed=bool(passed))]


@dataclass(frozen=True)
class EvaluationTables:
    """Real train rows, real holdout rows (the control), synthetic rows, and the schema they share.

    What validate and attack judge: read from a run's artifacts (`stages.common.evaluation_tables`)
    or given from outside (`synthpriv evaluate`, whose train and synthesize are inputs, not stages).
    """

    train: pd.DataFrame
    holdout: pd.DataFrame
    synthetic: pd.DataFrame
    schema: TableSchema


@dataclass
class StageContext:
    """What a stage may use: its staging folder, the finished run, the real data, a seed."""

    run_name: str
    run_dir: Path  # the run's folder; upstream artifacts are read from here
    stage_dir: Path  # this stage's staging folder; everything it writes goes here
    seed: int
    real: RealData
    progress: Progress = field(default_factory=NullProgress)
    #: The tables validate and attack judge, when they come from outside a pipeline run
    #: (`synthpriv evaluate`); None reads them from the run's artifacts.
    evaluation: EvaluationTables | None = None
    #: The sha256 of the pipeline's configuration (the manifest's), recorded in exports.
    config_sha256: str | None = None

    def artifact(self, name: str) -> Path:
        return self.run_dir / ARTIFACTS[name]

    def rng(self, *names: str) -> np.random.Generator:
        """The NumPy generator of the run's seed stream ``names`` (stage, purpose): a stage's one source
        of random draws."""
        return stream_rng(self.seed, *names)

    def stream_seed(self, *names: str) -> int:
        """The integer seed of the run's stream ``names``, for an API that takes a seed (a generator,
        a metric).

        32 bits, so that every library takes it (scikit-learn's ``random_state`` must be below 2**32).
        """
        return stream_seed(self.seed, *names, bits=32)


@dataclass(frozen=True)
class StageResult:
    """What a stage produced: its summary (becomes summary.json) and its gates.

    The report is not part of it: `Stage.build_report` reads it back from what the stage
    wrote, so that ``synthpriv report`` renders the very same page without recomputing.
    """

    summary: BaseModel
    gates: tuple[GateOutcome, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


SUMMARY = "summary.json"


def read_summary(stage_dir: Path) -> dict[str, Any]:
    """A finished (or staged) stage's ``summary.json``."""
    return cast(dict[str, Any], json.loads((stage_dir / SUMMARY).read_text()))


def summary_gates(summary: dict[str, Any]) -> tuple[GateOutcome, ...]:
    """The gate outcomes a summary recorded."""
    return tuple(GateOutcome(**g) for g in summary.get("gates", []))


class Stage(ABC, Generic[C]):
    """One of the five pipeline stages."""

    name: ClassVar[StageName]
    requires: ClassVar[frozenset[str]]
    produces: ClassVar[frozenset[str]]

    def __init__(self, config: C, gates: GatesConfig | None = None) -> None:
        self.config = config
        self.gates = gates or GatesConfig()

    @abstractmethod
    def run(self, ctx: StageContext) -> StageResult:
        """Do the work, writing only under ``ctx.stage_dir``."""

    @classmethod
    @abstractmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        """The stage's report, from its ``summary.json`` and the aggregate files it wrote.

        Reads only ``stage_dir``: no real table, no model, no recomputation.
        """
