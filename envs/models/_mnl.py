"""The multinomial-logit kernel: log-likelihood, analytic gradient and Hessian on a padded design tensor.

Occasions ``n = 0..N-1`` each offer up to ``J`` inside alternatives (``avail[n, j]``) and, when
``outside=True``, a no-purchase option with utility 0 and design row 0. With design ``Z`` of shape
``(N, J, P)`` and parameters ``theta`` of shape ``(P,)``::

    V[n, j] = Z[n, j] @ theta
    P[n, j] = exp(V[n, j]) / (outside + sum_{j' available} exp(V[n, j']))
    loglik  = sum_n w[n] * log P[n, y[n]]           (y[n] = -1: no purchase, P[n, -1] = 1 - sum_j P[n, j])
    grad    = sum_n w[n] * (Z[n, y[n]] - sum_j P[n, j] Z[n, j])            (Z of the outside option is 0)
    hess    = -sum_n w[n] * (sum_j P[n, j] Z[n, j] Z[n, j]' - zbar[n] zbar[n]'),  zbar[n] = sum_j P[n, j] Z[n, j]

The Hessian of the MNL does not depend on the choices, so observed and expected information coincide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize


@dataclass
class MNLDesign:
    """One MNL problem.

    :param z: design, shape ``(N, J, P)``.
    :param avail: which alternatives are offered, shape ``(N, J)`` bool.
    :param y: chosen inside alternative per occasion, shape ``(N,)``; ``-1`` = the outside option.
    :param outside: whether a no-purchase option (utility 0) is in every choice set.
    """

    z: np.ndarray
    avail: np.ndarray
    y: np.ndarray
    outside: bool

    @property
    def n(self) -> int:
        return int(self.z.shape[0])

    @property
    def n_params(self) -> int:
        return int(self.z.shape[2])


def probabilities(design: MNLDesign, theta: np.ndarray) -> np.ndarray:
    """Inside choice probabilities, shape ``(N, J)``; ``1 - row sum`` is the no-purchase probability."""
    v = design.z @ theta
    v = np.where(design.avail, v, -np.inf)
    top = np.max(v, axis=1, keepdims=True)
    if design.outside:
        top = np.maximum(top, 0.0)
    e = np.exp(v - top)
    denom = e.sum(axis=1, keepdims=True) + (np.exp(-top) if design.outside else 0.0)
    return e / denom


def occasion_loglik(design: MNLDesign, theta: np.ndarray) -> np.ndarray:
    """Log-probability of the observed choice per occasion, shape ``(N,)``."""
    p = probabilities(design, theta)
    rows = np.arange(design.n)
    inside = design.y >= 0
    out = np.empty(design.n)
    out[inside] = np.log(np.maximum(p[rows[inside], design.y[inside]], 1e-300))
    if (~inside).any():
        out[~inside] = np.log(np.maximum(1.0 - p[~inside].sum(axis=1), 1e-300))
    return out


def occasion_scores(design: MNLDesign, theta: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
    """Per-occasion gradient of the log-likelihood, shape ``(N, P)``."""
    if p is None:
        p = probabilities(design, theta)
    zbar = np.einsum("nj,njp->np", p, design.z)
    chosen = np.zeros((design.n, design.n_params))
    inside = design.y >= 0
    chosen[inside] = design.z[np.flatnonzero(inside), design.y[inside]]
    return chosen - zbar


def loglik_grad(theta: np.ndarray, design: MNLDesign, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted log-likelihood and its gradient."""
    p = probabilities(design, theta)
    rows = np.arange(design.n)
    inside = design.y >= 0
    chosen_p = np.where(inside, p[rows, np.maximum(design.y, 0)], 1.0 - p.sum(axis=1))
    ll = float(np.sum(weights * np.log(np.maximum(chosen_p, 1e-300))))
    grad = weights @ occasion_scores(design, theta, p)
    return ll, grad


def hessian(theta: np.ndarray, design: MNLDesign, weights: np.ndarray) -> np.ndarray:
    """Hessian of the weighted log-likelihood, shape ``(P, P)`` (negative semi-definite)."""
    p = probabilities(design, theta)
    wp = p * weights[:, None]
    second = np.einsum("nj,njp,njq->pq", wp, design.z, design.z)
    zbar = np.einsum("nj,njp->np", p, design.z)
    return -(second - np.einsum("n,np,nq->pq", weights, zbar, zbar))


def maximise(design: MNLDesign, weights: np.ndarray, theta0: np.ndarray, *, ridge: float = 0.0,
             max_iter: int = 500) -> tuple[np.ndarray, float, bool]:
    """Maximise the weighted log-likelihood (minus ``ridge/2 * |theta|^2``) with L-BFGS-B on the analytic gradient,
    then polish with Newton steps on the analytic Hessian.

    :return: ``(theta, loglik, converged)``.
    """
    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, g = loglik_grad(theta, design, weights)
        return -(ll - 0.5 * ridge * theta @ theta), -(g - ridge * theta)

    res = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B",
                            options={"maxiter": max_iter, "gtol": 1e-8})
    theta = res.x
    converged = bool(res.success)
    for _ in range(20):  # Newton polish: the MNL log-likelihood is concave
        ll, g = loglik_grad(theta, design, weights)
        g = g - ridge * theta
        h = hessian(theta, design, weights) - ridge * np.eye(theta.size)
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-6:
            cand = theta - t * step
            ll_c, _ = loglik_grad(cand, design, weights)
            if ll_c - 0.5 * ridge * cand @ cand >= ll - 0.5 * ridge * theta @ theta - 1e-12:
                break
            t /= 2
        theta = theta - t * step
        if np.max(np.abs(g)) < 1e-8 * max(1.0, weights.sum()):
            converged = True
            break
    ll, _ = loglik_grad(theta, design, weights)
    return theta, ll, converged


def probabilities_from_utilities(v: np.ndarray, avail: np.ndarray, outside: bool) -> np.ndarray:
    """Inside choice probabilities from utilities ``v`` (shape ``(N, J)``); the outside option has utility 0."""
    v = np.where(avail, v, -np.inf)
    top = np.max(v, axis=1, keepdims=True)
    if outside:
        top = np.maximum(top, 0.0)
    e = np.exp(v - top)
    denom = e.sum(axis=1, keepdims=True) + (np.exp(-top) if outside else 0.0)
    return e / denom
