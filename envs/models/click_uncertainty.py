"""How sure the fitted click model is of the CTR it simulates on a set of rows: a predictive interval from the
fit's parameter uncertainty.

The simulated CTR of rows ``i = 1..n`` (logged ``(context, item, slot)``, e.g. a held-out replay) is the smooth
function ``g(theta) = mean_i kappa[k_i] sigmoid(b0 + x_i . w)`` of the fitted parameters. Its interval comes from
the **delta method** on the covariance of the propensity-weighted, penalised fit::

    V = J^-1 (S + L) J^-1,     var g = G' V G = |R (J^-1 G)|^2 + (J^-1 G)' L (J^-1 G)

with ``G = dg/dtheta``, ``J`` the weighted Fisher information of the penalised loss, ``S = R'R`` the outer
product of the logged rows' weighted scores (the sandwich's meat: right under importance weights, where the
inverse Hessian alone is not) and ``L`` the penalties (a ridge penalty is a normal prior: with ``S ~ J - L``, an
unweighted well-specified fit gets ``V ~ J^-1``, the posterior covariance, whose intervals also carry the
shrinkage bias; the plain sandwich ``J^-1 S J^-1`` leaves that bias out and under-covers when the
cross-validated penalties are large). ``covariance="sandwich"`` gives the plain sandwich.

Why the delta method rather than a parametric bootstrap: ``g`` is a mean over many rows of a smooth function,
nearly linear in ``theta`` across its uncertainty, so drawing ``theta`` adds Monte Carlo noise and little else;
and a draw needs a factor of the full ``(P, P)`` covariance, which the torch solver never forms, while ``G' V G``
needs one solve ``J^-1 G`` (a conjugate-gradient solve there). The interval is built on the log-odds of ``g``
and mapped back, so it stays inside (0, 1) and is asymmetric near 0, where CTRs live.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from envs.models import click_design as cd
from envs.models.click import ClickModel
from envs.models.click_likelihood import P_MAX, sigmoid
from sim_data.logs import BanditLog

COVARIANCES = ("bayes", "sandwich")
SHRINKAGE = ("refit", "keep")


def _functional_gradient(model: ClickModel, rows: BanditLog, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """``g(theta)`` and ``dg/dtheta`` (``(P,)``) for the mean click probability of ``rows``."""
    k_pos = model.n_positions_
    x = cd.design_matrix(model.design_, cd.row_features(model.design_, rows.table), rows.actions)
    s = sigmoid(theta[0] + x @ theta[k_pos:])
    kappa = np.exp(np.concatenate([[0.0], theta[1:k_pos]]))[rows.positions]
    p = np.minimum(kappa * s, P_MAX)
    a = kappa * s * (1.0 - s)
    n = p.size
    grad = np.concatenate([[a.sum()], np.bincount(rows.positions, weights=p, minlength=k_pos)[1:],
                           np.asarray(x.T @ a).ravel()]) / n
    return float(p.mean()), grad


def _penalty_vector(model: ClickModel, penalties: dict) -> np.ndarray:
    """``[0, position penalty x (K - 1), feature penalties]`` in ``theta``'s layout."""
    return np.concatenate([[0.0], np.full(model.n_positions_ - 1, penalties["position"]),
                           [penalties[b] for b in model.design_.column_blocks()]])


def ctr_interval(model: ClickModel, train: BanditLog, rows: BanditLog, level: float = 0.95,
                 covariance: str = "bayes", shrinkage: str = "refit") -> dict:
    """Interval of the CTR of ``rows`` from the parameter uncertainty of ``model`` fit on ``train``.

    :param model: a fitted :class:`~envs.models.click.ClickModel`.
    :param train: the log it was fit on (its likelihood is rebuilt, not refit, unless ``shrinkage="refit"``).
    :param rows: the rows whose mean click probability is simulated (a held-out log).
    :param level: coverage of the interval, in (0, 1).
    :param covariance: ``"bayes"`` (``J^-1 (S + L) J^-1``, the default) or ``"sandwich"`` (``J^-1 S J^-1``).
    :param shrinkage: ``"refit"`` (default): the cross-validated penalties shrink relevance toward its average,
        which biases the CTR of rows a non-uniform policy chose (it favours relevant items) by more than its
        standard error; so the interval is that of a refit on the same likelihood with every penalty lowered to
        at most the smallest of ``model.l2_grid`` and the position effects unpenalised (warm-started at the fit,
        no cross-validation). ``"keep"``: the interval of the fitted model's own CTR.
    :return: ``{"estimate", "se", "lower", "upper", "level", "method", "fitted_ctr", "shrinkage"}``: the
        interval's centre ``estimate`` and its ``se`` (CTR scale), ``fitted_ctr`` the fitted model's CTR of
        ``rows`` (the simulator's value).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected a number in (0, 1), found {level!r}")
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance: expected one of {list(COVARIANCES)}, found {covariance!r}")
    if shrinkage not in SHRINKAGE:
        raise ValueError(f"shrinkage: expected one of {list(SHRINKAGE)}, found {shrinkage!r}")
    if not isinstance(rows, BanditLog) or len(rows) == 0:
        raise ValueError("rows: expected a BanditLog with at least one row")
    model._check_log(rows)
    fitted, _ = _functional_gradient(model, rows, model.theta_)
    prob, rows_of = model.likelihood_at_fit(train)
    theta, penalties = model.theta_, dict(model.penalties_)
    if shrinkage == "refit":
        floor = min(model.l2_grid)
        penalties = {b: (0.0 if b == "position" else min(v, floor)) for b, v in penalties.items()}
        pen = _penalty_vector(model, penalties)
        prob.set_penalties(pen[model.n_positions_:], penalties["position"])
        theta, _ = prob.fit(model.theta_)
    g, grad = _functional_gradient(model, rows, theta)
    u = np.asarray(prob.solve_information(theta, grad[:, None]))
    var = float(np.sum(np.square(rows_of @ prob.score_projection(theta, u))))
    if covariance == "bayes":
        var += float(_penalty_vector(model, penalties) @ np.square(u[:, 0]))
    se = float(np.sqrt(max(var, 0.0)))
    z = float(stats.norm.ppf(0.5 + level / 2))
    gc = float(np.clip(g, 1e-12, 1 - 1e-12))
    logit, se_logit = np.log(gc / (1 - gc)), se / (gc * (1 - gc))
    lo, hi = sigmoid(np.array([logit - z * se_logit, logit + z * se_logit]))
    return {"estimate": g, "se": se, "lower": float(lo), "upper": float(hi), "level": float(level),
            "fitted_ctr": fitted, "shrinkage": shrinkage,
            "method": f"delta method on the log-odds, covariance {_WORDS[covariance]}"
                      + (", refit at the smallest penalties" if shrinkage == "refit" else "")}


_WORDS = {"bayes": "J^-1 (S + L) J^-1 (sandwich of the propensity-weighted likelihood plus the ridge prior)",
          "sandwich": "J^-1 S J^-1 (sandwich of the propensity-weighted penalised likelihood)"}
