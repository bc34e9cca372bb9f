"""The position-based click model: position-bias recovery, IPW and DR under a non-uniform logger, penalties chosen
by cross-validation, OBD fidelity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, sparse

from envs.models import ClickModel
from envs.models.click_dr import dr_pseudo_rows
from envs.models.click_likelihood import ClickLikelihood
from envs.params import ClickParams
from sim_data.logs import BanditLog
from sim_data.synthetic import make_click_world

DR_IMPUTATION = {"l2": 1.0, "position_l2": 0.0}


@pytest.mark.parametrize(("logging", "weighting"), [("uniform", "ipw"), ("softmax", "ipw"), ("softmax", "dr")])
def test_position_bias_recovered_inside_intervals(logging, weighting):
    log, truth = make_click_world(12000, logging=logging, seed=1)
    extra = {"imputation": DR_IMPUTATION} if weighting == "dr" else {}
    model = ClickModel(weighting=weighting, l2=3.0, position_l2=0.0, **extra).fit(log)
    lo, hi = model.position_bias_ci()
    assert model.position_bias[0] == 1.0
    assert np.all((lo <= truth.position_bias) & (truth.position_bias <= hi)), (lo, hi)
    assert np.all(hi[1:] - lo[1:] < 0.2)


def test_ipw_corrects_a_misspecified_model_under_a_softmax_logger():
    # without item x context interactions the relevance is misspecified; the greedy logger shows mostly the
    # pairs it likes, so the unweighted fit overstates the uniform policy's CTR; the IPW fit does not (as much)
    log, truth = make_click_world(12000, logging="softmax", temperature=0.5, seed=0)
    uniform = np.full((truth.n_rounds, truth.n_actions, truth.n_positions), 1.0 / truth.n_actions)
    target = truth.policy_value(uniform)
    errors = {}
    for weighting in ("ipw", "none"):
        model = ClickModel(weighting=weighting, interactions=False, l2=10.0, position_l2=0.0).fit(log)
        rel = model.relevance_matrix(log)
        errors[weighting] = abs(float((rel * model.position_bias[log.positions][:, None]).mean()) - target)
    assert errors["ipw"] < errors["none"], errors


def test_dr_recovers_the_uniform_policy_ctr_where_naive_fitting_is_biased():
    # same misspecified model and greedy logger as above; the DR fit's outcome model has the interactions, so
    # the imputed clicks of the items the logger rarely shows are nearly right and the clipped weights matter less
    log, truth = make_click_world(12000, logging="softmax", temperature=0.5, seed=0)
    uniform = np.full((truth.n_rounds, truth.n_actions, truth.n_positions), 1.0 / truth.n_actions)
    target = truth.policy_value(uniform)
    errors = {}
    for weighting in ("none", "ipw", "dr"):
        extra = {"imputation": DR_IMPUTATION} if weighting == "dr" else {}
        model = ClickModel(weighting=weighting, interactions=False, l2=10.0, position_l2=0.0, **extra).fit(log)
        rel = model.relevance_matrix(log)
        errors[weighting] = abs(float((rel * model.position_bias[log.positions][:, None]).mean()) - target)
    assert errors["none"] > 0.04, errors                  # naive: biased toward the pairs the logger favours
    assert errors["dr"] < 0.05 * target, errors           # DR: within 5% of the truth
    assert errors["dr"] < errors["ipw"] < errors["none"], errors


def test_dr_pseudo_rows_correct_only_the_logged_item():
    g = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]])
    rows, items, labels, weights = dr_pseudo_rows(g, np.array([2, 0]), np.array([1.0, 0.0]), np.array([1.0, 2.0]))
    assert rows.tolist() == [0, 0, 0, 1, 1, 1] and items.tolist() == [0, 1, 2, 0, 1, 2]
    # logged item: g + A * rho * (y - g); others keep the imputed value; weight 1/A each
    np.testing.assert_allclose(labels, [0.1, 0.2, 0.3 + 3 * 1.0 * 0.7, 0.5 - 3 * 2.0 * 0.5, 0.5, 0.5])
    np.testing.assert_allclose(weights, 1 / 3)
    # unbiased: averaging the logged-item correction over a logger's draws gives back the true click probability
    q, pi = np.array([0.05, 0.4, 0.2]), np.array([0.7, 0.2, 0.1])
    g0 = np.array([0.3, 0.1, 0.1])                        # a wrong outcome model
    expected = np.zeros(3)
    for a in range(3):                                     # logged item a with probability pi[a], click w.p. q[a]
        for y, py in ((1.0, q[a]), (0.0, 1 - q[a])):
            _, _, lab, _ = dr_pseudo_rows(g0[None, :], np.array([a]), np.array([y]), np.array([(1 / 3) / pi[a]]))
            expected += pi[a] * py * lab
    np.testing.assert_allclose(expected, q)


def test_likelihood_gradient_and_fisher_scoring_optimum():
    rng = np.random.default_rng(0)
    n, f = 400, 4
    x = sparse.csr_matrix(rng.normal(size=(n, f)))
    k = rng.integers(0, 3, n)
    z = np.clip(rng.random(n) * 0.6 - 0.1, -0.1, 1.2)    # soft labels, some outside [0, 1] as DR produces
    prob = ClickLikelihood(x, k, z, rng.random(n) + 0.5, 3, np.array([0.5, 1.0, 2.0, 4.0]), position_penalty=0.3)
    theta = rng.normal(scale=0.3, size=prob.n_params) + np.r_[-1.0, np.zeros(prob.n_params - 1)]
    assert optimize.check_grad(lambda t: prob.objective(t)[0], lambda t: prob.objective(t)[1], theta) < 1e-4
    fitted, ok = prob.fit()
    assert ok and np.max(np.abs(prob.objective(fitted)[1])) < 1e-4
    ref = optimize.minimize(prob.objective, prob.start(), jac=True, method="L-BFGS-B", options={"gtol": 1e-10})
    assert prob.objective(fitted)[0] <= ref.fun + 1e-8


def _two_signal_log(n: int = 6000, seed: int = 0) -> BanditLog:
    """Uniform logger over 5 items with very different CTRs, plus a context column that is pure noise."""
    rng = np.random.default_rng(seed)
    ctr = np.array([0.02, 0.05, 0.1, 0.2, 0.3])
    a = rng.integers(0, 5, n)
    table = pd.DataFrame({
        "event_id": [f"e{i}" for i in range(n)],
        "timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 10, unit="s"),
        "action": a, "position": np.zeros(n, dtype=np.int64), "propensity": np.full(n, 0.2),
        "reward": (rng.random(n) < ctr[a]).astype(float),
        "context_noise": rng.choice(["u", "v", "w", "x"], n),
    })
    return BanditLog.from_frame(table, n_actions=5, n_positions=1)


def test_cross_validation_keeps_real_effects_and_shrinks_noise():
    model = ClickModel(interactions=False, cv_repeats=1).fit(_two_signal_log())
    pen = model.penalties_
    assert pen["item"] <= 3.0, pen                        # the item effects are strong: barely penalised
    assert pen["context"] >= 30 * pen["item"], pen        # the noise column: shrunk hard
    report = model.report()
    best = min(report["cross_validation"]["trace"], key=lambda t: t["cv_logloss"])
    assert best["penalties"] == pen
    sd = report["block_effect_sd"]                         # root mean square of the fitted effects per block
    assert sd["context"] < 0.1 < 0.8 < sd["item"], sd


def test_relevance_tracks_truth_and_params_export(tmp_path):
    log, truth = make_click_world(8000, seed=2)
    model = ClickModel(n_segments=16, l2=3.0, position_l2=0.0).fit(log)
    rel = model.relevance_matrix(log)
    assert np.corrcoef(rel.ravel(), truth.relevance().ravel())[0, 1] > 0.9
    params = model.to_params()
    assert isinstance(params, ClickParams)
    assert params.relevance.shape == (16, truth.n_actions)
    assert params.context_probs.shape == (4, 16)
    params.to_json(tmp_path)
    again = ClickParams.from_fit_dir(tmp_path)
    np.testing.assert_allclose(again.position_bias, model.position_bias)


def test_save_load_round_trip(tmp_path):
    log, _ = make_click_world(3000, seed=3)
    model = ClickModel(l2=10.0, position_l2=1.0).fit(log)
    loaded = ClickModel.load(model.save(tmp_path))
    np.testing.assert_allclose(loaded.predict(log), model.predict(log))
    assert loaded.report()["position_bias"] == model.report()["position_bias"]


def test_bad_inputs():
    log, _ = make_click_world(500, seed=0)
    with pytest.raises(ValueError, match="weighting"):
        ClickModel(weighting="snips")
    with pytest.raises(ValueError, match="l2"):
        ClickModel(l2={"items": 1.0})
    for kwargs, field in (({"l2": "x"}, "l2"), ({"position_l2": "a"}, "position_l2"), ({"l2_grid": ["a"]}, "l2_grid"),
                          ({"cv_folds": "five"}, "cv_folds"), ({"cv_folds": 2.5}, "cv_folds"),
                          ({"cv_repeats": float("inf")}, "cv_folds, cv_repeats"), ({"max_weight": "z"}, "max_weight")):
        with pytest.raises(ValueError, match=rf"^{field}[:,]"):  # the field first, never a bare float() error
            ClickModel(**kwargs)
    with pytest.raises(ValueError, match="dr_folds"):
        ClickModel(weighting="dr", dr_folds=1)
    with pytest.raises(ValueError, match="imputation"):
        ClickModel(weighting="dr", imputation={"weighting": "dr"})
    unknown = type(log)(table=log.table.assign(propensity=np.nan), n_actions=log.n_actions,
                        n_positions=log.n_positions)
    for weighting in ("ipw", "dr"):
        with pytest.raises(ValueError, match="propensit"):
            ClickModel(weighting=weighting).fit(unknown)
    with pytest.raises(TypeError, match="BanditLog"):
        ClickModel().fit(log.table)


@pytest.mark.parametrize("campaign", ["all", "women", "men"])
def test_obd_replay_fidelity(tmp_path, campaign):
    from envs.fit import fit_obd

    f = fit_obd(tmp_path, campaign=campaign)
    lo, hi = f["onpolicy_ci"]
    assert lo <= f["onpolicy_ctr"] <= hi
    assert f["inside_ci"] == (lo <= f["simulated_ctr"] <= hi)
    assert f["beats_constant"] and f["logloss"] < f["constant_logloss"]
    # men's simulated CTR is below the BTS interval, a known gap (docs/simulator.md says why): this pins it, so a
    # change that closes it (or opens one on another campaign) is noticed
    assert f["inside_ci"] == (campaign != "men")
    # with error bars (the fit's parameter uncertainty beside the on-policy one) men's gap is within the noise
    assert f["difference"]["contains_zero"] == f["agrees"] and (f["agrees"] or campaign != "men")
    assert {"campaign", "simulated_ctr", "onpolicy_ctr", "onpolicy_ci"} <= set(f)
    assert f["click_model"]["cross_validation"]["settings_scored"] > 1 and set(f["penalties"]) >= {"item", "position"}
    for name in ("fidelity.json", "fidelity.md", "params.json", "click.json", "obd_calibration.png"):
        assert (tmp_path / name).is_file()
    ClickParams.from_fit_dir(tmp_path)
