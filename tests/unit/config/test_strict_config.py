"""Strict config (issue 15, must-haves 5 and 7): a key written twice, a boolean where a number
belongs, inconsistent attack settings, and YAML built to exhaust the parser are each one
ConfigError naming the line and key, never a silent reading or an internal error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.config.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES, load_config, parse_config
from synthpriv.config.model import PipelineConfig
from synthpriv.errors import ConfigError
from tests.conftest import one_line_error

runner = CliRunner()
MINIMAL = "name: demo\ndata:\n  path: table.csv\n"


def _error(text: str, tmp_path: Path) -> ConfigError:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# -- duplicate keys -------------------------------------------------------------------------


def test_a_second_gates_block_is_refused_naming_both_lines(tmp_path: Path) -> None:
    text = MINIMAL + "gates:\n  max_membership_auc: 0.6\nseed: 1\ngates:\n  min_quality: 0.5\n"
    error = _error(text, tmp_path)
    assert str(error) == f"{tmp_path / 'pipeline.yaml'}:7:1 gates: duplicate key (first at line 4)"
    assert error.exit_code == 2


@pytest.mark.parametrize(
    ("text", "position", "key", "first"),
    [
        (
            MINIMAL + "train:\n  privacy:\n    epsilon: 3\n    epsilon: 30\n",
            "7:5",
            "train.privacy.epsilon",
            6,
        ),
        ("name: demo\ndata:\n  path: a.csv\n  path: b.csv\n", "4:3", "data.path", 3),
        (MINIMAL + "gates: {min_quality: 0.5, min_quality: 0.1}\n", "4:27", "gates.min_quality", 4),
        (
            "name: demo\ndata:\n  path: t.csv\n  columns:\n    age: numerical\n    age: categorical\n",
            "6:5",
            "data.columns.age",
            5,
        ),
        (MINIMAL + "x:\n  - {a: 1, a: 2}\n", "5:12", "x[0].a", 5),
    ],
)
def test_duplicate_keys_are_refused_at_every_level(
    tmp_path: Path, text: str, position: str, key: str, first: int
) -> None:
    error = _error(text, tmp_path)
    assert error.where == f"{tmp_path / 'pipeline.yaml'}:{position} {key}"
    assert error.message == f"duplicate key (first at line {first})"


def test_the_same_key_in_different_mappings_is_fine() -> None:
    text = MINIMAL + "train:\n  batch_size: 10\nsynthesize:\n  batch_size: 20\n"
    config = parse_config(text).config
    assert (config.train.batch_size, config.synthesize.batch_size) == (10, 20)


def test_duplicate_key_through_the_cli_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(MINIMAL + "gates:\n  max_dcr_share: 0.6\ngates: {}\n")
    result = runner.invoke(app, ["check", str(path)])
    one_line_error(result, 2, "pipeline.yaml:6:1 gates: duplicate key (first at line 4)")


# -- booleans are not numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "line", "key"),
    [
        ("train:\n  privacy:\n    epsilon: true\n", 6, "train.privacy.epsilon"),
        ("synthesize:\n  rows: true\n", 5, "synthesize.rows"),
        ("seed: false\n", 4, "seed"),
        ("version: true\n", 4, "version"),
        ("train:\n  epochs: true\n", 5, "train.epochs"),
        ("gates:\n  max_membership_auc: true\n", 5, "gates.max_membership_auc"),
        ("validate:\n  bootstrap: false\n", 5, "validate.bootstrap"),
        ("attack:\n  risk_targets: true\n", 5, "attack.risk_targets"),
        ("train:\n  params:\n    learning_rate: true\n", 6, "train.params.learning_rate"),
        ("train:\n  params:\n    hidden_dim: true\n", 6, "train.params.hidden_dim"),
        ("train:\n  privacy: {epsilon: 3, max_grad_norm: true}\n", 5, "train.privacy.max_grad_norm"),
    ],
)
def test_booleans_are_refused_where_numbers_are_expected(
    tmp_path: Path, extra: str, line: int, key: str
) -> None:
    error = _error(MINIMAL + extra, tmp_path)
    assert error.where is not None and error.where.startswith(f"{tmp_path / 'pipeline.yaml'}:{line}:")
    assert error.where.endswith(f" {key}")
    assert "not true/false" in error.message


def test_a_boolean_holdout_is_refused(tmp_path: Path) -> None:
    error = _error("name: demo\ndata:\n  path: t.csv\n  holdout: true\n", tmp_path)
    assert error.where is not None and error.where.endswith(":4:12 data.holdout")


def test_numbers_are_still_read_as_before() -> None:
    text = MINIMAL + (
        "seed: 3\n"
        "train:\n  epochs: 2\n  generator: vae\n  params: {learning_rate: 0.01, hidden_dims: [8, 8]}\n"
        "  privacy: {epsilon: 3, delta: 1.0e-6, max_grad_norm: 2}\n"
        "synthesize: {rows: 10, conditions: {flag: true, level: 2}}\n"
        "gates: {max_membership_auc: 1, min_quality: 0.5}\n"
    )
    config = parse_config(text).config
    privacy = config.train.privacy
    assert privacy is not None
    assert privacy.epsilon == 3.0 and isinstance(privacy.epsilon, float)  # an int where a float is expected
    assert privacy.delta == 1e-6
    assert privacy.max_grad_norm == 2.0
    assert config.gates.max_membership_auc == 1.0
    assert config.synthesize.conditions == {"flag": True, "level": 2}  # booleans are values here
    # PyYAML reads `1e-6` (no dot) as text; it is still read as the number it says.
    assert (
        parse_config(MINIMAL + "train:\n  privacy: {epsilon: 3, delta: 1e-6}\n").config.train.privacy.delta
        == 1e-6
    )  # type: ignore[union-attr]


def test_booleans_still_fill_boolean_fields() -> None:
    text = "name: demo\ndata:\n  path: t.csv\n  columns:\n    age: {kind: numerical, nullable: false}\n"
    assert parse_config(text).config.data.columns["age"].nullable is False


def test_the_json_schema_is_unchanged_by_the_boolean_check() -> None:
    schema = PipelineConfig.model_json_schema(by_alias=True)
    epsilon = schema["$defs"]["PrivacyConfig"]["properties"]["epsilon"]
    assert epsilon["type"] == "number" and epsilon["exclusiveMinimum"] == 0


# -- attack settings ----------------------------------------------------------------------------


def test_a_repeated_quasi_identifier_is_refused(tmp_path: Path) -> None:
    error = _error(MINIMAL + "attack:\n  quasi_identifiers: [age, sex, age]\n", tmp_path)
    assert error.where is not None and error.where.endswith(":5:22 attack.quasi_identifiers")
    assert error.message == "column 'age' is listed twice"


@pytest.mark.parametrize("order", ["quasi first", "sensitive first"])
def test_a_sensitive_column_that_is_also_a_quasi_identifier_is_refused(tmp_path: Path, order: str) -> None:
    lines = ["  quasi_identifiers: [age, income]\n", "  sensitive: income\n"]
    if order == "sensitive first":
        lines.reverse()
    error = _error(MINIMAL + "attack:\n" + "".join(lines), tmp_path)
    line = 6 if order == "quasi first" else 5
    assert error.where is not None and error.where.endswith(f":{line}:14 attack.sensitive")
    assert "column 'income' is also a quasi-identifier" in error.message


def test_consistent_attack_settings_load() -> None:
    config = parse_config(MINIMAL + "attack:\n  quasi_identifiers: [age, sex]\n  sensitive: income\n").config
    assert config.attack.quasi_identifiers == ["age", "sex"] and config.attack.sensitive == "income"


def test_attack_settings_are_refused_by_check_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "name: demo\ndata:\n  path: builtin:student_placements\nattack:\n  quasi_identifiers: [gender, gender]\n"
    )
    result = runner.invoke(app, ["check", str(path)])
    one_line_error(result, 2, "pipeline.yaml:5:22 attack.quasi_identifiers", "'gender' is listed twice")


# -- YAML built to exhaust the parser -------------------------------------------------------------


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_one_config_error_quickly(tmp_path: Path, style: str) -> None:
    if style == "flow":
        text = "name: demo\ndata: " + "[" * 50_000 + "]" * 50_000 + "\n"
    else:  # block nesting indents each level: 1,000 levels fit in the size limit
        text = "name: demo\ndata:\n" + "".join(" " * (level + 1) + "-\n" for level in range(1000))
    started = time.perf_counter()
    error = _error(text, tmp_path)
    assert time.perf_counter() - started < 5
    assert error.message == f"nested deeper than {MAX_DEPTH} levels"
    assert error.where is not None and error.where.startswith(f"{tmp_path / 'pipeline.yaml'}:")


def test_nesting_50000_deep_through_the_cli_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("name: demo\ndata: " + "[" * 50_000 + "]" * 50_000 + "\n")
    result = runner.invoke(app, ["check", str(path)])
    one_line_error(result, 2, "pipeline.yaml:2:", "nested deeper than")


def _alias_bomb(levels: int) -> str:
    lines = [
        "name: demo",
        "data: {path: t.csv}",
        "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]",
    ]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    started = time.perf_counter()
    error = _error(_alias_bomb(9), tmp_path)  # a billion values once expanded
    assert time.perf_counter() - started < 5
    assert f"more than {MAX_VALUES:,} values" in error.message
    assert error.where is not None and error.where.startswith(f"{tmp_path / 'pipeline.yaml'}:")


def test_an_alias_bomb_through_the_cli_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(_alias_bomb(9))
    result = runner.invoke(app, ["check", str(path)])
    one_line_error(result, 2, "pipeline.yaml:", "YAML aliases")


def test_small_aliases_still_work() -> None:
    text = MINIMAL + "attack:\n  quasi_identifiers: &known [age, sex]\nvalidate: {max_rows: 200}\n"
    assert parse_config(text).config.attack.quasi_identifiers == ["age", "sex"]


def test_a_file_larger_than_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(MINIMAL + "#" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB") as info:
        load_config(path)
    assert info.value.where == str(path)
