"""The position-based click model: position-bias recovery, IPW under a non-uniform logger, OBD fidelity."""

from __future__ import annotations

import numpy as np
import pytest

from envs.models import ClickModel
from envs.params import ClickParams
from sim_data.synthetic import make_click_world


@pytest.mark.parametrize("logging", ["uniform", "softmax"])
def test_position_bias_recovered_inside_intervals(logging):
    log, truth = make_click_world(12000, logging=logging, seed=1)
    model = ClickModel(l2=3.0).fit(log)
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
        model = ClickModel(weighting=weighting, interactions=False, l2=10.0).fit(log)
        rel = model.relevance_matrix(log)
        errors[weighting] = abs(float((rel * model.position_bias[log.positions][:, None]).mean()) - target)
    assert errors["ipw"] < errors["none"], errors


def test_relevance_tracks_truth_and_params_export(tmp_path):
    log, truth = make_click_world(8000, seed=2)
    model = ClickModel(n_segments=16).fit(log)
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
    model = ClickModel(l2=10.0).fit(log)
    loaded = ClickModel.load(model.save(tmp_path))
    np.testing.assert_allclose(loaded.predict(log), model.predict(log))
    assert loaded.report()["position_bias"] == model.report()["position_bias"]


def test_bad_inputs():
    log, _ = make_click_world(500, seed=0)
    with pytest.raises(ValueError, match="weighting"):
        ClickModel(weighting="dr")
    unknown = type(log)(table=log.table.assign(propensity=np.nan), n_actions=log.n_actions,
                        n_positions=log.n_positions)
    with pytest.raises(ValueError, match="propensit"):
        ClickModel().fit(unknown)
    with pytest.raises(TypeError, match="BanditLog"):
        ClickModel().fit(log.table)


def test_obd_women_replay_fidelity(tmp_path):
    from envs.fit import fit_obd

    f = fit_obd(tmp_path, campaign="women")
    lo, hi = f["onpolicy_ci"]
    assert lo <= f["onpolicy_ctr"] <= hi
    assert f["inside_ci"] == (lo <= f["simulated_ctr"] <= hi)
    assert f["inside_ci"]
    assert f["beats_constant"] and f["logloss"] < f["constant_logloss"]
    assert {"campaign", "simulated_ctr", "onpolicy_ctr", "onpolicy_ci"} <= set(f)
    for name in ("fidelity.json", "fidelity.md", "params.json", "click.json", "obd_calibration.png"):
        assert (tmp_path / name).is_file()
    ClickParams.from_fit_dir(tmp_path)
