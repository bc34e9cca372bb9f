"""The torch solver of the click model: the same loss, gradient, Fisher information and optimum as the dense
Fisher solver, on every torch device present; chosen automatically for wide designs; reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import sparse

from envs.models import ClickModel
from envs.models import click as click_module
from envs.models import click_design as cd
from envs.models.click_likelihood import ClickLikelihood
from envs.models.click_torch import TorchClickLikelihood
from sim_data.synthetic import make_click_world

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _problem(seed: int = 0, n: int = 500, f: int = 6):
    rng = np.random.default_rng(seed)
    x = sparse.random(n, f, density=0.5, format="csr", random_state=seed, data_rvs=lambda m: rng.normal(size=m))
    k = rng.integers(0, 3, n)
    z = np.clip(rng.random(n) * 0.6 - 0.1, -0.1, 1.2)     # soft labels, some outside [0, 1] as DR produces
    args = (x, k, z, rng.random(n) + 0.5, 3, rng.uniform(0.1, 3.0, f))
    theta = rng.normal(scale=0.3, size=3 + f) + np.r_[-1.0, np.zeros(2 + f)]
    return args, theta


@pytest.mark.parametrize("device", DEVICES)
def test_loss_gradient_information_and_scores_match_the_dense_solver(device):
    args, theta = _problem()
    dense = ClickLikelihood(*args, position_penalty=0.7)
    cg = TorchClickLikelihood(*args, position_penalty=0.7, device=device)
    value, grad = dense.objective(theta)
    t_value, t_grad = cg.objective(theta)
    assert t_value == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(t_grad, grad, rtol=1e-10, atol=1e-12)
    assert cg.data_loss(theta) == pytest.approx(dense.data_loss(theta), rel=1e-12)
    u = np.random.default_rng(1).normal(size=(dense.n_params, 3))
    info = dense.information(theta)
    curv = cg._curvature(cg._tensor(theta))
    np.testing.assert_allclose(cg._fisher_vector(curv, cg._tensor(u)).cpu().numpy(), info @ u, rtol=1e-10)
    np.testing.assert_allclose(cg._fisher_diagonal(curv).cpu().numpy(), np.diag(info), rtol=1e-10)
    np.testing.assert_allclose(cg.solve_information(theta, u), np.linalg.solve(info, u), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(cg.score_projection(theta, u), dense.score_projection(theta, u), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_observed_hessian_is_the_gradients_derivative(device):
    """The Newton phase's Hessian (dense and as torch products) against central differences of the gradient."""
    args, theta = _problem(seed=5, n=400, f=5)
    dense = ClickLikelihood(*args, position_penalty=0.4)
    cg = TorchClickLikelihood(*args, position_penalty=0.4, device=device)
    eps = 1e-6
    numeric = np.stack([(dense.objective(theta + eps * e)[1] - dense.objective(theta - eps * e)[1]) / (2 * eps)
                        for e in np.eye(theta.size)], axis=1)
    hessian = dense.information(theta, observed=True)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-6)
    assert not np.allclose(hessian, dense.information(theta), rtol=1e-3)       # not the Fisher information
    u = np.random.default_rng(6).normal(size=(theta.size, 2))
    curv = cg._curvature(cg._tensor(theta), observed=True)
    np.testing.assert_allclose(cg._fisher_vector(curv, cg._tensor(u)).cpu().numpy(), hessian @ u, rtol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_cg_solves_each_column_on_its_own(device):
    """A zero right-hand side column is done at once and does not stop the others; an indefinite curvature is
    reported (positive=False) instead of being solved through."""
    args, theta = _problem(seed=7, n=300, f=4)
    cg = TorchClickLikelihood(*args, device=device)
    info = ClickLikelihood(*args).information(theta)
    rhs = np.zeros((cg.n_params, 2))
    rhs[0, 0] = 1.0
    solution, positive, met = cg._solve(cg._curvature(cg._tensor(theta)), cg._tensor(rhs))
    assert positive and met
    np.testing.assert_allclose(solution.cpu().numpy(), np.linalg.solve(info, rhs), rtol=1e-7, atol=1e-12)
    flipped = tuple(-w for w in cg._curvature(cg._tensor(theta)))             # a negative definite "curvature"
    _, positive, met = cg._solve(flipped, cg._tensor(rhs[:, :1]))
    assert not positive and not met


@pytest.mark.parametrize("device", DEVICES)
def test_transposed_products_by_segment_sums_match_csr(device):
    """The GPU's deterministic ``x' w`` (segment sums) against torch's CSR product, also run on the CPU."""
    args, theta = _problem(seed=3, n=300, f=9)
    x, *rest = args
    x = (x @ sparse.diags(np.r_[np.ones(4), 0.0, np.ones(4)])).tocsr()     # column 4 empty: an empty segment
    x.eliminate_zeros()
    assert x[:, 4].nnz == 0
    args = (x, *rest)
    csr = TorchClickLikelihood(*args, device=device, segment_sums=False)
    seg = TorchClickLikelihood(*args, device=device, segment_sums=True)
    w = torch.as_tensor(np.random.default_rng(4).normal(size=(300, 2)), device=device)
    for square in (False, True):
        np.testing.assert_allclose(seg._xt_times(w, square).cpu().numpy(), csr._xt_times(w, square).cpu().numpy(),
                                   rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(seg.objective(theta)[1], csr.objective(theta)[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(seg.fit()[0], csr.fit()[0], atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_fit_reaches_the_dense_solvers_optimum(device):
    args, _ = _problem(seed=2)
    dense_theta, dense_ok = ClickLikelihood(*args, position_penalty=0.2).fit()
    cg = TorchClickLikelihood(*args, position_penalty=0.2, device=device)
    theta, ok = cg.fit()
    assert ok and dense_ok
    # both end with Newton steps on the same Hessian: the same optimum to far better than the stopping rule
    np.testing.assert_allclose(theta, dense_theta, atol=1e-8)
    assert np.max(np.abs(cg.objective(theta)[1])) < 1e-4          # as the dense solver's own test


@pytest.mark.parametrize(("weighting", "kwargs"), [("ipw", {}), ("dr", {"l2": 3.0, "position_l2": 1.0})])
def test_models_fit_by_either_solver_agree(weighting, kwargs):
    """Penalties chosen by cross-validation (ipw) or fixed (dr): the same choice, parameters, intervals."""
    log, _ = make_click_world(6000, n_actions=6, logging="softmax", seed=4)
    extra = {"imputation": {"l2": 1.0, "position_l2": 0.0}, "cv_repeats": 1} if weighting == "dr" else {"cv_repeats": 1}
    fisher = ClickModel(weighting=weighting, solver="fisher", **kwargs, **extra).fit(log)
    cg = ClickModel(weighting=weighting, solver="torch", device=DEVICES[-1], **kwargs, **extra).fit(log)
    assert (fisher.solver_, cg.solver_, cg.device_) == ("fisher", "torch", DEVICES[-1])
    assert cg.penalties_ == fisher.penalties_
    np.testing.assert_allclose(cg.theta_, fisher.theta_, atol=1e-8)
    np.testing.assert_allclose(cg.cov_, fisher.cov_, rtol=1e-6, atol=1e-9 * np.abs(np.diag(fisher.cov_)).max())
    np.testing.assert_allclose(cg.predict(log), fisher.predict(log), rtol=1e-7)
    assert cg.report()["solver"] == "torch"


def test_auto_switches_to_torch_for_wide_designs_and_recovers_the_truth(monkeypatch, tmp_path):
    """A catalogue of 150 items with interactions (452 features) under a threshold lowered to 300: the torch solver
    fits it, recovers kappa inside its intervals, saves and loads, and refits to the same bits."""
    monkeypatch.setattr(click_module, "FISHER_MAX_FEATURES", 300)
    log, truth = make_click_world(40_000, n_actions=150, n_features=2, seed=5)
    model = ClickModel(l2=0.3, position_l2=0.0, n_segments=8).fit(log)
    assert model.solver_ == "torch" and model.design_.n_features == 452
    lo, hi = model.position_bias_ci()
    assert np.all((lo <= truth.position_bias) & (truth.position_bias <= hi)), (lo, hi)
    narrow = ClickModel(interactions=False, l2=0.3, position_l2=0.0, n_segments=8).fit(log)
    assert narrow.solver_ == "fisher"                     # 152 features: under the threshold
    again = ClickModel(l2=0.3, position_l2=0.0, n_segments=8).fit(log)
    assert np.array_equal(again.theta_, model.theta_)      # same data, same device: the same numbers
    loaded = ClickModel.load(model.save(tmp_path))
    assert loaded.report()["solver"] == "torch"
    np.testing.assert_array_equal(loaded.predict(log), model.predict(log))


@pytest.mark.parametrize("source", ["synthetic", "obd"])
def test_every_items_relevance_matches_the_design_matrix(source):
    """Every block (OBD adds the affinity and item-feature blocks) computed without the (n * A)-row design."""
    if source == "obd":
        from sim_data.sources.obd import load_obd

        log = load_obd("random", "men")
    else:
        log, _ = make_click_world(2000, n_actions=7, seed=6)
    model = ClickModel(l2=3.0, position_l2=0.0, n_segments=4).fit(log)
    if source == "obd":
        assert {"affinity", "item_features", "interactions"} <= set(model.design_.block_sizes())
    rows = cd.row_features(model.design_, log.table)
    n, a = len(rows), model.n_actions_
    x = cd.design_matrix(model.design_, rows, np.tile(np.arange(a), n), np.repeat(np.arange(n), a))
    beta = model.theta_[model.n_positions_:]
    np.testing.assert_allclose(cd.all_item_logits(model.design_, rows, beta), (x @ beta).reshape(n, a), atol=1e-12)


def test_bad_solver_and_device():
    with pytest.raises(ValueError, match=r"^solver: expected one of"):
        ClickModel(solver="newton")
    with pytest.raises(ValueError, match=r"^device: expected"):
        ClickModel(device="")
    log, _ = make_click_world(500, seed=0)
    with pytest.raises(ValueError, match=r"^device: torch cannot use 'nonsense'"):
        ClickModel(solver="torch", device="nonsense", l2=1.0, position_l2=0.0).fit(log)


def test_segment_export_samples_long_segments_only():
    from envs.models.click_export import rows_per_segment

    codes = np.repeat([0, 1, 2], [5, 50, 12])
    idx = rows_per_segment(codes, 3, cap=10, seed=0)
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(codes[idx], minlength=3).tolist() == [5, 10, 10]
    assert np.array_equal(idx, rows_per_segment(codes, 3, cap=10, seed=0))
    assert np.array_equal(rows_per_segment(codes, 3, cap=50, seed=0), np.arange(67))
    assert np.array_equal(rows_per_segment(codes, 3, cap=None, seed=0), np.arange(67))
