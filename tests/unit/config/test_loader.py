"""YAML → typed config: defaults, strictness, and errors pointing at the right line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synthpriv.config.loader import format_loc, load_config, parse_config
from synthpriv.config.model import PipelineConfig
from synthpriv.errors import ConfigError
from synthpriv.generators.params import AutoregressiveParams

MINIMAL = "name: demo\ndata:\n  path: table.csv\n"


def test_minimal_file_gets_documented_defaults() -> None:
    config = parse_config(MINIMAL).config
    assert config.seed == 0
    assert config.data.holdout == 0.2
    assert config.train.generator == "autoregressive"
    assert isinstance(config.train.params, AutoregressiveParams)
    assert config.synthesize.rows is None
    assert config.gates.min_quality is None


def test_params_are_validated_by_the_generator_model() -> None:
    config = parse_config(
        MINIMAL + "train:\n  generator: vae\n  params: {latent_dim: 8, hidden_dims: [32]}\n"
    ).config
    assert config.train.params.latent_dim == 8  # type: ignore[attr-defined]
    assert config.train.params.hidden_dims == (32,)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (MINIMAL + "trian: {}\n", 4, "trian", "unknown key"),
        (MINIMAL + "train:\n  epochs: 0\n", 5, "train.epochs", "greater than or equal to 1"),
        (MINIMAL + "train:\n  params:\n    hidden_dim: x\n", 6, "train.params.hidden_dim", "valid integer"),
        (
            MINIMAL + "attack:\n  quasi_identifiers: [a, 3.5]\n",
            5,
            "attack.quasi_identifiers[1]",
            "valid string",
        ),
        ("name: demo\n", 1, "data", "required key is missing"),
        ("name: 'bad name!'\ndata: {path: x}\n", 1, "name", "pattern"),
        (MINIMAL + "validate: {max_rows: 5}\n", 4, "validate.max_rows", "greater than or equal to 100"),
    ],
)
def test_errors_name_line_and_key(tmp_path: Path, text: str, line: int, key: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert info.value.where is not None
    assert info.value.where.startswith(f"{path}:{line}:")
    assert info.value.where.endswith(key)


def test_malformed_yaml_gives_position() -> None:
    with pytest.raises(ConfigError, match="malformed YAML") as info:
        parse_config("name: demo\ndata: {path: [x\n")
    assert info.value.where is not None and info.value.where.startswith("<config>:")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_non_mapping_file_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        parse_config(text)


def test_yaml_tags_cannot_construct_objects() -> None:
    with pytest.raises(ConfigError, match="malformed YAML"):
        parse_config("name: !!python/object/apply:os.system ['echo hi']\ndata: {path: x}\n")


def test_data_paths_resolve_against_the_pipeline_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "p.yaml"
    path.write_text("name: demo\ndata: {path: ../t.csv, holdout: held.csv}\n")
    loaded = load_config(path)
    assert loaded.resolve_data_path(loaded.config.data.path) == tmp_path / "sub" / "../t.csv"
    assert loaded.resolve_data_path("builtin:student_placements") == "builtin:student_placements"


def test_config_round_trips_through_yaml() -> None:
    config = parse_config(
        MINIMAL + "train: {epochs: 3, params: {hidden_dim: 4}}\ngates: {min_quality: 0.5}\n"
    ).config
    dumped = yaml.safe_dump(config.model_dump(mode="json", by_alias=True))
    again = parse_config(dumped).config
    assert again == config


def test_json_schema_documents_fields() -> None:
    schema = PipelineConfig.model_json_schema(by_alias=True)
    data = schema["$defs"]["DataConfig"]["properties"]
    assert "CSV or Parquet" in data["path"]["description"]


def test_format_loc() -> None:
    assert format_loc(("attack", "quasi_identifiers", 2)) == "attack.quasi_identifiers[2]"


# -- column declarations (public knowledge for differential privacy) ---------------------

DECLARED = MINIMAL + "  columns:\n"


def test_column_declarations_accept_a_bare_kind_or_a_mapping() -> None:
    from datetime import datetime

    from synthpriv.data.schema import ColumnKind

    text = DECLARED + (
        "    age: numerical\n"
        "    hours: {kind: numerical, bounds: [1, 99]}\n"
        "    workclass: {kind: categorical, categories: [Private, Self-emp, '1']}\n"
        "    married: {kind: boolean, nullable: false}\n"
        "    since: {kind: datetime, bounds: [2020-01-01, '2024-06-30T12:00:00+02:00']}\n"
    )
    config = parse_config(text).config
    columns = config.data.declarations()
    assert columns["age"].kind is ColumnKind.NUMERICAL and columns["age"].bounds is None
    assert columns["hours"].bounds == (1.0, 99.0)
    assert columns["workclass"].categories == ["Private", "Self-emp", "1"]
    assert columns["married"].nullable is False
    # Aware bounds are taken in UTC, as the transformer measures aware datetimes.
    assert columns["since"].bounds == (datetime(2020, 1, 1), datetime(2024, 6, 30, 10))
    assert [ref[1] for ref in config.column_references()] == ["age", "hours", "workclass", "married", "since"]
    # A bare kind is written back bare, so files, manifests and hashes stay as they were.
    dumped = config.model_dump(mode="json")["data"]["columns"]
    assert dumped["age"] == "numerical"
    assert dumped["hours"] == {"kind": "numerical", "bounds": [1.0, 99.0]}
    assert parse_config(yaml.safe_dump(config.model_dump(mode="json", by_alias=True))).config == config


@pytest.mark.parametrize(
    ("declaration", "key", "message"),
    [
        ("{kind: numerical, bounds: [90, 17]}", "bounds", "low < high"),
        ("{kind: numerical, bounds: [0, .inf]}", "bounds", "finite"),
        ("{kind: numerical, bounds: [1, 2, 3]}", "bounds", "pair"),
        ("{kind: numerical, bounds: [a, 2]}", "bounds", "two numbers"),
        ("{kind: categorical, bounds: [0, 1]}", "bounds", "only to numerical and datetime"),
        ("{kind: datetime, bounds: [1, 2]}", "bounds", "ISO dates"),
        ("{kind: numerical, categories: [a]}", "categories", "only to categorical"),
        ("{kind: boolean, categories: [a]}", "categories", "only to categorical"),
        ("{kind: categorical, categories: []}", "categories", "at least one"),
        ("{kind: categorical, categories: [a, b, a]}", "categories", "'a' is listed twice"),
        ("{kind: categorical, categories: [a, 1]}", "categories[1]", "valid string"),
        ("{kind: numerical, bound: [1, 2]}", "bound", "unknown key"),
        ("{bounds: [1, 2]}", "kind", "required key is missing"),
        ("money", "kind", "'numerical'"),
        ("3", "", "a kind .* or a mapping"),
    ],
)
def test_bad_column_declarations_name_their_key(
    tmp_path: Path, declaration: str, key: str, message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(DECLARED + f"    age: {declaration}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert info.value.where is not None
    assert info.value.where.startswith(f"{path}:5:")
    assert info.value.where.endswith("data.columns.age" + (f".{key}" if key else ""))


def test_json_schema_documents_both_declaration_forms() -> None:
    schema = PipelineConfig.model_json_schema(by_alias=True)
    declaration = schema["$defs"]["ColumnDeclaration"]
    string, mapping = declaration["anyOf"]
    assert "numerical" in string["enum"]
    assert set(mapping["properties"]) == {"kind", "bounds", "categories", "nullable", "decimals", "values"}


@pytest.mark.parametrize("kind", ["vae", "gan", "diffusion"])
def test_params_left_out_get_the_generators_own_defaults(kind: str) -> None:
    from synthpriv.generators.params import PARAMS_BY_KIND

    loaded = parse_config(f"name: x\ndata: {{path: a.csv}}\ntrain: {{generator: {kind}}}\n")
    assert type(loaded.config.train.params) is PARAMS_BY_KIND[kind]
