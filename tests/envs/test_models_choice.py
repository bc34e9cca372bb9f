"""The MNL choice model: recovery with a control function, the naive fit failing, scanner-panel fidelity."""

from __future__ import annotations

import numpy as np
import pytest

from envs.models import ChoiceModel, split_by_time
from envs.params import DemandParams
from sim_data.synthetic import make_demand_world

SEEDS = (0, 1, 2, 3)


def _truth_coefficients(truth) -> dict[str, float]:
    true = {f"alpha[{p}]": truth.alpha[p] for p in truth.products}
    return true | {"beta_price": truth.beta_price, "beta_display": truth.beta_display, "beta_feature": truth.beta_feature}


def _covered(model: ChoiceModel, true: dict[str, float]) -> list[bool]:
    table = model.coefficients
    return [bool(table.loc[k, "lower"] <= v <= table.loc[k, "upper"]) for k, v in true.items()]


@pytest.fixture(scope="module")
def worlds():
    return [make_demand_world(n_shoppers=150, n_weeks=52, seed=s) for s in SEEDS]


def test_control_function_covers_at_least_90_percent_and_naive_fails(worlds):
    cf_hits, naive_hits = [], []
    for log, truth in worlds:
        true = _truth_coefficients(truth)
        cf_hits += _covered(ChoiceModel(control_function=True).fit(log, instruments=truth.instruments), true)
        naive = ChoiceModel().fit(log)
        naive_hits += _covered(naive, true)
        # the naive price coefficient is biased toward zero: its interval lies above the truth
        assert naive.coefficient("beta_price")["lower"] > truth.beta_price
    assert np.mean(cf_hits) >= 0.9, f"control-function coverage {np.mean(cf_hits):.2f}"
    assert np.mean(naive_hits) < 0.9, f"naive coverage {np.mean(naive_hits):.2f} should fail the same test"


def test_randomized_slice_recovers_price_without_instrument():
    log, truth = make_demand_world(n_shoppers=150, n_weeks=40, seed=5, randomized_share=1.0)
    model = ChoiceModel(se="cluster").fit(log)       # prices drawn per visit, independent of the weekly shock
    price = model.coefficient("beta_price")
    assert price["lower"] <= truth.beta_price <= price["upper"]


def test_point_elasticities_match_truth(worlds):
    log, truth = worlds[0]
    model = ChoiceModel(control_function=True).fit(log, instruments=truth.instruments)
    prices = truth.base_prices
    el = model.elasticities(prices=prices)
    true = truth.elasticities(prices)
    assert el["estimate"].shape == true.shape
    inside = (el["lower"] <= true) & (true <= el["upper"])
    assert inside.mean() >= 0.75
    assert np.all(np.diag(el["estimate"]) < 0) and np.all(el["estimate"][~np.eye(3, dtype=bool)] > 0)


def test_standard_errors_from_information_match_statsmodels_free_logit_identity(worlds):
    # with one product the MNL is a binary logit: compare with statsmodels' Logit on the same data
    import statsmodels.api as sm

    log, _ = make_demand_world(n_shoppers=80, n_weeks=20, n_products=1, seed=3, confounding=0.0)
    model = ChoiceModel().fit(log)
    t = log.table
    x = sm.add_constant(t[["price", "display", "feature"]].to_numpy(float))
    ref = sm.Logit(t["chosen"].to_numpy(), x).fit(disp=0)
    np.testing.assert_allclose(model.coefficients["estimate"].to_numpy(), ref.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.coefficients["se"].to_numpy(), ref.bse, rtol=1e-4)


@pytest.mark.parametrize("name", ["cracker", "oj"])
def test_scanner_heldout_beats_brand_shares_and_elasticities_negative(name):
    from sim_data.sources.scanner import load_scanner

    log = load_scanner(name)
    train, test = split_by_time(log, 0.2)
    model = ChoiceModel(outside_share=0.5).fit(train)
    assert model.mode_ == "calibrate"
    ev = model.evaluate(test)
    assert ev["beats_baseline"], ev
    assert ev["loglik_per_occasion"] > ev["baseline_loglik_per_occasion"]
    own = np.diag(model.elasticities()["estimate"])
    assert np.all(own < 0)
    # the calibrated outside option reproduces the assumed no-purchase share
    probs = model.predict_proba(train)
    assert abs((1 - probs.sum(axis=1)).mean() - 0.5) < 1e-6


def test_save_load_round_trip_and_params(tmp_path, worlds):
    log, truth = worlds[1]
    model = ChoiceModel(control_function=True).fit(log, instruments=truth.instruments)
    path = model.save(tmp_path)
    loaded = ChoiceModel.load(path)
    np.testing.assert_allclose(loaded.coefficients.to_numpy(), model.coefficients.to_numpy())
    np.testing.assert_allclose(loaded.elasticities()["estimate"], model.elasticities()["estimate"])
    params = loaded.to_params(unit_cost=truth.unit_costs)
    assert isinstance(params, DemandParams)
    params.to_json(tmp_path)
    again = DemandParams.from_fit_dir(tmp_path)
    np.testing.assert_allclose(again.beta_price, [model.coefficient("beta_price")["estimate"]])
    # the exported demand reproduces the model's probabilities at a price vector
    p = truth.base_prices
    el = model.elasticities(prices=p, display=again.display, feature=again.feature)
    probs = again.choice_probs(p)
    np.testing.assert_allclose(np.diag(el["estimate"]), again.beta_price[0] * p * (1 - probs), rtol=1e-6)


def test_latent_classes_fit_and_export():
    log, _ = make_demand_world(n_shoppers=60, n_weeks=20, seed=4, confounding=0.0)
    model = ChoiceModel(n_classes=2, n_starts=1, em_max_iter=50).fit(log)
    rep = model.report()
    assert len(rep["class_probs"]) == 2 and abs(sum(rep["class_probs"]) - 1) < 1e-9
    assert np.all(np.isfinite(model.coefficients["se"]))
    params = model.to_params()
    assert params.intercepts.shape == (2, 3)


def test_bad_inputs_raise_clear_errors():
    log, truth = make_demand_world(n_shoppers=20, n_weeks=5, seed=0)
    with pytest.raises(ValueError, match="outside"):
        ChoiceModel(outside="nope")
    with pytest.raises(ValueError, match="instruments"):
        ChoiceModel(control_function=True).fit(log)
    with pytest.raises(ValueError, match="no-purchase"):
        ChoiceModel(outside="calibrate").fit(log)
    with pytest.raises(RuntimeError, match="not fitted"):
        ChoiceModel().report()
    with pytest.raises(KeyError, match="beta_price"):
        ChoiceModel().fit(log).coefficient("beta_nope")
