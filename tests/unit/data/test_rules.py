"""Rules mined from a table (issue 19, must-have 1): each kind on a small hand-made table, the
demo's salary / placed logic, planted violations counted, and properties of mining. Rules checked
on encoded rows (`EncodedRuleCheck`, what sampling uses) break in exactly the rows they break in
decoded, on the demo, on a hand-made table of every kind of column, and on random tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthpriv.data.encoders import OneHotEncoder
from synthpriv.data.io import read_table
from synthpriv.data.rules import (
    MIN_RULE_SUPPORT,
    NULL_TOKEN,
    Determines,
    EncodedRuleCheck,
    ImpliesMissing,
    KnownPatterns,
    MissingTogether,
    Rule,
    broken_by_any,
    mine_rules,
    rules_from_json,
    rules_to_json,
    value_tokens,
)
from synthpriv.data.schema import infer_schema
from synthpriv.data.spans import EncodedTable, softmax_spans, value_spans
from synthpriv.data.transform import TabularTransformer


def _schema(table: pd.DataFrame):  # type: ignore[no-untyped-def]
    return infer_schema(table)


def _of(rules, kind):  # type: ignore[no-untyped-def]
    return [r for r in rules if isinstance(r, kind)]


@pytest.fixture(scope="module")
def placements() -> pd.DataFrame:
    return read_table("builtin:student_placements")


def test_demo_salary_and_placed_logic(placements: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="student_id"):  # it looks like an identifier
        schema = infer_schema(placements)
    rules = mine_rules(placements, schema, min_count=5)
    described = {r.describe() for r in rules}
    job = "salary, start_date, end_date, duration"
    assert f"{job}: missing together or present together" in described
    assert f"placed = False ⇒ {job} missing" in described
    assert f"placed = True ⇒ {job} present" in described
    assert any(r.describe().startswith("duration determines placed") for r in rules)
    assert not broken_by_any(rules, placements).any()  # confidence 1 on its own table

    planted = placements.copy()
    unplaced = np.flatnonzero(~planted["placed"].to_numpy())[:3]
    planted.loc[planted.index[unplaced], "salary"] = 250_000.0  # a salary for 3 students not placed
    placed = np.flatnonzero(planted["placed"].to_numpy())[:2]
    planted.loc[planted.index[placed], ["salary", "start_date", "end_date", "duration"]] = None
    by_text = {r.describe(): int(r.broken(planted).sum()) for r in rules}
    assert by_text[f"placed = False ⇒ {job} missing"] == 3
    assert by_text[f"placed = True ⇒ {job} present"] == 2
    assert by_text[f"{job}: missing together or present together"] == 3  # the two all-missing rows keep it
    assert int(broken_by_any(rules, planted).sum()) == 5


def _job_table(rows: int = 120, missing: int = 60) -> pd.DataFrame:
    placed = np.arange(rows) >= missing
    salary = np.where(placed, 1000.0 + np.arange(rows), np.nan)
    start = np.where(placed, 5.0 + np.arange(rows) % 7, np.nan)
    note = np.where(np.arange(rows) % 3 == 0, np.nan, 1.0 * np.arange(rows))  # missing on its own
    return pd.DataFrame({"placed": placed, "salary": salary, "start": start, "note": note})


def test_missing_together_groups_columns_with_the_same_missing_rows() -> None:
    table = _job_table()
    (group,) = _of(mine_rules(table, _schema(table)), MissingTogether)
    assert group.columns == ("salary", "start") and group.support == 60
    broken = table.copy()
    broken.loc[[0, 1], "start"] = 3.0  # two rows with a start but no salary
    broken.loc[[100], "salary"] = np.nan  # one with a start and no salary
    assert int(group.broken(broken).sum()) == 3


def test_implications_of_a_category_and_of_a_missing_value() -> None:
    table = _job_table()
    rules = _of(mine_rules(table, _schema(table)), ImpliesMissing)
    texts = {r.describe() for r in rules}
    assert "placed = False ⇒ salary, start missing" in texts
    assert "placed = True ⇒ salary, start present" in texts
    # Nothing about "note", which is missing on its own, and nothing the group already says.
    assert not any("note" in text for text in texts)
    assert not any(text.startswith(("salary missing", "start missing")) for text in texts)


def test_one_missing_column_implying_another_one_way() -> None:
    rows = 200
    workclass = np.where(
        np.arange(rows) < 60, None, np.array(["private", "public"], dtype=object)[np.arange(rows) % 2]
    )
    occupation = np.where(
        np.arange(rows) < 70, None, np.array(["a", "b", "c"], dtype=object)[np.arange(rows) % 3]
    )
    table = pd.DataFrame({"workclass": workclass, "occupation": occupation})
    texts = {r.describe() for r in mine_rules(table, _schema(table))}
    assert "workclass missing ⇒ occupation missing" in texts
    # workclass = private or public (outside the 10 rows of neither) implies no occupation only in
    # some rows: no rule; occupation present implies workclass present is the same rule, not repeated.
    assert not any(text.startswith("occupation = ") for text in texts)


def test_functional_dependency_and_its_rare_values() -> None:
    rows = 200
    education = np.array(["school", "college", "bachelor", "master"], dtype=object)[np.arange(rows) % 4]
    years = pd.Series(education).map({"school": 10, "college": 12, "bachelor": 15, "master": 17}).to_numpy()
    education[:2] = "doctorate"  # a rare value (2 rows) that keeps the dependency
    years[:2] = 21
    table = pd.DataFrame({"education": education, "years": years})
    rules = _of(mine_rules(table, _schema(table), min_count=5), Determines)
    forward = next(r for r in rules if r.column == "education")
    assert forward.dependent == "years"
    assert dict(forward.pairs) == {"school": "10.0", "college": "12.0", "bachelor": "15.0", "master": "17.0"}
    assert "doctorate" not in json.dumps(forward.to_dict()) and "21" not in forward.describe()
    assert next(r for r in rules if r.column == "years").dependent == "education"

    planted = table.copy()
    planted.loc[[10, 11], "years"] = 99  # two rows off the dependency
    planted.loc[[0], "years"] = 3  # the rare value is not checked
    assert int(forward.broken(planted).sum()) == 2


def test_one_row_off_the_rule_means_no_rule() -> None:
    table = _job_table()
    table.loc[0, "start"] = 4.0  # confidence below 1
    rules = mine_rules(table, _schema(table))
    assert not _of(rules, MissingTogether)
    assert "placed = False ⇒ salary, start missing" not in {r.describe() for r in rules}


@pytest.mark.parametrize(("missing", "found"), [(MIN_RULE_SUPPORT - 1, False), (MIN_RULE_SUPPORT, True)])
def test_support_threshold(missing: int, found: bool) -> None:
    table = _job_table(rows=150, missing=missing)
    assert bool(_of(mine_rules(table, _schema(table)), MissingTogether)) is found


def test_min_count_above_the_support_raises_it() -> None:
    table = _job_table(rows=200, missing=60)
    assert _of(mine_rules(table, _schema(table), min_count=5), MissingTogether)
    assert not _of(mine_rules(table, _schema(table), min_count=61), MissingTogether)


def test_many_valued_determinants_are_skipped() -> None:
    rows = 600
    code = np.array([f"c{i:03d}" for i in range(60)], dtype=object)[np.arange(rows) % 60]  # 60 levels
    group = np.array(["x", "y"], dtype=object)[(np.arange(rows) % 60) // 30]
    table = pd.DataFrame({"code": code, "group": group})
    assert not [r for r in _of(mine_rules(table, _schema(table)), Determines) if r.column == "code"]


def test_known_patterns_when_a_combination_never_occurs() -> None:
    rows = 180
    a = np.where(np.arange(rows) % 3 >= 1, np.nan, 1.0 * np.arange(rows))  # missing in 2 of 3 rows
    b = np.where(np.arange(rows) % 3 == 2, np.nan, 2.0 * np.arange(rows))  # missing only where a is
    table = pd.DataFrame({"a": a, "b": b})
    rules = mine_rules(table, _schema(table))
    (patterns,) = _of(rules, KnownPatterns)
    assert patterns.columns == ("a", "b") and len(patterns.patterns) == 3
    assert "b missing ⇒ a missing" in {r.describe() for r in rules}
    planted = table.copy()
    planted.loc[[1, 2], ["a", "b"]] = [np.nan, 1.0]  # a missing, b present: a pattern of the table
    assert int(patterns.broken(planted).sum()) == 0
    planted.loc[[0, 3], "b"] = np.nan  # a present, b missing: never seen
    assert int(patterns.broken(planted).sum()) == 2


def test_known_patterns_count_an_unseen_one() -> None:
    rows = 180
    kind = np.arange(rows) % 3
    a = np.where(kind == 0, np.nan, 1.0)
    b = np.where(kind == 1, np.nan, 1.0)
    c = np.where(kind == 2, np.nan, 1.0)  # exactly one of a, b, c missing in every row
    table = pd.DataFrame({"a": a, "b": b, "c": c})
    (patterns,) = _of(mine_rules(table, _schema(table)), KnownPatterns)
    assert len(patterns.patterns) == 3
    planted = table.copy()
    planted.loc[[0, 1], ["a", "b", "c"]] = np.nan  # all three missing: never seen
    planted.loc[[5], ["a", "b", "c"]] = 1.0  # none missing: never seen
    assert int(patterns.broken(planted).sum()) == 3


def test_rules_round_trip_through_json(placements: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="student_id"):  # it looks like an identifier
        schema = infer_schema(placements)
    rules = mine_rules(placements, schema, min_count=5)
    assert rules and rules_from_json(json.loads(json.dumps(rules_to_json(rules)))) == rules
    with pytest.raises(ValueError, match="not a rule"):
        rules_from_json([{"kind": "nonsense"}])
    with pytest.raises(ValueError, match="list"):
        rules_from_json({"kind": "determines"})


def test_tokens_compare_across_dtypes() -> None:
    assert list(value_tokens(pd.Series([3, 6]))) == list(value_tokens(pd.Series([3.0, 6.0])))
    assert list(value_tokens(pd.Series([3.0, None]))) == ["3.0", NULL_TOKEN]
    assert list(value_tokens(pd.Series([True, False]))) == list(
        value_tokens(pd.Series([True, False], dtype=object))
    )
    assert list(value_tokens(pd.Series(["a", None], dtype="category"))) == ["a", NULL_TOKEN]
    # -0.0 is 0.0 whichever comes first (factorize counts them as one value).
    assert list(value_tokens(pd.Series([-0.0, 0.0]))) == list(value_tokens(pd.Series([0.0, -0.0])))
    assert list(value_tokens(pd.Series([-0.0, 1.5]))) == ["0.0", "1.5"]


# -- properties ----------------------------------------------------------------------------


@st.composite
def _tables(draw: st.DrawFn) -> pd.DataFrame:
    """Random tables of categories and numbers, some missing; rules hold in some by chance."""
    rows = draw(st.integers(60, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.integers(2, 4))
    a = rng.integers(0, levels, rows)
    mapping = rng.integers(0, 3, levels)
    b = mapping[a] if draw(st.booleans()) else rng.integers(0, 3, rows)
    gap = a == 0 if draw(st.booleans()) else rng.random(rows) < 0.4
    return pd.DataFrame(
        {
            "a": np.array(["p", "q", "r", "s"], dtype=object)[a],
            "b": b,
            "x": np.where(gap, np.nan, rng.normal(size=rows)),
            "y": np.where(
                gap if draw(st.booleans()) else rng.random(rows) < 0.3, np.nan, rng.normal(size=rows)
            ),
        }
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables(), st.integers(1, 10))
def test_every_mined_rule_holds_in_every_row_of_its_table(table: pd.DataFrame, min_count: int) -> None:
    rules = mine_rules(table, _schema(table), min_count=min_count)
    for rule in rules:
        assert int(rule.broken(table).sum()) == 0, rule.describe()
        assert rule.support >= MIN_RULE_SUPPORT
    assert rules_from_json(rules_to_json(rules)) == rules


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(100, 300), st.integers(0, 2**32 - 1))
def test_a_table_built_to_keep_a_dependency_has_it_and_no_violation(
    levels: int, rows: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    a = np.arange(rows) % levels  # every level held by at least 16 rows
    b = (rng.permutation(levels) * 7)[a]
    table = pd.DataFrame({"a": np.array([f"v{i}" for i in range(levels)], dtype=object)[a], "b": b})
    rules = _of(mine_rules(table, _schema(table), min_count=5), Determines)
    forward = [r for r in rules if r.column == "a" and r.dependent == "b"]
    assert len(forward) == 1 and int(forward[0].broken(table).sum()) == 0
    planted = table.copy()
    row = int(rng.integers(rows))
    planted.loc[row, "b"] = int(planted.loc[row, "b"]) + 1  # off the pairing: b's values are 7 apart
    assert int(forward[0].broken(planted).sum()) == 1


# -- rules checked on encoded rows -----------------------------------------------------------


def _perturbed(transformer: TabularTransformer, table: pd.DataFrame, rows: int, seed: int) -> EncodedTable:
    """``rows`` of ``table`` encoded, drawn with replacement, then about one cell in ten replaced
    at random: any code of its block, any value (NaN, far beyond the knots, between them). Most
    rows keep most rules, many break one: both sides of every rule are checked."""
    rng = np.random.default_rng(seed)
    encoded = transformer.encode(table).take(rng.integers(len(table), size=rows))
    values, codes = encoded.values, encoded.codes
    chosen = rng.random(values.shape) < 0.1
    noise = rng.normal(scale=2.5, size=values.shape).astype(np.float32)
    noise[rng.random(values.shape) < 0.1] = np.nan
    values[chosen] = noise[chosen]
    for block, span in enumerate(softmax_spans(transformer.spans)):
        chosen_rows = rng.random(rows) < 0.1
        codes[chosen_rows, block] = rng.integers(0, span.width, int(chosen_rows.sum()))
    return encoded


def _assert_same_rows_break(
    rules: tuple[Rule, ...], transformer: TabularTransformer, rows: EncodedTable
) -> None:
    """Each rule, checked on the encoded rows, breaks in exactly the rows it breaks in decoded."""
    decoded = transformer.inverse_transform(rows)
    for rule in rules:
        expected = rule.broken(decoded)
        np.testing.assert_array_equal(EncodedRuleCheck((rule,), transformer).broken(rows), expected)
    check = EncodedRuleCheck(rules, transformer)
    np.testing.assert_array_equal(check.broken(rows), broken_by_any(rules, decoded))
    np.testing.assert_array_equal(check.broken(rows), broken_by_any(rules, decoded))  # prepared once


def test_encoded_rows_break_the_demo_rules_where_decoded_ones_do(placements: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="student_id"):
        schema = infer_schema(placements)
    transformer = TabularTransformer(schema.modelled(), min_category_count=5).fit(placements)
    rules = mine_rules(placements, schema, min_count=5)
    assert len(rules) >= 4 and transformer.missing_patterns is not None
    check = EncodedRuleCheck(rules, transformer)
    assert not check.broken(transformer.encode(placements)).any()  # real rows keep every rule
    for seed in range(3):
        rows = _perturbed(transformer, placements, 4000, seed)
        decoded = transformer.inverse_transform(rows)
        for rule in rules:  # every rule is broken by some rows and kept by most
            assert 0 < int(rule.broken(decoded).sum()) < len(rows) // 2, rule.describe()
        _assert_same_rows_break(rules, transformer, rows)


def _every_kind_of_column(rows: int = 300) -> pd.DataFrame:
    """A table with a rule of each kind, read from every kind of column: strings, booleans, a
    few-valued integer and a few-valued float (-1, 0, 1: decoded between its values, -0.0), a
    ``category`` column of integers (decoded per batch), integers and floats declared categorical, a
    number and a date missing together (a missing pattern block), a number missing on its own
    only where another is present (known patterns)."""
    i = np.arange(rows)
    status = np.array(["a", "b", "c"], dtype=object)[i % 3]
    placed = i % 2 == 0
    by_status = {"a": 0, "b": 1, "c": 2}
    at = pd.Series(status).map(by_status).to_numpy()
    return pd.DataFrame(
        {
            "status": status,
            "placed": placed,
            "level": np.array([1, 2, 3])[at],
            "score": np.array([-1.0, 0.0, 1.0])[at],
            "grade": pd.Series(np.array([10, 20, 30])[at]).astype("category"),
            "code": np.array([7, 8, 9])[at],
            "offset": np.array([-0.0, 0.0, 2.5])[at],  # two categories, -0.0 and 0.0: one token
            "salary": np.where(placed, 1000.0 + 13.0 * i, np.nan),
            "start": pd.Series(pd.to_datetime("2024-01-01") + pd.to_timedelta(i % 40, unit="D")).where(
                placed
            ),
            "note": np.where(i % 4 == 0, np.nan, 0.5 * i),  # missing only in placed rows
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_encoded_rows_break_every_kind_of_rule_where_decoded_ones_do(seed: int) -> None:
    table = _every_kind_of_column()
    schema = infer_schema(table, overrides={"code": "categorical", "offset": "categorical"})
    transformer = TabularTransformer(schema.modelled(), min_category_count=5).fit(table)
    rules = mine_rules(table, schema, min_count=5)
    assert {rule.kind for rule in rules} == {
        "missing_together",
        "implies_missing",
        "determines",
        "known_patterns",
    }
    read = {name for rule in _of(rules, Determines) for name in (rule.column, rule.dependent)}
    assert {"level", "score", "grade", "code", "offset"} <= read
    assert transformer.missing_patterns is not None and len(transformer.categorical["offset"].categories) == 3
    rows = _perturbed(transformer, table, 5000, seed)
    # Some scores four fifths of the way from -1 to 0 in model space: decoded, rounded, -0.0.
    knots = transformer.numeric["score"]
    below, above = knots.scores[np.flatnonzero(knots.quantiles == -1.0)[-1] :][:2]
    score = [span.column for span in value_spans(transformer.spans)].index("score")
    rows.values[:100, score] = below + 0.8 * (above - below)
    assert (transformer.inverse_transform(rows)["score"].map(str) == "-0.0").any()
    _assert_same_rows_break(rules, transformer, rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables(), st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_encoded_rows_of_random_tables_break_rules_where_decoded_ones_do(
    table: pd.DataFrame, min_count: int, seed: int
) -> None:
    schema = _schema(table)
    transformer = TabularTransformer(schema.modelled(), min_category_count=min_count).fit(table)
    rules = mine_rules(table, schema, min_count=min_count)
    _assert_same_rows_break(rules, transformer, _perturbed(transformer, table, 600, seed))


def test_encoded_check_refuses_other_rows_and_unknown_columns() -> None:
    table = _job_table()
    schema = _schema(table)
    transformer = TabularTransformer(schema.modelled()).fit(table)
    other = TabularTransformer(_schema(table[["placed", "salary"]]).modelled()).fit(table)
    rules = mine_rules(table, schema)
    with pytest.raises(ValueError, match="another transformer"):
        EncodedRuleCheck(rules, transformer).broken(other.encode(table))
    with pytest.raises(ValueError, match="'start'.* does not encode"):
        EncodedRuleCheck(rules, other).broken(other.encode(table))


def test_a_category_column_of_numbers_decoded_with_its_batch() -> None:
    """A ``category`` column of integers whose declared domain holds a decimal: a batch with the
    decimal decodes 10 as 10.0, one without it as 10 (its tokens are parsed together), so the
    rule "grade 10 goes with status a" applies to the first batch only. Checked on codes, the
    column is decoded with each batch, not once as a domain."""
    table = pd.DataFrame({"grade": pd.Series([10, 20] * 30).astype("category"), "status": ["a", "b"] * 30})
    domains = {"grade": ["10", "20", "5.5"], "status": ["a", "b"]}
    categorical = {name: OneHotEncoder.from_categories(values) for name, values in domains.items()}
    transformer = TabularTransformer.from_encoders(_schema(table).modelled(), {}, categorical, {})
    rule = Determines("grade", "status", (("10", "a"), ("20", "b")), support=60)
    check = EncodedRuleCheck((rule,), transformer)
    # Each row: (grade code, status code); grade 10 with status b breaks the rule where it applies.
    for grades, broken in (([0, 1], [True, False]), ([0, 2], [False, False])):
        rows = EncodedTable(transformer.spans, np.zeros((2, 0)), np.array([[g, 1] for g in grades]))
        assert list(rule.broken(transformer.inverse_transform(rows))) == broken
        assert list(check.broken(rows)) == broken


def test_a_code_that_cannot_be_decoded_fails_only_where_drawn() -> None:
    """A column of integers whose declared domain holds a typo: decoding fails in a batch that
    holds it, and the check of a batch that does not still answers."""
    table = pd.DataFrame({"code": [1, 2] * 30, "status": ["a", "b"] * 30})
    schema = infer_schema(table, overrides={"code": "categorical"})
    domains = {"code": ["1", "2", "one"], "status": ["a", "b"]}
    categorical = {name: OneHotEncoder.from_categories(values) for name, values in domains.items()}
    transformer = TabularTransformer.from_encoders(schema.modelled(), {}, categorical, {})
    rule = Determines("code", "status", (("1.0", "a"), ("2.0", "b")), support=60)
    rows = EncodedTable(transformer.spans, np.zeros((2, 0)), np.array([[0, 1], [1, 1]]))
    assert list(EncodedRuleCheck((rule,), transformer).broken(rows)) == [True, False]
    assert list(rule.broken(transformer.inverse_transform(rows))) == [True, False]
    typo = EncodedTable(transformer.spans, np.zeros((1, 0)), np.array([[2, 1]]))
    with pytest.raises((TypeError, ValueError)):
        transformer.inverse_transform(typo)
