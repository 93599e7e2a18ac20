"""The pipeline file as typed, strict pydantic models.

Unknown keys are errors, every field is documented (the docstrings become the JSON
Schema's descriptions that `synthpriv schema` prints), and each stage reads only its own
section. Paths in `data` are resolved against the pipeline file's folder by the loader.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    GetJsonSchemaHandler,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from synthpriv.config.base import StrictModel
from synthpriv.config.generator_params import DEFAULT_GENERATOR, PARAMS_BY_KIND, GeneratorParams
from synthpriv.config.kinds import ColumnKind
from synthpriv.config.privacy import PrivacyConfig

StageName = Literal["train", "synthesize", "validate", "attack", "export"]
STAGES: tuple[StageName, ...] = ("train", "synthesize", "validate", "attack", "export")

BUILTIN_PREFIX = "builtin:"


_KIND_CHOICES = ", ".join(k.value for k in ColumnKind)


def _bound_as_datetime(value: object) -> datetime:
    """A datetime bound as a naive UTC datetime (YAML reads an unquoted date as a `date`)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise PydanticCustomError(
                "bounds", "datetime bounds are ISO dates, e.g. ['2020-01-01', '2024-12-31']"
            ) from None
    else:
        raise PydanticCustomError(
            "bounds", "datetime bounds are ISO dates, e.g. ['2020-01-01', '2024-12-31']"
        )
    # The transformer measures aware datetimes in UTC and naive ones as they are: so do the bounds.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


class ColumnDeclaration(StrictModel):
    """What the pipeline file declares about one column: its kind, and optionally public
    knowledge of its domain that differential privacy may use without spending budget.

    Written either as a bare kind (`age: numerical`) or as a mapping
    (`age: {kind: numerical, bounds: [17, 90]}`). Declared bounds and categories must come
    from public knowledge (a codebook, the survey's design), never from looking at the data:
    anything read from the data is not covered by the privacy guarantee.
    """

    kind: ColumnKind
    """How the column is modelled: numerical | categorical | boolean | datetime | id."""
    bounds: tuple[float, float] | tuple[datetime, datetime] | None = None
    """Numerical or datetime only: `[low, high]`, the public range of the column (numbers, or
    ISO dates for a datetime column). Values outside are clipped to it in DP mode; DP training
    requires it for every numerical and datetime column."""
    categories: list[str] | None = None
    """Categorical only: the complete public list of categories (quote numbers: `['1', '2']`).
    In DP mode it costs no privacy budget; without it the categories are released by a DP
    mechanism that leaves out rare ones."""
    nullable: bool | None = None
    """Whether the column may hold nulls; DP mode only (elsewhere it is read off the data). A
    non-nullable column never gets a null from any generator. Unset, DP mode decides from
    public structure, never from the values (whether a column holds nulls is itself a fact
    about the data): `false` when `categories` are declared (a declared domain is complete),
    else the input's schema: a Parquet field declared non-nullable, or a NumPy int or bool
    column of a table built in Python, is not nullable; every CSV column may be."""
    decimals: int | None = Field(default=None, ge=0, le=12)
    """Numerical only: the places its values are written with (`2` for 67.45); generated
    values are rounded to them. Without DP it is read off the data when left out; a DP run
    knows it only from here (or from a decimal Arrow type)."""
    values: list[float] | None = None
    """Numerical only: the complete public set of values the column takes (`[3, 6, 12]`
    months). DP mode only (elsewhere a few-valued column's values are read off the data): it
    replaces the column's quantile-map release, so no budget is spent on it and no bounds are
    needed, and every generated value is one of them."""

    @model_validator(mode="before")
    @classmethod
    def _bare_kind(cls, value: Any) -> Any:
        if isinstance(value, str):  # a bare kind (ColumnKind is a str too)
            return {"kind": value}
        if isinstance(value, dict | ColumnDeclaration):
            return value
        raise PydanticCustomError(
            "column_declaration",
            "a column declaration is a kind ({choices}) or a mapping "
            "{kind, bounds, categories, nullable, decimals, values}",
            {"choices": _KIND_CHOICES},
        )

    @field_validator("bounds", mode="before")
    @classmethod
    def _bounds_fit_kind(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is wrong: that is the error worth reporting
            return None
        if kind not in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
            raise PydanticCustomError("bounds", "bounds apply only to numerical and datetime columns")
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise PydanticCustomError("bounds", "bounds are a pair [low, high]")
        if kind is ColumnKind.DATETIME:
            moments = (_bound_as_datetime(value[0]), _bound_as_datetime(value[1]))
            if not moments[0] < moments[1]:
                raise PydanticCustomError("bounds", "bounds must be [low, high] with low < high")
            return moments
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise PydanticCustomError("bounds", "numerical bounds are two numbers [low, high]")
        low, high = float(value[0]), float(value[1])
        if not (math.isfinite(low) and math.isfinite(high)):
            raise PydanticCustomError("bounds", "bounds must be finite numbers")
        if not low < high:
            raise PydanticCustomError("bounds", "bounds must be [low, high] with low < high")
        return (low, high)

    @field_validator("categories", mode="after")
    @classmethod
    def _categories_fit_kind(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        kind = info.data.get("kind")
        if kind is not None and kind is not ColumnKind.CATEGORICAL:
            raise PydanticCustomError("categories", "categories apply only to categorical columns")
        if not value:
            raise PydanticCustomError("categories", "categories must list at least one category")
        seen: set[str] = set()
        for category in value:
            if category in seen:
                raise PydanticCustomError(
                    "categories", "category '{category}' is listed twice", {"category": category}
                )
            seen.add(category)
        return value

    @field_validator("decimals", mode="after")
    @classmethod
    def _decimals_fit_kind(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and kind is not ColumnKind.NUMERICAL:
            raise PydanticCustomError("decimals", "decimals apply only to numerical columns")
        return value

    @field_validator("values", mode="after")
    @classmethod
    def _values_fit_kind(cls, value: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if value is None:
            return None
        kind = info.data.get("kind")
        if kind is not None and kind is not ColumnKind.NUMERICAL:
            raise PydanticCustomError("values", "values apply only to numerical columns")
        if not value or not all(math.isfinite(v) for v in value):
            raise PydanticCustomError("values", "values must list at least one finite number")
        if len(set(value)) != len(value):
            raise PydanticCustomError("values", "values must not repeat")
        return sorted(value)

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A bare kind is written back as a bare kind: old files, manifests and hashes stay as they were.
        out = handler(self)
        declared = (self.bounds, self.categories, self.nullable, self.decimals, self.values)
        if all(item is None for item in declared):
            return out["kind"]
        return {key: item for key, item in out.items() if item is not None}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        mapping = handler(schema)
        return {
            "anyOf": [{"type": "string", "enum": [k.value for k in ColumnKind]}, mapping],
            "description": (cls.__doc__ or "").split("\n\n")[0].replace("\n", " "),
        }


class DataConfig(StrictModel):
    """Where the real table is and how to read it."""

    path: str = Field(min_length=1)
    """CSV or Parquet file, relative to the pipeline file; or `builtin:student_placements`
    for the demo table that sdmetrics ships."""
    holdout: float | str = 0.2
    """A fraction of the rows kept out of training (0 < f < 1), or the path of a separate
    file of real held-out rows with the same columns."""
    drop_holdout_duplicates: bool = False
    """With a holdout file: leave out its rows that equal a training row (the count is shown
    in the attack report and the data card) instead of refusing a file that repeats more
    training rows than the table repeats itself."""
    target: str | None = None
    """Optional: the column a model predicts in machine-learning efficacy."""
    columns: dict[str, ColumnDeclaration] = Field(default_factory=dict)
    """Optional per-column declarations: a kind overriding the inferred one (numerical |
    categorical | boolean | datetime | id), or a mapping that adds public knowledge for
    differential privacy, e.g. `{kind: numerical, bounds: [17, 90]}` or
    `{kind: categorical, categories: [a, b]}`."""
    drop: list[str] = Field(default_factory=list)
    """Optional: columns to leave out entirely."""
    missing_together: list[list[str]] = Field(default_factory=list)
    """DP mode: groups of numerical or datetime columns that are blank together or filled
    together (`[[salary, start_date, end_date]]`: blank for a student not placed), public
    knowledge of the table's design. Each group's blank-or-filled state becomes one variable,
    so a synthetic row is never half blank. Without DP the patterns are learned from the data."""
    min_category_count: int = Field(default=5, ge=1)
    """Without differential privacy: a categorical value held by fewer training rows is not
    learned; it folds into `(other)` (the most frequent value in a column of numbers), so a
    value unique to one person cannot reach the model or the export. Numerical and datetime
    columns are clipped to their k-th smallest and k-th largest values (k = this count), so
    the extremes the model can emit are not a single row's minimum or maximum. 1 disables
    both. DP runs release categories and ranges with their own mechanisms and ignore it."""

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

    def declarations(self) -> Declarations:
        """``{column: declaration}`` for every column the file declares, with the groups of
        columns blank together (what DP preprocessing reads)."""
        return Declarations(self.columns, self.missing_together)

    @field_validator("missing_together", mode="after")
    @classmethod
    def _groups_apart(cls, value: list[list[str]]) -> list[list[str]]:
        seen: set[str] = set()
        for group in value:
            if len(group) < 2:
                raise PydanticCustomError("missing_together", "each group names at least two columns")
            for name in group:
                if name in seen:
                    raise PydanticCustomError(
                        "missing_together", "column '{name}' is in more than one group", {"name": name}
                    )
                seen.add(name)
        return value


class Declarations(dict[str, "ColumnDeclaration"]):
    """The data section's public knowledge: each declared column's declaration (the mapping),
    and the groups of columns blank together (``missing_together``)."""

    def __init__(
        self,
        columns: dict[str, ColumnDeclaration] | None = None,
        missing_together: list[list[str]] | tuple[tuple[str, ...], ...] = (),
    ) -> None:
        super().__init__(columns or {})
        self.missing_together = tuple(tuple(group) for group in missing_together)


class TrainConfig(StrictModel):
    """Fit a generator on the training part of the real table."""

    generator: str = DEFAULT_GENERATOR
    """Which generator: `autoregressive` (the default), `vae`, `gan`, `diffusion` or `marginal`
    (`synthpriv generators` lists them)."""
    epochs: int | None = Field(default=None, ge=1, le=100_000)
    """Passes over the training rows; the generator's tuned default when left out."""
    batch_size: int | None = Field(default=None, ge=2, le=1_000_000)
    """Rows per gradient step; the generator's tuned default when left out."""
    # The default {} goes through `_typed_params`, which makes it the chosen generator's defaults.
    params: Annotated[SerializeAsAny[GeneratorParams], Field(default_factory=dict, validate_default=True)]
    """Generator-specific settings, validated per generator."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """`auto` uses a GPU when torch sees one."""
    privacy: PrivacyConfig | None = None
    """Optional: train with differential privacy within this (epsilon, delta) budget."""

    @field_validator("generator")
    @classmethod
    def _known_generator(cls, value: str) -> str:
        if value not in PARAMS_BY_KIND:
            known = ", ".join(sorted(PARAMS_BY_KIND))
            raise PydanticCustomError(
                "generator", "unknown generator '{kind}'; known: {known}", {"kind": value, "known": known}
            )
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
    conditions: dict[str, str | bool | int | float] | str = Field(default_factory=dict)
    """Optional: categorical or boolean columns fixed to a value, e.g. `{income: ">50K"}` to
    oversample a minority class; every row honours them. Or the path of a CSV or Parquet file
    of partial rows, relative to the pipeline file: the generator fills in each row's empty
    cells given the cells it has (imputation, `train.generator: autoregressive`) and the
    output has the file's rows, in its order."""
    rebalance: dict[str, dict[str | bool | int | float, float]] = Field(default_factory=dict)
    """Optional: shares of categories of one categorical or boolean column, e.g.
    `{income: {">50K": 0.5}}`: every batch has that share of rows with each listed category
    (rounded to a row), drawn given it; the other categories share the rest of the rows in
    the model's own proportions. Shares in (0, 1], adding up to at most 1."""

    @field_validator("conditions")
    @classmethod
    def _conditions_file_named(
        cls, value: dict[str, str | bool | int | float] | str
    ) -> dict[str, str | bool | int | float] | str:
        if isinstance(value, str) and not value.strip():
            raise PydanticCustomError(
                "conditions_path", "conditions are a mapping of columns to values or a file path"
            )
        return value

    @field_validator("rebalance", mode="before")
    @classmethod
    def _shares_are_numbers(cls, value: Any) -> Any:
        # The base check looks at values, not at the values of a mapping inside a mapping.
        if isinstance(value, dict) and any(
            isinstance(shares, dict) and any(isinstance(v, bool) for v in shares.values())
            for shares in value.values()
        ):
            raise PydanticCustomError("bool_not_number", "a share is a number, not true/false")
        return value

    @field_validator("rebalance")
    @classmethod
    def _shares_in_range(
        cls, value: dict[str, dict[str | bool | int | float, float]], info: ValidationInfo
    ) -> dict[str, dict[str | bool | int | float, float]]:
        if not value:
            return value
        if isinstance(info.data.get("conditions"), str):
            raise PydanticCustomError(
                "rebalance_file", "rebalance and a conditions file cannot be combined; keep one of them"
            )
        if len(value) > 1:
            raise PydanticCustomError("rebalance_columns", "rebalance one column at a time")
        ((column, shares),) = value.items()
        if not shares:
            raise PydanticCustomError("rebalance_empty", "list at least one category and its share")
        if any(not (0.0 < share <= 1.0) or not math.isfinite(share) for share in shares.values()):
            raise PydanticCustomError("rebalance_share", "each share is in (0, 1]")
        if sum(shares.values()) > 1.0 + 1e-9:
            raise PydanticCustomError(
                "rebalance_sum", "the shares of {column} add up to more than 1", {"column": column}
            )
        return value

    @property
    def conditions_file(self) -> str | None:
        """The path of the file of partial rows, as written (None for fixed values)."""
        return self.conditions if isinstance(self.conditions, str) else None

    @property
    def fixed_conditions(self) -> dict[str, str | bool | int | float]:
        """The columns fixed to a value (none with a conditions file)."""
        return {} if isinstance(self.conditions, str) else dict(self.conditions)


class ValidateConfig(StrictModel):
    """Statistical fidelity of the synthetic table."""

    max_rows: int = Field(default=50_000, ge=100)
    """Tables larger than this are compared on a seeded sample of this many rows."""
    min_count: int = Field(default=10, ge=1)
    """Bins and categories with fewer real rows than this are merged in charts."""
    model_rows: int = Field(default=20_000, ge=100)
    """Rows per side for the real-vs-synthetic detector (a seeded sample of larger tables)."""
    efficacy_rows: int = Field(default=50_000, ge=100)
    """Rows per table for machine-learning efficacy (a seeded sample of larger tables)."""
    neighbour_rows: int = Field(default=10_000, ge=100)
    """Rows per side for k-NN precision and recall (a seeded sample of larger tables)."""
    bootstrap: int = Field(default=200, ge=0, le=10_000)
    """Bootstrap replicates behind every 95 % interval (0: no intervals)."""


class AttackConfig(StrictModel):
    """Privacy attacks on the synthetic table, with real held-out rows as the control."""

    quasi_identifiers: list[str] = Field(default_factory=list)
    """Optional: the columns an attacker plausibly knows about a person."""
    sensitive: str | None = None
    """Optional: the column an attacker wants to learn."""
    max_rows: int = Field(default=50_000, ge=100)
    """Tables larger than this are attacked on a seeded sample of this many rows."""
    linkability_neighbors: int = Field(default=10, ge=1, le=1000)
    """Linkability: a person's two halves count as linked when their this-many nearest synthetic
    rows overlap (Anonymeter's n_neighbors; its Adult example uses 10). The random baseline
    and the holdout control use the same number, so a larger one does not inflate the risk."""
    risk_targets: int = Field(default=2000, ge=10, le=100_000)
    """Train rows (and as many holdout rows) the inference and linkability attacks target."""
    singling_out_queries: int = Field(default=500, ge=10, le=100_000)
    """Singling out: queries the attacker builds from the synthetic rows (Anonymeter's n_attacks)."""
    singling_out_columns: int = Field(default=3, ge=1, le=20)
    """Singling out: columns per multivariate query (Anonymeter's n_cols)."""
    singling_out_attempts: int = Field(default=1_000_000, ge=1000)
    """Singling out: most candidate queries tried to find `singling_out_queries` that single out
    one synthetic row; too few found lowers the rates, so the risk is then a lower bound."""
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Optional: settings per attack, keyed by its registered name (`membership: {bootstrap: 500}`,
    `linkability: {neighbors: 5}`); they win over the flat keys above. Checked against each
    attack's own settings by `synthpriv check` (the attack registry lives above this package)."""

    @field_validator("quasi_identifiers", mode="after")
    @classmethod
    def _quasi_identifiers_once(cls, value: list[str]) -> list[str]:
        # Checked here rather than by the attack stage, which would fail only after training.
        repeated = next((name for i, name in enumerate(value) if name in value[:i]), None)
        if repeated is not None:
            raise PydanticCustomError(
                "quasi_identifiers", "column '{column}' is listed twice", {"column": repeated}
            )
        return value

    @field_validator("sensitive", mode="after")
    @classmethod
    def _sensitive_is_not_known(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value in info.data.get("quasi_identifiers", ()):
            raise PydanticCustomError(
                "sensitive",
                "column '{column}' is also a quasi-identifier: the sensitive column is the one the "
                "attacker does not know",
                {"column": value},
            )
        return value


ExportFormat = Literal["parquet", "csv"]


def _parquet_only() -> list[ExportFormat]:
    return ["parquet"]


class ExportConfig(StrictModel):
    """Export the synthetic table when every gate passes."""

    formats: list[ExportFormat] = Field(default_factory=_parquet_only, min_length=1)
    """File formats to write."""


class GatesConfig(StrictModel):
    """Bounds that must hold for the synthetic table to be exported. Each is optional."""

    min_quality: float | None = Field(default=None, ge=0, le=1)
    """Lowest acceptable sdmetrics quality score (all pairs)."""
    max_exact_match_share: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable share of synthetic rows identical to a training row."""
    max_dcr_share: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable share of synthetic rows closer to train than to holdout (ideal 0.5)."""
    max_detection_auc: float | None = Field(default=None, ge=0.5, le=1)
    """Highest acceptable ROC AUC of a classifier telling real from synthetic rows (ideal 0.5)."""
    min_ml_efficacy_ratio: float | None = Field(default=None, ge=0, le=1.5)
    """Lowest acceptable ratio of a model's holdout score when trained on synthetic rows to the
    same model trained on real rows (ROC AUC, or R² for a numerical target; ideal 1). Needs
    `data.target`."""
    max_membership_auc: float | None = Field(default=None, ge=0.5, le=1)
    """Highest acceptable ROC AUC of the strongest membership-inference attack (ideal 0.5)."""
    max_inference_risk: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable attribute-inference risk (Anonymeter's (attack − control) / (1 − control));
    needs `attack.quasi_identifiers` and `attack.sensitive`."""
    max_singling_out_risk: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable singling-out risk (the larger of the univariate and multivariate attacks)."""
    max_linkage_risk: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable linkability risk; needs at least two `attack.quasi_identifiers`."""
    min_validity: float | None = Field(default=None, ge=0, le=1)
    """Lowest acceptable share of synthetic values inside the real domain (sdmetrics' diagnostic)."""
    max_rule_violation_share: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable share of synthetic rows breaking a rule the real table always keeps
    (a missing pattern, a functional dependency, "A = v implies B missing"), for the worst rule."""
    max_outlier_membership_auc: float | None = Field(default=None, ge=0.5, le=1)
    """Highest acceptable ROC AUC of the membership attack aimed at the most outlying training
    rows (by an autoencoder's reconstruction error) against equally outlying holdout rows."""
    max_unique_value_reuse_share: float | None = Field(default=None, ge=0, le=1)
    """Highest acceptable share of synthetic numeric values equal to a value that only one
    training row holds (the holdout's share is the reference)."""

    def needing_target(self) -> list[str]:
        """The gates set here that need `data.target`."""
        return ["min_ml_efficacy_ratio"] if self.min_ml_efficacy_ratio is not None else []


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
    # Validated from {} rather than called: type checkers read `params`'s default (inside
    # Annotated) as none, so TrainConfig() looks to them as if it lacked an argument.
    train: TrainConfig = Field(default_factory=lambda: TrainConfig.model_validate({}))
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
        refs += [
            (("attack", "quasi_identifiers", i), name) for i, name in enumerate(self.attack.quasi_identifiers)
        ]
        if self.attack.sensitive:
            refs.append((("attack", "sensitive"), self.attack.sensitive))
        refs += [(("synthesize", "conditions", name), name) for name in self.synthesize.fixed_conditions]
        refs += [(("synthesize", "rebalance", name), name) for name in self.synthesize.rebalance]
        return refs

    def section(self, stage: StageName) -> StrictModel:
        return {
            "train": self.train,
            "synthesize": self.synthesize,
            "validate": self.validate_,
            "attack": self.attack,
            "export": self.export,
        }[stage]
