"""The position-based click model's weighted, penalised likelihood and its Fisher-scoring fit.

Parameters ``theta = [b0, log_kappa[1], ..., log_kappa[K-1], w]``; row ``i`` (an impression, or a pseudo-row
of the doubly robust loss) has features ``x_i`` (sparse), slot ``k_i``, label ``z_i`` (a click in {0, 1}, or a
soft label for the doubly robust loss) and weight ``v_i >= 0``::

    p_i = kappa[k_i] * sigmoid(b0 + x_i . w),        kappa[0] = 1
    loss(theta) = -sum_i v_i (z_i log p_i + (1 - z_i) log(1 - p_i))
                  + 1/2 sum_j penalty_j w_j^2 + 1/2 position_penalty sum_{k>=1} log_kappa[k]^2

The loss is linear in the labels, which is what lets :mod:`envs.models.click_dr` write the doubly robust loss
as a soft-label likelihood. ``b0`` is never penalised; ``position_penalty`` shrinks ``kappa`` toward 1.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize, sparse

P_MIN, P_MAX = 1e-12, 1.0 - 1e-9


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def log_loss(labels: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted mean Bernoulli log-loss of probabilities ``p`` (clipped to ``[1e-12, 1 - 1e-9]``)."""
    q = np.clip(p, P_MIN, P_MAX)
    loss = -(labels * np.log(q) + (1.0 - labels) * np.log1p(-q))
    return float(np.average(loss, weights=weights))


def row_derivatives(s, kappa, p, z):
    """Per-row ``d loss / d r`` and ``d loss / d log_kappa[k_i]`` (unweighted) from the parts ``s = sigmoid(r)``,
    ``kappa[k_i]``, ``p`` and the labels ``z``; numpy arrays or torch tensors (arithmetic only)."""
    d_r = -(z * (1.0 - s) - (1.0 - z) * kappa * s * (1.0 - s) / (1.0 - p))
    d_lk = -(z - (1.0 - z) * p / (1.0 - p))
    return d_r, d_lk


def curvature_weights(s, kappa, p, z, v, observed: bool = False):
    """Per-row weights ``(w_rr, w_rl, w_ll)`` of the curvature in (``r_i``, ``log_kappa[k_i]``); numpy arrays or
    torch tensors (arithmetic and ``.clip`` only).

    Fisher (expected) information: ``c (a^2, a p, p^2)`` with ``a = kappa s (1 - s)`` and ``c = v / (p (1 - p))``:
    rank one per row, positive semi-definite. Observed (the loss's Hessian), with ``q = 1 - p``:
    ``w_rr = v (z s (1 - s) + (1 - z) (a (1 - 2 s) / q + a^2 / q^2))``, ``w_rl = v (1 - z) a / q^2``,
    ``w_ll = v (1 - z) p / q^2``: positive definite near a minimum, not everywhere.
    """
    a = kappa * s * (1.0 - s)
    if not observed:
        c = v / (p * (1.0 - p)).clip(min=1e-300)
        return c * a * a, c * a * p, c * p * p
    q = 1.0 - p
    return (v * (z * s * (1.0 - s) + (1.0 - z) * (a * (1.0 - 2.0 * s) / q + a * a / q ** 2)),
            v * (1.0 - z) * a / q ** 2, v * (1.0 - z) * p / q ** 2)


def backtrack(objective, theta, step, value: float, decrement: float, min_step: float = 1e-6):
    """Armijo backtracking along ``-step``: the first ``t`` in 1, 1/2, 1/4 ... above ``min_step`` with
    ``objective(theta - t step) <= value - 1e-4 t decrement``, as ``(t, new_value, new_grad)``; ``None`` if none.
    ``theta`` and ``step`` may be numpy arrays or torch tensors (``objective`` takes what they are)."""
    t = 1.0
    while t > min_step:
        new_value, new_grad = objective(theta - t * step)
        new_value = float(new_value)
        if np.isfinite(new_value) and new_value <= value - 1e-4 * t * decrement:
            return t, new_value, new_grad
        t *= 0.5
    return None


class ClickLikelihood:
    """The loss of the module docstring on a fixed design.

    :param x: features, sparse ``(n, F)``.
    :param positions: slots, ``(n,)`` ints in ``[0, n_positions)``.
    :param labels: ``z``, ``(n,)``.
    :param weights: ``v``, ``(n,)``, non-negative.
    :param n_positions: ``K``.
    :param penalty: ``(F,)`` per-feature L2 penalties.
    :param position_penalty: L2 penalty on ``log_kappa``.
    """

    def __init__(self, x: sparse.csr_matrix, positions: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                 n_positions: int, penalty: np.ndarray, position_penalty: float = 0.0):
        self.x, self.k, self.z, self.v = x, positions, labels, weights
        self.n_pos = int(n_positions)
        self.n_params = self.n_pos + x.shape[1]
        self._blocks: tuple | None = None
        self.set_penalties(penalty, position_penalty)

    def set_penalties(self, penalty: np.ndarray, position_penalty: float) -> None:
        """Change the penalties (the data stay): ``(F,)`` feature penalties and the ``log_kappa`` penalty."""
        self.penalty = np.broadcast_to(np.asarray(penalty, dtype=np.float64), (self.x.shape[1],))
        self.position_penalty = float(position_penalty)

    def _structure(self) -> tuple:
        """``[1, x]`` as CSR, its transpose, nonzeros per row and the slot one-hot ``(n, K-1)`` (built once)."""
        if self._blocks is None:
            z = sparse.hstack([sparse.csr_matrix(np.ones((self.x.shape[0], 1))), self.x], format="csr")
            onehot = np.zeros((self.x.shape[0], self.n_pos - 1))
            mask = self.k > 0
            onehot[np.flatnonzero(mask), self.k[mask] - 1] = 1.0
            self._blocks = (z, z.T.tocsr(), np.diff(z.indptr), onehot)
        return self._blocks

    def _penalty_vector(self) -> np.ndarray:
        return np.concatenate([[0.0], np.full(self.n_pos - 1, self.position_penalty), self.penalty])

    def parts(self, theta: np.ndarray):
        """``sigmoid(r)``, ``kappa[k_i]`` and ``p``, each ``(n,)``."""
        log_kappa = np.concatenate([[0.0], theta[1:self.n_pos]])
        s = sigmoid(theta[0] + self.x @ theta[self.n_pos:])
        kappa = np.exp(log_kappa)[self.k]
        return s, kappa, np.minimum(kappa * s, P_MAX)

    def _row_derivatives(self, theta: np.ndarray):
        """Per-row d(loss)/dr and d(loss)/dlog_kappa[k_i] (unweighted), and the parts."""
        s, kappa, p = self.parts(theta)
        return *row_derivatives(s, kappa, p, self.z), s, kappa, p

    def _rows(self, a_r: np.ndarray, a_lk: np.ndarray) -> sparse.csr_matrix:
        """Rows ``[a_r, a_lk one-hot at k_i (k_i >= 1), a_r * x_i]``, sparse ``(n, P)``."""
        n = self.k.size
        mask = self.k > 0
        pos = sparse.csr_matrix((a_lk[mask], (np.flatnonzero(mask), self.k[mask] - 1)), shape=(n, self.n_pos - 1))
        return sparse.hstack([sparse.csr_matrix(a_r[:, None]), pos, sparse.diags(a_r) @ self.x], format="csr")

    def data_loss(self, theta: np.ndarray) -> float:
        """The weighted negative log-likelihood without the penalty."""
        _, _, p = self.parts(theta)
        z = self.z
        return float(-np.sum(self.v * (z * np.log(np.maximum(p, 1e-300)) + (1.0 - z) * np.log1p(-p))))

    def objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Penalised loss and its gradient."""
        d_r, d_lk, _, _, p = self._row_derivatives(theta)
        z, v = self.z, self.v
        nll = -np.sum(v * (z * np.log(np.maximum(p, 1e-300)) + (1.0 - z) * np.log1p(-p)))
        pen = self._penalty_vector()
        grad = np.empty_like(theta)
        vd = v * d_r
        grad[0] = vd.sum()
        grad[1:self.n_pos] = np.bincount(self.k, weights=v * d_lk, minlength=self.n_pos)[1:]
        grad[self.n_pos:] = self.x.T @ vd
        grad += pen * theta
        return float(nll + 0.5 * np.sum(pen * theta * theta)), grad

    def curvature_weights(self, theta: np.ndarray, observed: bool = False) -> tuple[np.ndarray, ...]:
        """Per-row curvature weights at ``theta`` (:func:`curvature_weights`), each ``(n,)``."""
        return curvature_weights(*self.parts(theta), self.z, self.v, observed)

    def information(self, theta: np.ndarray, observed: bool = False) -> np.ndarray:
        """Weighted expected (Fisher) information plus the penalty, dense ``(P, P)`` (``observed=True``: the
        penalised loss's Hessian).

        Row ``i``'s derivative of ``p_i`` is ``[a_i, p_i e_k, a_i x_i]`` with ``a_i = kappa s (1 - s)``; the
        information is ``sum_i c_i d_i d_i'`` with ``c_i = v_i / (p_i (1 - p_i))``, assembled block-wise from the
        per-row weights of :meth:`curvature_weights`.
        """
        z, zt, row_nnz, onehot = self._structure()
        w_rr, w_rl, w_ll = self.curvature_weights(theta, observed)
        scaled = z.copy()
        scaled.data *= np.repeat(w_rr, row_nnz)
        main = (zt @ scaled).toarray()                                # over [b0, w]
        k = self.n_pos - 1
        cross = zt @ (onehot * w_rl[:, None])                         # ([b0, w], log_kappa)
        pos = np.diag(onehot.T @ w_ll)
        idx = np.r_[0, np.arange(self.n_pos, self.n_params)]
        info = np.empty((self.n_params, self.n_params))
        info[np.ix_(idx, idx)] = main
        info[np.ix_(idx, np.arange(1, 1 + k))] = cross
        info[np.ix_(np.arange(1, 1 + k), idx)] = cross.T
        info[1:1 + k, 1:1 + k] = pos
        info[np.diag_indices_from(info)] += self._penalty_vector()
        return info

    def gradient_rows(self, theta: np.ndarray) -> sparse.csr_matrix:
        """Per-row gradient of the unweighted loss, sparse ``(n, P)`` (for sandwich standard errors)."""
        d_r, d_lk, *_ = self._row_derivatives(theta)
        return self._rows(d_r, d_lk)

    def solve_information(self, theta: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """``J(theta)^-1 rhs`` for ``rhs`` of shape ``(P, m)`` (pseudo-inverse: safe on a singular ``J``)."""
        return np.linalg.pinv(self.information(theta)) @ rhs

    def score_projection(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Each row's unweighted loss gradient times ``u`` (``(P, m)``): ``(n, m)``."""
        return np.asarray(self.gradient_rows(theta) @ u)

    def start(self) -> np.ndarray:
        """Start: ``b0`` at the weighted mean label's log-odds, everything else 0."""
        theta = np.zeros(self.n_params)
        ctr = float(np.clip(np.average(self.z, weights=self.v), 1e-6, 0.5))
        theta[0] = np.log(ctr / (1.0 - ctr))
        return theta

    def fit(self, theta0: np.ndarray | None = None, max_iter: int = 60, tol: float = 1e-11,
            step_tol: float = 1e-9) -> tuple[np.ndarray, bool]:
        """Fisher scoring with a backtracking line search until the decrement ``g' J^-1 g`` is below
        ``step_tol * (1 + |loss|)``, then Newton steps on the observed Hessian until it is below
        ``tol * (1 + |loss|)`` (Fisher scoring converges only linearly where the information and the Hessian
        differ; a Hessian that is not positive definite gives a Fisher step instead); L-BFGS from there if it
        stalls. Returns ``(theta, converged)``."""
        theta = self.start() if theta0 is None else np.array(theta0, dtype=np.float64)
        value, grad = self.objective(theta)
        newton = False
        for _ in range(max_iter):
            step = None
            if newton:
                try:
                    step = linalg.solve(self.information(theta, observed=True), grad, assume_a="pos")
                except (linalg.LinAlgError, ValueError):
                    step = None
            if step is None or not float(grad @ step) > 0:
                try:
                    step = linalg.solve(self.information(theta), grad, assume_a="pos")
                except (linalg.LinAlgError, ValueError):
                    break
            decrement = float(grad @ step)
            if not newton and decrement <= step_tol * (1.0 + abs(value)):
                newton = True
                continue                           # the next step on the Hessian, from the same point
            if decrement <= tol * (1.0 + abs(value)):
                if newton:                         # the last Newton step is nearly exact: take it unless it hurts
                    last = self.objective(theta - step)[0]
                    theta = theta - step if np.isfinite(last) and last <= value else theta
                return theta, True
            accepted = backtrack(self.objective, theta, step, value, decrement)
            if accepted is None:
                break
            t, value, grad = accepted
            theta = theta - t * step
        res = optimize.minimize(self.objective, theta, jac=True, method="L-BFGS-B",
                                options={"maxiter": 2000, "gtol": 1e-8})
        return res.x, bool(res.success)
