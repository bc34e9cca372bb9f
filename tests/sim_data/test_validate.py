"""Validation of the three logged-data tables: good tables pass, every kind of bad input names its column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim_data.errors import SchemaError
from sim_data.logs import BanditLog, ChoiceLog, StockLog
from sim_data.validate import validate


def bandit_frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": [f"e{i}" for i in range(n)],
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="min").astype(str),
        "action": np.arange(n) % 3,
        "position": np.arange(n) % 2,
        "propensity": np.full(n, 1 / 3),
        "reward": (np.arange(n) % 2).astype(float),
        "candidates": ["0 1 2"] * n,
        "context_age": np.linspace(20, 60, n),
        "context_device": ["web", "app"] * (n // 2),
    })


def choice_frame() -> pd.DataFrame:
    rows = []
    for occ, (shopper, time, pick) in enumerate([("s1", 1, "a"), ("s1", 2, None), ("s2", 1, "b")]):
        for product, price in (("a", 1.0), ("b", 1.5)):
            chosen = int(product == pick)
            rows.append({"shopper_id": shopper, "occasion_id": occ, "time": time, "product": product, "price": price,
                         "display": 0, "feature": int(product == "b"), "chosen": chosen, "quantity": float(chosen)})
    return pd.DataFrame(rows)


def stock_frame() -> pd.DataFrame:
    return pd.DataFrame({"product": ["a", "a", "b"], "period": [0, 1, 0], "on_hand": [5.0, 3.0, 2.0],
                         "ordered": [4.0, 0.0, 1.0], "received": [0.0, 4.0, 0.0], "sold": [2.0, 7.0, 2.0],
                         "lost_sales": [0.0, 1.0, np.nan]})


def test_good_tables_pass_and_get_canonical_dtypes():
    b = validate(bandit_frame(), "bandit")
    assert b["action"].dtype == np.int64 and b["reward"].dtype == np.float64
    assert str(b["timestamp"].dt.tz) == "UTC"
    assert list(b.columns[:6]) == ["event_id", "timestamp", "action", "position", "propensity", "reward"]
    c = validate(choice_frame(), "choice")
    assert c["chosen"].sum() == 2
    s = validate(stock_frame(), "stock")
    assert s["lost_sales"].isna().sum() == 1


def test_validation_does_not_modify_its_input():
    df = bandit_frame()
    before = df.copy()
    validate(df, "bandit")
    pd.testing.assert_frame_equal(df, before)


def _set(col, rows, value):
    def mutate(df):
        df = df.copy()
        if col not in df.columns:
            df[col] = None
        df[col] = df[col].astype(object)
        for r in rows:
            df.at[r, col] = value
        return df
    return mutate


def _drop(col):
    return lambda df: df.drop(columns=[col])


BAD_BANDIT = {
    "missing propensity column": (_drop("propensity"), "propensity", "required column"),
    "missing event_id column": (_drop("event_id"), "event_id", "required column"),
    "extra column": (lambda df: df.assign(score=1.0), "score", "extra column"),
    "zero propensity": (_set("propensity", [2], 0.0), "propensity", "(0, 1]"),
    "propensity above one": (_set("propensity", [1], 1.5), "propensity", "(0, 1]"),
    "negative propensity": (_set("propensity", [0], -0.1), "propensity", "(0, 1]"),
    "propensity NaN on some rows": (_set("propensity", [3], np.nan), "propensity", "NaN on some rows"),
    "duplicate event id": (_set("event_id", [4], "e0"), "event_id", "unique"),
    "action not in candidates": (_set("candidates", [1], "0 2"), "action", "candidates"),
    "unparsable candidates": (_set("candidates", [1], "0,1"), "candidates", "space-separated"),
    "fractional action": (_set("action", [0], 1.5), "action", "integers"),
    "text in action": (_set("action", [0], "banner"), "action", "non-numeric"),
    "negative position": (_set("position", [5], -1), "position", "[0, inf]"),
    "NaN reward": (_set("reward", [2], np.nan), "reward", "missing"),
    "infinite reward": (_set("reward", [2], np.inf), "reward", "infinite"),
    "unparsable timestamp": (_set("timestamp", [3], "yesterday"), "timestamp", "unparsable"),
    "numeric timestamp": (lambda df: df.assign(timestamp=np.arange(len(df))), "timestamp", "dtype"),
    "missing event id": (_set("event_id", [0], None), "event_id", "missing"),
    "NaN context feature": (_set("context_age", [1], np.nan), "context_age", "missing"),
}


@pytest.mark.parametrize("case", sorted(BAD_BANDIT))
def test_bad_bandit_input_names_the_column(case):
    mutate, column, words = BAD_BANDIT[case]
    with pytest.raises(SchemaError) as info:
        validate(mutate(bandit_frame()), "bandit")
    assert column in info.value.columns, str(info.value)
    message = str(info.value)
    assert f"'{column}'" in message and words in message


BAD_CHOICE = {
    "negative price": (_set("price", [0], -1.0), "price", "[0, inf]"),
    "negative quantity": (_set("quantity", [0], -2.0), "quantity", "[0, inf]"),
    "display not a flag": (_set("display", [1], 2), "display", "one of [0, 1]"),
    "two chosen in one occasion": (_set("chosen", [1], 1), "chosen", "at most one"),
    "quantity without choice": (_set("quantity", [3], 1.0), "quantity", "chosen"),
    "product twice in an occasion": (_set("product", [1], "a"), "occasion_id, product", "at most once"),
    "time going backwards": (_set("time", [2, 3], 0), "time", "backwards"),
    "two shoppers in one occasion": (_set("shopper_id", [1], "s9"), "shopper_id", "one shopper_id per occasion"),
    "missing feature column": (_drop("feature"), "feature", "required column"),
}


@pytest.mark.parametrize("case", sorted(BAD_CHOICE))
def test_bad_choice_input_names_the_column(case):
    mutate, column, words = BAD_CHOICE[case]
    with pytest.raises(SchemaError) as info:
        validate(mutate(choice_frame()), "choice")
    assert column in info.value.columns, str(info.value)
    assert words in str(info.value)


BAD_STOCK = {
    "negative on hand": (_set("on_hand", [0], -1.0), "on_hand", "[0, inf]"),
    "sold more than available": (_set("sold", [0], 6.0), "sold", "on_hand + received"),
    "duplicate product period": (_set("period", [1], 0), "product, period", "one row per product and period"),
    "negative lost sales": (_set("lost_sales", [0], -1.0), "lost_sales", "[0, inf]"),
}


@pytest.mark.parametrize("case", sorted(BAD_STOCK))
def test_bad_stock_input_names_the_column(case):
    mutate, column, words = BAD_STOCK[case]
    with pytest.raises(SchemaError) as info:
        validate(mutate(stock_frame()), "stock")
    assert column in info.value.columns, str(info.value)
    assert words in str(info.value)


def test_all_problems_are_reported_at_once_with_row_numbers():
    df = bandit_frame(30)
    df.loc[[2, 5, 7], "propensity"] = 0.0
    df.loc[4, "reward"] = np.nan
    df = df.drop(columns=["event_id"])
    with pytest.raises(SchemaError) as info:
        validate(df, "bandit")
    err = info.value
    assert set(err.columns) == {"event_id", "propensity", "reward"}
    prop = next(p for p in err.problems if p.column == "propensity")
    assert prop.rows == (2, 5, 7) and prop.n_rows == 3
    assert "rows 2, 5, 7" in str(err)


def test_row_list_is_capped_at_ten():
    df = bandit_frame(40)
    df["propensity"] = 2.0
    with pytest.raises(SchemaError) as info:
        validate(df, "bandit")
    problem = info.value.problems[0]
    assert problem.n_rows == 40 and len(problem.rows) == 10
    assert "and 30 more" in str(info.value)


def test_all_nan_propensity_means_unknown():
    df = bandit_frame().assign(propensity=np.nan)
    log = BanditLog.from_frame(df)
    assert not log.propensity_known
    assert log.summary()["propensity_min"] is None


def test_action_space_bounds():
    with pytest.raises(SchemaError, match="n_actions=2"):
        BanditLog.from_frame(bandit_frame(), n_actions=2)
    with pytest.raises(SchemaError, match="n_positions=1"):
        BanditLog.from_frame(bandit_frame(), n_positions=1)
    log = BanditLog.from_frame(bandit_frame())
    assert (log.n_actions, log.n_positions) == (3, 2)


def test_empty_table_and_unknown_kind():
    with pytest.raises(SchemaError, match="at least one row"):
        validate(bandit_frame().iloc[:0], "bandit")
    with pytest.raises(ValueError, match="expected one of"):
        validate(bandit_frame(), "clicks")
    with pytest.raises(TypeError, match="DataFrame"):
        validate([1, 2], "bandit")


def test_containers_summarise():
    assert ChoiceLog.from_frame(choice_frame()).summary()["no_purchase_share"] == pytest.approx(1 / 3)
    assert StockLog.from_frame(stock_frame()).summary()["products"] == 2
