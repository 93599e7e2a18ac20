"""Property tests of every registered generator's `fit` / `sample` on random small tables.

The tables mix every column flavour a user's table may hold: floats (NaN, 0, -0.0,
negatives, +/-1e12, constant, all missing), integers (int64 and nullable Int64 with <NA>),
categories (object or ``string`` text with None, pandas ``category`` dtype, integer codes in a
``category``), booleans (bool, nullable ``boolean``, object with None) and datetimes (naive
and time-zoned, with NaT), under odd column names (spaces, unicode, HTML, quotes). Each
generator trains one epoch with tiny networks, then samples. The product promises the
input's column names, order and dtypes back; categories may gain ``"(other)"``, the token
rare values fold into (``min_category_count``, default 5).

Reproducible in CI: ``derandomize=True`` and no example database, so every run tries the
same tables.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthpriv.data.encoders import OTHER_TOKEN
from synthpriv.data.schema import ColumnKind, infer_schema
from synthpriv.errors import DataError
from synthpriv.generators.base import Generator
from synthpriv.generators.registry import available_generators, get_generator

#: The smallest networks each generator builds, so an example fits in a fraction of a second.
TINY: dict[str, dict[str, object]] = {
    "vae": {"latent_dim": 2, "hidden_dims": (8,)},
    "gan": {
        "embedding_dim": 4,
        "generator_dims": (8,),
        "critic_dims": (8,),
    },  # default pac (10): more than some tables' rows
    "diffusion": {"timesteps": 4, "sampling_steps": 2, "hidden_dims": (8,), "embedding_dim": 4},
    "marginal": {"components": 4, "bins": 3},
    "autoregressive": {"hidden_dim": 4, "bins": 3, "sub_bins": 2},
}
BATCH_SIZE = 16

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ODD_NAMES = [
    "a b",
    " leading space",
    "trailing space ",
    "日本語",
    "émoji 🙂",
    "<b>bold</b>",
    "<script>alert(1)</script>",
    'say "hi"',
    "it's",
    "a,b;c",
    "x.y",
    "[0]",
    "(other)",
    "nan",
    "None",
    "0",
    "id",
    "\t",
]
EDGE_FLOATS = [0.0, -0.0, 1.0, -1.0, -273.15, 0.5, 1e12, -1e12, 1e-9, 123456.789]
EDGE_INTS = [0, 1, -1, -7, 42, 10**12, -(10**12)]
TEXTS = ["a", "b", "", " ", "é", "日本", "🙂", "<i>x</i>", "'q'", '"d"', "None", "nan", OTHER_TOKEN]

# -- strategies ---------------------------------------------------------------------------


def _with_nulls(draw: st.DrawFn, values: list, n: int, null: object) -> list:
    """``values`` with some entries replaced by ``null`` (none, some, or all of them)."""
    mode = draw(st.sampled_from(["none", "some", "some", "all"]))
    if mode == "none":
        return values
    if mode == "all":
        return [null] * n
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return [null if m else v for v, m in zip(values, mask)]


def _pick(draw: st.DrawFn, pool: list, n: int) -> list:
    """``n`` values drawn from ``pool``; sometimes all one value (a constant column)."""
    if draw(st.integers(0, 4)) == 0:
        return [draw(st.sampled_from(pool))] * n
    return draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))


@st.composite
def float_column(draw: st.DrawFn, n: int) -> pd.Series:
    pool = draw(st.sampled_from([EDGE_FLOATS, EDGE_FLOATS[:3]]))
    if draw(st.booleans()):
        values = draw(
            st.lists(st.one_of(st.sampled_from(pool), st.floats(-1e12, 1e12)), min_size=n, max_size=n)
        )
    else:
        values = _pick(draw, pool, n)
    return pd.Series(_with_nulls(draw, values, n, np.nan), dtype="float64")


@st.composite
def int_column(draw: st.DrawFn, n: int) -> pd.Series:
    values = (
        _pick(draw, EDGE_INTS, n)
        if draw(st.booleans())
        else draw(st.lists(st.integers(-(10**12), 10**12), min_size=n, max_size=n))
    )
    if draw(st.booleans()):
        return pd.Series(_with_nulls(draw, values, n, pd.NA), dtype="Int64")
    return pd.Series(values, dtype="int64")


@st.composite
def text_column(draw: st.DrawFn, n: int) -> pd.Series:
    pool = draw(
        st.lists(st.one_of(st.sampled_from(TEXTS), st.text(max_size=5)), min_size=1, max_size=6, unique=True)
    )
    values = _with_nulls(draw, _pick(draw, pool, n), n, None)
    flavour = draw(st.sampled_from(["object", "category", "string"]))
    if flavour == "category":
        extra = (
            [draw(st.text(min_size=1, max_size=3))] if draw(st.booleans()) else []
        )  # a category no row holds
        return pd.Series(pd.Categorical(values, categories=list(dict.fromkeys(pool + extra))))
    return pd.Series(values, dtype=flavour)


@st.composite
def coded_column(draw: st.DrawFn, n: int) -> pd.Series:
    """Integer codes in a ``category`` dtype (rare ones fold into the most frequent code)."""
    pool = draw(st.lists(st.sampled_from(EDGE_INTS), min_size=1, max_size=4, unique=True))
    values = _with_nulls(draw, _pick(draw, pool, n), n, None)
    return pd.Series(pd.Categorical(values, categories=pool))


@st.composite
def bool_column(draw: st.DrawFn, n: int) -> pd.Series:
    values = _pick(draw, [True, False], n)
    flavour = draw(st.sampled_from(["bool", "boolean", "object", "category"]))
    if flavour == "bool":
        return pd.Series(values, dtype=bool)
    return pd.Series(_with_nulls(draw, values, n, None), dtype=flavour)


@st.composite
def id_column(draw: st.DrawFn, n: int) -> pd.Series:
    """Every value unique: from 20 rows on (and named like an id, for numbers) not learned but
    regenerated as running numbers or ``syn-<i>`` strings, in the input's dtype."""
    numbers = draw(st.permutations(range(n)))
    flavour = draw(st.sampled_from(["int64", "Int64", "float64", "object", "category", "string"]))
    if flavour in ("object", "category", "string"):
        return pd.Series([f"u{i}" for i in numbers], dtype=flavour)
    return pd.Series(numbers, dtype=flavour)


@st.composite
def datetime_column(draw: st.DrawFn, n: int) -> pd.Series:
    seconds = st.integers(-2_000_000_000, 4_000_000_000)  # 1906 .. 2096
    values = pd.to_datetime(
        pd.Series(_pick(draw, draw(st.lists(seconds, min_size=1, max_size=5)), n)), unit="s"
    )
    values = pd.Series(_with_nulls(draw, list(values), n, pd.NaT), dtype="datetime64[ns]")
    zone = draw(st.sampled_from([None, None, "UTC", "Europe/Berlin"]))
    return values.dt.tz_localize(zone) if zone else values


COLUMNS = {
    "float": float_column,
    "int": int_column,
    "text": text_column,
    "coded": coded_column,
    "bool": bool_column,
    "datetime": datetime_column,
    "id": id_column,
}


@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.one_of(st.integers(1, 8), st.integers(20, 25)))  # ids are recognised from 20 rows
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=5))
    drawn = draw(
        st.lists(
            st.one_of(st.sampled_from(ODD_NAMES), st.text(min_size=1, max_size=6)),
            min_size=len(kinds),
            max_size=len(kinds),
        )
    )
    names: list[str] = []
    for index, (name, kind) in enumerate(zip(drawn, kinds)):
        name = f"{name} id" if kind == "id" else name  # numbers are ids only when named like one
        names.append(f"{name} {index}" if name in names else name)
    return pd.DataFrame({name: draw(COLUMNS[kind](n)) for name, kind in zip(names, kinds)})


# -- the property -------------------------------------------------------------------------


def _tiny(kind: str) -> Generator:
    return get_generator(kind)(TINY[kind], epochs=1, batch_size=BATCH_SIZE, seed=0, device="cpu")


def _assert_same_schema(
    kind: str, generator: Generator, table: pd.DataFrame, synthetic: pd.DataFrame, rows: int
) -> None:
    assert list(synthetic.columns) == list(table.columns), kind
    assert len(synthetic) == rows
    assert generator.schema is not None
    for name in table.columns:
        before, after = table[name], synthetic[name]
        column_kind = generator.schema[name].kind
        learned = column_kind in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)
        if isinstance(before.dtype, pd.CategoricalDtype):
            # A category dtype is the same up to its categories: those the rows hold, "(other)"
            # for rare ones, or the running ids of a regenerated id column.
            assert isinstance(after.dtype, pd.CategoricalDtype), f"{kind} {name!r}: {after.dtype}"
            if column_kind is not ColumnKind.ID:
                allowed = {*before.cat.categories, OTHER_TOKEN}
                assert set(after.cat.categories) <= allowed, f"{kind} {name!r}: {list(after.cat.categories)}"
        else:
            assert str(after.dtype) == str(before.dtype), f"{kind} {name!r}: {after.dtype} != {before.dtype}"
        if learned:  # never a category the input did not hold (rare ones become "(other)")
            invented = set(after.dropna()) - set(before.dropna()) - {OTHER_TOKEN}
            assert not invented, f"{kind} {name!r}: invented {invented}"


@pytest.mark.parametrize("kind", available_generators())
@SETTINGS
@given(table=tables(), rows=st.sampled_from([0, 1, 7]))
def test_fit_and_sample_keep_the_input_schema(kind: str, table: pd.DataFrame, rows: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "looks like an identifier" and torch's notes
        try:
            schema = infer_schema(table)
        except DataError as exc:
            # The one table no generator can take: every column is an id (all values unique).
            assert "no column left to learn" in exc.message
            with pytest.raises(DataError, match="no column left to learn"):
                _tiny(kind).fit(table)
            return
        generator = _tiny(kind)
        generator.fit(table)
        assert generator.schema == schema
        synthetic = generator.sample(rows, seed=1)
    _assert_same_schema(kind, generator, table, synthetic, rows)


@pytest.mark.parametrize("dtype", ["int64", "Int64", "int32", "float64", "object", "category", "string"])
def test_regenerated_ids_keep_the_input_dtype(dtype: str) -> None:
    """An id column (all 30 values unique) is regenerated, in the input's dtype (float64 ids
    were int64, category and string ids object)."""
    ids = [f"u{i}" for i in range(30)] if dtype in ("object", "category", "string") else list(range(30))
    table = pd.DataFrame({"user_id": pd.Series(ids, dtype=dtype), "x": np.linspace(0, 1, 30)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generator = _tiny("vae")
        generator.fit(table)
    assert generator.schema is not None and generator.schema["user_id"].kind is ColumnKind.ID
    synthetic = generator.sample(5, seed=0)
    assert str(synthetic["user_id"].dtype) == dtype
    assert synthetic["user_id"].is_unique
