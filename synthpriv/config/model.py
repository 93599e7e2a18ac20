"""The pipeline file as typed, strict pydantic models.

Unknown keys are errors, every field is documented (the docstrings become the JSON
Schema's descriptions that `synthpriv schema` prints), and each stage reads only its own
section. Paths in `data` are resolved against the pipeline file's folder by the loader.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializeAsAny, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from synthpriv.config.base import StrictModel
from synthpriv.data.schema import ColumnKind
from synthpriv.generators.params import PARAMS_BY_KIND, GeneratorParams

StageName = Literal["train", "synthesize", "validate", "attack", "export"]
STAGES: tuple[StageName, ...] = ("train", "synthesize", "validate", "attack", "export")

BUILTIN_PREFIX = "builtin:"


class DataConfig(StrictModel):
    """Where the real table is and how to read it."""

    path: str = Field(min_length=1)
    """CSV or Parquet file, relative to the pipeline file; or `builtin:student_placements`
    for the demo table that sdmetrics ships."""
    holdout: float | str = 0.2
    """A fraction of the rows kept out of training (0 < f < 1), or the path of a separate
    file of real held-out rows with the same columns."""
    target: str | None = None
    """Optional: the column a model predicts in machine-learning efficacy."""
    columns: dict[str, ColumnKind] = Field(default_factory=dict)
    """Optional overrides of inferred column kinds: numerical | categorical | boolean | datetime | id."""
    drop: list[str] = Field(default_factory=list)
    """Optional: columns to leave out entirely."""

    @field_validator("holdout")
    @classmethod
    def _holdout_fraction_in_range(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise PydanticCustomError("holdout_range", "holdout fraction must be between 0 and 1 (exclusive)")
        if isinstance(value, str) and not value.strip():
            raise PydanticCustomError("holdout_path", "holdout must be a fraction or a file path")
        return value

    @property
    def is_builtin(self) -> bool:
        return self.path.startswith(BUILTIN_PREFIX)


class TrainConfig(StrictModel):
    """Fit a generator on the training part of the real table."""

    generator: str = "vae"
    """Which generator: `vae` (later also `gan`, `diffusion`)."""
    epochs: int | None = Field(default=None, ge=1, le=100_000)
    """Passes over the training rows; the generator's tuned default when left out."""
    batch_size: int | None = Field(default=None, ge=2, le=1_000_000)
    """Rows per gradient step; the generator's tuned default when left out."""
    params: Annotated[SerializeAsAny[GeneratorParams], Field(default_factory=lambda: PARAMS_BY_KIND["vae"]())]
    """Generator-specific settings, validated per generator."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """`auto` uses a GPU when torch sees one."""

    @field_validator("generator")
    @classmethod
    def _known_generator(cls, value: str) -> str:
        if value not in PARAMS_BY_KIND:
            known = ", ".join(sorted(PARAMS_BY_KIND))
            raise PydanticCustomError("generator", "unknown generator '{kind}'; known: {known}", {"kind": value, "known": known})
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _typed_params(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("generator")
        if kind is None:
            # The generator kind itself is wrong: that is the error worth reporting.
            return GeneratorParams()
        if isinstance(value, GeneratorParams):
            return value
        return PARAMS_BY_KIND[kind].model_validate(value or {})


class SynthesizeConfig(StrictModel):
    """Sample synthetic rows from the trained generator."""

    rows: int | None = Field(default=None, ge=1, le=1_000_000_000)
    """How many rows; default: as many as the training part."""
    seed: int | None = None
    """Sampling seed; default: the pipeline's seed."""
    batch_size: int = Field(default=50_000, ge=1)
    """Rows generated and written per batch (bounds memory)."""
    conditions: dict[str, str | bool | int | float] = Field(default_factory=dict)
    """Optional: categorical or boolean columns fixed to a value, e.g. `{income: ">50K"}` to
    oversample a minority class. Every row honours them."""


class ValidateConfig(StrictModel):
    """Statistical fidelity of the synthetic table."""

    max_rows: int = Field(default=50_000, ge=100)
    """Tables larger than this are compared on a seeded sample of this many rows."""
    min_count: int = Field(default=10, ge=1)
    """Bins and categories with fewer real rows than this are merged in charts."""


class AttackConfig(StrictModel):
    """Privacy attacks on the synthetic table, with real held-out rows as the control."""

    quasi_identifiers: list[str] = Field(default_factory=list)
    """Optional: the columns an attacker plausibly knows about a person."""
    sensitive: str | None = None
    """Optional: the column an attacker wants to learn."""
    max_rows: int = Field(default=50_000, ge=100)
    """Tables larger than this are attacked on a seeded sample of this many rows."""


class ExportConfig(StrictModel):
    """Export the synthetic table when every gate passes."""

    formats: list[Literal["parquet", "csv"]] = Field(default_factory=lambda: ["parquet"], min_length=1)
    """File formats to write."""


class GatesConfig(StrictModel):
    """Bounds that must hold for the synthetic table to be exported. Each is optional."""

    min_quality: float | None = Field(default=None, ge=0, le=1)
    """Lowest acceptable sdmetrics quality score (all pairs)."""
    max_exact_match_share: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable share of synthetic rows identical to a training row."""
    max_dcr_share: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable share of synthetic rows closer to train than to holdout (ideal 0.5)."""


class PipelineConfig(StrictModel):
    """One `pipeline.yaml`: the real table and the five stages run on it."""

    version: Literal[1] = 1
    """Format version of this file."""
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)
    """Name of the pipeline; names the default output folder `reports/<name>`."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """One seed for the split, training and sampling."""
    output_dir: str | None = None
    """Where the run writes, relative to where you run synthpriv; default `reports/<name>`."""
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    synthesize: SynthesizeConfig = Field(default_factory=SynthesizeConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    attack: AttackConfig = Field(default_factory=AttackConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)

    def column_references(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every column the file names, with the config path that names it."""
        refs: list[tuple[tuple[str | int, ...], str]] = []
        if self.data.target:
            refs.append((("data", "target"), self.data.target))
        refs += [(("data", "columns", name), name) for name in self.data.columns]
        refs += [(("data", "drop", i), name) for i, name in enumerate(self.data.drop)]
        refs += [(("attack", "quasi_identifiers", i), name) for i, name in enumerate(self.attack.quasi_identifiers)]
        if self.attack.sensitive:
            refs.append((("attack", "sensitive"), self.attack.sensitive))
        refs += [(("synthesize", "conditions", name), name) for name in self.synthesize.conditions]
        return refs

    def section(self, stage: StageName) -> StrictModel:
        return {
            "train": self.train,
            "synthesize": self.synthesize,
            "validate": self.validate_,
            "attack": self.attack,
            "export": self.export,
        }[stage]
