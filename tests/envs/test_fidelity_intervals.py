"""Error bars of the fidelity numbers: the simulated CTR's interval (click model) and the held-out shares'
intervals (choice model), checked on tiny worlds with known truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.bench_fidelity_coverage import coverage
from envs.fit import fit_choice_log, fit_click_replay, split_bandit_by_time
from envs.models.choice import ChoiceModel
from envs.models.choice_data import split_by_time
from envs.models.choice_holdout import heldout_intervals
from envs.models.click import ClickModel
from envs.models.click_uncertainty import ctr_interval
from envs.models.report import difference_interval
from sim_data.synthetic import make_click_world, make_demand_world

FIXED = {"l2": 1.0, "position_l2": 0.0, "n_segments": 4}


def test_ctr_interval_covers_the_true_heldout_ctr_on_small_worlds():
    res = coverage(20, 800, FIXED, shrinkage=("refit",))["refit"]
    assert res["coverage"] >= 0.8
    # not absurdly wide: the held-out CTRs are about 0.25 and the 240 held-out rows' own binomial noise is ~0.11 wide
    assert res["mean_width"] < 0.15


def test_interval_of_the_shrunk_fit_misses_where_the_refit_covers():
    # a heavy penalty on a softmax logger's log biases the CTR of the rows the logger chose (it favours relevant
    # items); shrinkage="keep" intervals miss the truth, the default refit does not (one world, the first odd seed
    # of the benchmark: the coverage over many worlds is benchmarks/bench_fidelity_coverage.py's)
    log, truth = make_click_world(2000, logging="softmax", seed=1001)
    train, test = split_bandit_by_time(log, 0.3)
    model = ClickModel(l2=300.0, position_l2=0.0, n_segments=4).fit(train)
    from benchmarks.bench_fidelity_coverage import true_heldout_ctr

    true = true_heldout_ctr(truth, test)
    keep, refit = (ctr_interval(model, train, test, shrinkage=s) for s in ("keep", "refit"))
    assert keep["estimate"] == pytest.approx(keep["fitted_ctr"]) and keep["upper"] < true
    assert refit["lower"] <= true <= refit["upper"] and refit["fitted_ctr"] == pytest.approx(keep["fitted_ctr"])


def test_ctr_interval_is_deterministic_and_rejects_bad_arguments():
    log, _ = make_click_world(800, seed=3)
    train, test = split_bandit_by_time(log, 0.3)
    model = ClickModel(**FIXED).fit(train)
    assert ctr_interval(model, train, test) == ctr_interval(model, train, test)
    with pytest.raises(ValueError, match="level"):
        ctr_interval(model, train, test, level=1.5)
    with pytest.raises(ValueError, match="covariance"):
        ctr_interval(model, train, test, covariance="hessian")
    with pytest.raises(ValueError, match="shrinkage"):
        ctr_interval(model, train, test, shrinkage="none")
    with pytest.raises(ValueError, match="training log"):
        ctr_interval(model, test, test)


def test_difference_interval_combines_both_errors():
    d = difference_interval(0.30, 0.03, 0.26, 0.04)
    assert d["se"] == pytest.approx(0.05) and d["contains_zero"]
    assert not difference_interval(0.30, 0.01, 0.20, 0.01)["contains_zero"]
    with pytest.raises(ValueError, match="standard errors"):
        difference_interval(0.3, -1.0, 0.2, 0.1)


def test_click_replay_reports_simulated_ci_and_agreement(tmp_path):
    log, _ = make_click_world(1500, logging="softmax", seed=5)
    train, test = split_bandit_by_time(log, 0.3)
    head = {"source": "bandit_file", "title": "tiny", "train_policy": "earlier", "eval_policy": "later"}
    f = fit_click_replay(train, test, tmp_path, head, click_kwargs=FIXED)
    lo, hi = f["simulated_ci"]
    assert 0 < lo < f["simulated_ci_centre"] < hi < 1 and f["simulated_se"] > 0
    d = f["difference"]
    assert d["estimate"] == pytest.approx(f["simulated_ci_centre"] - f["onpolicy_ctr"])
    assert f["agrees"] == (d["ci"][0] <= 0 <= d["ci"][1])
    saved = json.loads((tmp_path / "fidelity.json").read_text())
    assert saved["simulated_ci"] == pytest.approx([lo, hi])
    assert "simulated 95% interval" in (tmp_path / "fidelity.md").read_text()


def _demand_split(seed: int):
    log, truth = make_demand_world(n_shoppers=120, n_weeks=30, seed=seed)
    train, test = split_by_time(log, 0.25)
    return log, truth, train, test


def test_choice_heldout_intervals_hold_the_point_and_are_seeded():
    _, _, train, test = _demand_split(0)
    model = ChoiceModel().fit(train)
    a, b = heldout_intervals(model, test, n_draws=200, seed=4), heldout_intervals(model, test, n_draws=200, seed=4)
    assert a == b
    for r in a["shares"]:
        assert r["simulated_ci"][0] <= r["simulated"] <= r["simulated_ci"][1]
        assert r["agrees"] == r["difference"]["contains_zero"]
    assert sum(r["simulated"] for r in a["shares"]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_draws"):
        heldout_intervals(model, test, n_draws=10)


def test_choice_shares_agree_with_held_out_purchases_of_a_well_specified_world():
    agree, total = 0, 0
    for seed in range(4):
        _, _, train, test = _demand_split(seed)
        res = heldout_intervals(ChoiceModel().fit(train), test, n_draws=200, seed=seed)
        agree, total = agree + res["n_agree"], total + res["n_numbers"]
    assert agree / total >= 0.8


def test_fit_choice_log_writes_the_intervals(tmp_path):
    log, *_ = _demand_split(1)
    f = fit_choice_log(log, tmp_path, "tiny")
    h = f["heldout_intervals"]
    assert h["n_numbers"] == len(f["products"]) + (h["purchase_rate"] is not None)
    assert f["agrees"] == (h["n_agree"] == h["n_numbers"])
    assert np.allclose(list(f["heldout_shares"]["predicted"].values()), [r["simulated"] for r in h["shares"]])
    assert "difference [95%]" in (tmp_path / "fidelity.md").read_text()
