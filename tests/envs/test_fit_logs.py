"""`sim fit FILE --kind ...`: a shop's own files, in its own column names and ids, recover the truth behind them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from envs.fit_logs import fit_file
from sim_data.errors import SchemaError
from sim_data.synthetic import make_click_world, make_demand_world

BANNERS_MAP = """kind = "bandit"
[columns]
event_id = "imp"
timestamp = "at"
action = "banner"
position = "slot"
propensity = "pscore"
reward = "clicked"
[features]
columns = ["f0", "f1", "f2"]
[ids]
position_base = 1
"""

BASKETS_MAP = """kind = "choice"
[columns]
shopper_id = "customer"
occasion_id = "visit"
time = "week"
product = "sku"
price = "unit_price"
display = "on_display"
feature = "in_newsletter"
chosen = "bought"
quantity = "units"
"""


def _banner_file(tmp_path, n_rounds=20_000, seed=3):
    log, truth = make_click_world(n_rounds, n_actions=6, n_positions=3, n_features=3, logging="softmax", seed=seed,
                                  position_bias=[1.0, 0.6, 0.3])
    t = log.table.rename(columns={"event_id": "imp", "timestamp": "at", "propensity": "pscore", "reward": "clicked",
                                  "context_0": "f0", "context_1": "f1", "context_2": "f2"})
    t["banner"] = np.array([f"BNR-{k:03d}" for k in (7, 1, 13, 21, 4, 30)])[t.pop("action").to_numpy()]
    t["slot"] = t.pop("position") + 1
    path = tmp_path / "banners.parquet"
    t.to_parquet(path)
    (tmp_path / "banners.toml").write_text(BANNERS_MAP)
    return path, tmp_path / "banners.toml", truth


def test_position_bias_recovered_from_a_non_uniform_logger_with_shop_ids(tmp_path):
    path, mapping, truth = _banner_file(tmp_path)
    f = fit_file(path, "bandit", tmp_path / "fit", mapping=mapping,
                 click_kwargs={"l2": 1.0, "position_l2": 0.0, "interactions": True})
    unpen = f["click_model"]["position_bias_unpenalized"]
    for k, kappa in enumerate(truth.position_bias):
        assert unpen["lower"][k] <= kappa <= unpen["upper"][k], (k, kappa, unpen)
    vocab = json.loads((tmp_path / "fit" / "vocabulary.json").read_text())
    assert vocab == {"actions": ["BNR-001", "BNR-004", "BNR-007", "BNR-013", "BNR-021", "BNR-030"],
                     "position_base": 1}
    params = json.loads((tmp_path / "fit" / "params.json").read_text())
    assert "click" in params and f["train_rows"] + f["eval_rows"] == 20_000
    assert f["eval_rows"] == 4_000                     # the latest 20% by time are replayed
    assert (tmp_path / "fit" / "fidelity.md").read_text().startswith("# Simulator fidelity: bandit log")


def _basket_file(tmp_path, seed=0):
    log, truth = make_demand_world(n_shoppers=250, n_weeks=40, seed=seed, outside_utility=1.0,
                                   products=("SKU-A", "SKU-B", "SKU-C"))
    b = log.table.rename(columns={"shopper_id": "customer", "occasion_id": "visit", "time": "week", "product": "sku",
                                  "price": "unit_price", "display": "on_display", "feature": "in_newsletter",
                                  "chosen": "bought", "quantity": "units"})
    inst = truth.instruments.rename(columns={"time": "week", "product": "sku", "cost_shifter": "cost_idx"})
    b = b.merge(inst, on=["week", "sku"], how="left")
    path = tmp_path / "baskets.csv"
    b.to_csv(path, index=False)
    (tmp_path / "baskets.toml").write_text(BASKETS_MAP)
    return path, tmp_path / "baskets.toml", truth


def test_price_coefficient_recovered_with_an_instrument_and_missed_without(tmp_path):
    path, mapping, truth = _basket_file(tmp_path)
    f = fit_file(path, "choice", tmp_path / "fit", mapping=mapping, instruments=["cost_idx"])
    cf, naive = f["control_function"]["beta_price"], f["naive"]["beta_price"]
    assert cf["lower"] <= truth.beta_price <= cf["upper"]
    assert not naive["lower"] <= truth.beta_price <= naive["upper"]
    assert naive["estimate"] > truth.beta_price       # confounding biases the naive price effect towards zero
    # no-purchase visits are in the file, so the outside option is estimated, not assumed
    assert f["choice_model"]["outside_option"]["mode"] == "estimate"


def test_bad_table_names_file_column_rows_and_writes_nothing(tmp_path):
    path, mapping, _ = _basket_file(tmp_path)
    text = path.read_text().splitlines()
    header = text[0].split(",")
    row = text[5].split(",")
    row[header.index("unit_price")] = "-3"
    text[5] = ",".join(row)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(SchemaError, match=r"(?s)baskets.csv \(choice\).*column 'price'.*rows 4"):
        fit_file(path, "choice", tmp_path / "fit", mapping=mapping)
    assert not (tmp_path / "fit").exists()


def test_unknown_instrument_column_is_named(tmp_path):
    path, mapping, _ = _basket_file(tmp_path)
    with pytest.raises(ValueError, match=r"--instruments: columns \['cost'\] are not in the file"):
        fit_file(path, "choice", tmp_path / "fit", mapping=mapping, instruments=["cost"])
    assert not (tmp_path / "fit").exists()
