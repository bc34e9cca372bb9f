"""Parameter validation and the params.json round trip a `sim fit` directory uses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from envs.defaults import default_click_params, default_demand_params, default_inventory_params
from envs.params import BernoulliDemandParams, ClickParams, DemandParams, InventoryParams, load_fit_params


def test_round_trip_through_a_fit_directory(tmp_path):
    click, demand, inventory = default_click_params(), default_demand_params(), default_inventory_params()
    for params in (click, demand, inventory):
        params.to_json(tmp_path)
    assert sorted(json.loads((tmp_path / "params.json").read_text())) == ["click", "demand", "inventory"]
    again = ClickParams.from_fit_dir(tmp_path)
    np.testing.assert_allclose(again.relevance, click.relevance)
    np.testing.assert_allclose(again.context_probs, click.context_probs)
    assert DemandParams.from_fit_dir(tmp_path).product_names == demand.product_names
    assert InventoryParams.from_fit_dir(tmp_path).lead_time == inventory.lead_time


def test_missing_fit_dir_and_section_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="params.json"):
        ClickParams.from_fit_dir(tmp_path)
    default_click_params().to_json(tmp_path)
    with pytest.raises(ValueError, match="'demand'"):
        load_fit_params(tmp_path, "demand")
    (tmp_path / "params.json").write_text(json.dumps({"demand": {"bogus": 1}}))
    with pytest.raises(ValueError, match="bogus"):
        DemandParams.from_fit_dir(tmp_path)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"beta_price": 0.5}, "beta_price"),
    ({"price_high": 0.5}, "price_high"),
    ({"intercepts": [1.0, 2.0, 3.0]}, "intercepts"),
    ({"arrival_rate": -1.0}, "arrival_rate"),
])
def test_demand_params_reject_bad_values_naming_the_field(kwargs, field):
    base = {"product_names": ["a", "b"], "intercepts": [1.0, 0.5], "beta_price": -1.0, "unit_cost": 0.5,
            "price_low": 1.0, "price_high": 3.0}
    with pytest.raises(ValueError, match=field):
        DemandParams(**{**base, **kwargs})


def test_click_params_reject_bad_values():
    with pytest.raises(ValueError, match="relevance"):
        ClickParams(relevance=[[1.5, 0.1]], position_bias=[1.0], context_probs=[1.0])
    with pytest.raises(ValueError, match="context_probs"):
        ClickParams(relevance=[[0.5, 0.1]], position_bias=[1.0], context_probs=[0.5])
    with pytest.raises(ValueError, match="purchase_probs"):
        BernoulliDemandParams(prices=[1.0, 2.0], purchase_probs=[0.5])
    with pytest.raises(ValueError, match="lead_time"):
        InventoryParams(lead_time=-1)


def test_choice_probs_mix_latent_classes_and_drop_unoffered_products():
    d = DemandParams(["a", "b"], [[0.0, 0.0], [1.0, -1.0]], [-1.0, -2.0], 0.0, 0.0, 5.0, class_probs=[0.25, 0.75])
    prices = np.array([1.0, 1.0])
    e1 = np.exp([-1.0, -1.0])
    e2 = np.exp([1.0 - 2.0, -1.0 - 2.0])
    expected = 0.25 * e1 / (1 + e1.sum()) + 0.75 * e2 / (1 + e2.sum())
    np.testing.assert_allclose(d.choice_probs(prices), expected)
    only_a = d.choice_probs(prices, offered=np.array([True, False]))
    assert only_a[1] == 0.0
    assert only_a[0] > expected[0]  # shoppers of b substitute to a
