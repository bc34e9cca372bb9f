"""The click model's likelihood in torch, for designs too wide for the dense Fisher solve (many items or features).

Same loss and parameters as :class:`envs.models.click_likelihood.ClickLikelihood` (see its module
docstring), fit by the same scheme (Fisher scoring with a backtracking line search, then Newton steps on the
observed Hessian) to the same optimum, but nothing of size ``(P, P)`` is ever formed: each step is solved by
Jacobi-preconditioned conjugate gradients on curvature-vector products, two sparse matrix-vector products each.
It differs in its start (``kappa`` at the per-slot CTR ratios) and in solving the early Fisher steps loosely. Memory is ``O(nnz(x) + P)`` and a step
costs ``O(nnz(x))`` per CG iteration, against ``O(P^2)`` memory and ``O(P^3)`` time for the dense solve.

Runs on any torch device (``"cuda"`` for a GPU), in float64. Sums go through dense reductions, CSR products
split by output row and (on a GPU, for ``x' w``) segment sums, never atomics, so a device and a thread count
give the same numbers every run.

Row ``i``'s derivative of ``p_i`` is ``d_i = [a_i, p_i e_{k_i}, a_i x_i]`` with ``a_i = kappa s (1 - s)``, and
``J = sum_i c_i d_i d_i' + diag(penalty)`` with ``c_i = v_i / (p_i (1 - p_i))``, so::

    J u = sum_i c_i d_i (d_i . u) + penalty * u,       d_i . u = a_i (u_0 + x_i . u_w) + p_i u_lk[k_i]
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, sparse

from envs.models.click_likelihood import P_MAX, backtrack, curvature_weights, row_derivatives

CG_TOL = 1e-10          # relative residual of a scoring step's CG solve
CG_MAX_ITER = 2000


def resolve_device(device: str) -> str:
    """``"auto"``: ``"cuda"`` when torch sees a GPU, else ``"cpu"``; any other name is checked by torch."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as err:
        raise ValueError(f"device: torch cannot use {device!r} here ({err}); use 'cpu' or 'auto'") from err
    return device


def _csr(matrix: sparse.csr_matrix, device: str, square: bool = False):
    import torch

    matrix = matrix.tocsr()
    matrix.sort_indices()
    index = torch.int32 if matrix.nnz < 2**31 - 1 and max(matrix.shape) < 2**31 - 1 else torch.int64
    data = matrix.data.astype(np.float64) ** 2 if square else matrix.data.astype(np.float64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.as_tensor(matrix.indptr, dtype=index),
                                       torch.as_tensor(matrix.indices, dtype=index),
                                       torch.as_tensor(data), size=matrix.shape, dtype=torch.float64,
                                       device=device, check_invariants=False)


class TorchClickLikelihood:
    """The position-based click model's penalised loss on a fixed design, in torch (see the module docstring).

    Arguments as :class:`~envs.models.click_likelihood.ClickLikelihood`, plus:

    :param device: a torch device name (``"cpu"``, ``"cuda"``, ``"cuda:1"``); :func:`resolve_device` resolves
        ``"auto"``.
    :param segment_sums: compute ``x' w`` as segment sums over the transposed CSR (``None``: on every device but
        the CPU, where torch's CSR product is already deterministic and faster).
    """

    def __init__(self, x: sparse.csr_matrix, positions: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                 n_positions: int, penalty: np.ndarray, position_penalty: float = 0.0, device: str = "cpu",
                 segment_sums: bool | None = None):
        import torch

        self.torch, self.device = torch, device
        self.n_rows, self.n_features = x.shape
        self.n_pos = int(n_positions)
        self.n_params = self.n_pos + self.n_features
        self.x = _csr(x, device)
        xt = sparse.csr_matrix(x).T.tocsr()
        xt.sort_indices()
        if segment_sums is None:
            segment_sums = torch.device(device).type != "cpu"
        if not segment_sums:       # CSR products split by output row on a CPU: deterministic
            self.xt, self.xt_sq, self._xt_segments = _csr(xt, device), _csr(xt, device, square=True), None
        else:   # cuSPARSE's transposed-side product sums with atomics (bits vary run to run): segment sums instead
            self.xt = self.xt_sq = None
            data = torch.as_tensor(xt.data.astype(np.float64), device=device)
            self._xt_segments = (torch.as_tensor(xt.indptr.astype(np.int64), device=device),
                                 torch.as_tensor(xt.indices.astype(np.int64), device=device), data, data * data)
        k = torch.as_tensor(np.array(positions, dtype=np.int64), device=device)
        # slot indicators (n, K-1): per-row lookups and per-slot sums of log_kappa terms as dense products (faster
        # than gathers on a CPU, and deterministic, unlike scatter-add on a GPU)
        self.slot = (k[:, None] == torch.arange(1, self.n_pos, device=device)[None, :]).to(torch.float64)
        self.z = torch.as_tensor(np.array(labels, dtype=np.float64), device=device)
        self.v = torch.as_tensor(np.array(weights, dtype=np.float64), device=device)
        self.set_penalties(penalty, position_penalty)

    # ------------------------------------------------------------------ helpers
    def set_penalties(self, penalty: np.ndarray, position_penalty: float) -> None:
        """Change the penalties (the data stay): ``(F,)`` feature penalties and the ``log_kappa`` penalty."""
        pen = np.broadcast_to(np.asarray(penalty, dtype=np.float64), (self.n_features,))
        self.position_penalty = float(position_penalty)
        full = np.concatenate([[0.0], np.full(self.n_pos - 1, self.position_penalty), pen])
        self.pen = self.torch.as_tensor(full, device=self.device)

    def _tensor(self, theta: np.ndarray):
        return self.torch.as_tensor(np.asarray(theta, dtype=np.float64), device=self.device)

    def _mv(self, matrix, u):
        return (matrix @ u[:, None])[:, 0]

    def _xt_times(self, w, square: bool = False):
        """``x' w`` (or ``(x * x)' w``) for ``w`` of shape ``(n,)`` or ``(n, m)``, deterministic on every device."""
        w2 = w if w.ndim == 2 else w[:, None]
        if self._xt_segments is None:
            out = (self.xt_sq if square else self.xt) @ w2
        else:
            offsets, cols, data, data_sq = self._xt_segments
            values = data_sq if square else data
            # one column at a time: segment_reduce over a 2-D operand is far slower than over 1-D ones
            out = self.torch.stack([self.torch.segment_reduce(values * w2[:, j][cols], "sum", offsets=offsets,
                                                              initial=0.0) for j in range(w2.shape[1])], dim=1)
        return out if w.ndim == 2 else out[:, 0]

    def _slot_sums(self, values):
        """``sum_i values_i [k_i = k]`` for ``k = 1 .. K-1``."""
        return self.slot.T @ values

    def _per_row(self, log_kappa_tail):
        """``log_kappa[k_i]`` per row (0 in slot 0) from ``log_kappa[1:]``, ``(K-1,)`` or ``(K-1, m)``."""
        return self.slot @ log_kappa_tail

    def _parts(self, theta):
        t = self.torch
        s = t.sigmoid(theta[0] + self._mv(self.x, theta[self.n_pos:]))
        kappa = t.exp(self._per_row(theta[1:self.n_pos]))
        return s, kappa, t.clamp(kappa * s, max=P_MAX)

    def _nll(self, p):
        t = self.torch
        return -t.sum(self.v * (self.z * t.log(t.clamp(p, min=1e-300)) + (1.0 - self.z) * t.log1p(-p)))

    def _derivatives(self, theta):
        """Per-row d(loss)/dr and d(loss)/dlog_kappa[k_i] (unweighted), and the parts."""
        s, kappa, p = self._parts(theta)
        return *row_derivatives(s, kappa, p, self.z), s, kappa, p

    def _objective(self, theta):
        d_r, d_lk, _, _, p = self._derivatives(theta)
        vd = self.v * d_r
        grad = self.torch.cat([vd.sum()[None], self._slot_sums(self.v * d_lk), self._xt_times(vd)])
        grad = grad + self.pen * theta
        return self._nll(p) + 0.5 * self.torch.sum(self.pen * theta * theta), grad

    def _curvature(self, theta, observed: bool = False):
        """Per-row curvature weights ``(w_rr, w_rl, w_ll)`` at ``theta`` (Fisher, or the Hessian when
        ``observed``; :func:`~envs.models.click_likelihood.curvature_weights`)."""
        return curvature_weights(*self._parts(theta), self.z, self.v, observed)

    def _fisher_vector(self, curv, u):
        """``J u`` (see the module docstring; the Hessian for observed weights); ``u`` ``(P,)`` or ``(P, m)``."""
        w_rr, w_rl, w_ll = (w[:, None] for w in curv)
        t = self.torch
        u2 = u if u.ndim == 2 else u[:, None]
        du_r = u2[0][None, :] + self.x @ u2[self.n_pos:]
        du_l = self._per_row(u2[1:self.n_pos])
        g_r, g_l = w_rr * du_r + w_rl * du_l, w_rl * du_r + w_ll * du_l
        out = t.cat([g_r.sum(0)[None], self._slot_sums(g_l), self._xt_times(g_r)]) + self.pen[:, None] * u2
        return out if u.ndim == 2 else out[:, 0]

    def _fisher_diagonal(self, curv):
        w_rr, _, w_ll = curv
        diag = self.torch.cat([w_rr.sum()[None], self._slot_sums(w_ll), self._xt_times(w_rr, square=True)]) + self.pen
        return self.torch.clamp(diag, min=1e-12)

    def _solve(self, curv, rhs, tol: float = CG_TOL):
        """``M^-1 rhs`` for the curvature ``M`` of ``curv`` (``rhs`` ``(P,)`` or ``(P, m)``) by Jacobi-preconditioned
        CG to a relative residual ``tol``, each column on its own (a column stops when it meets ``tol`` or a
        direction of non-positive curvature; the others go on). Returns ``(solution, positive, met)``:
        ``positive`` is false when some column met non-positive curvature (an indefinite Hessian), ``met`` when
        every column reached ``tol`` within the iteration cap."""
        t = self.torch
        b = rhs if rhs.ndim == 2 else rhs[:, None]
        m_inv = (1.0 / self._fisher_diagonal(curv))[:, None]
        x = t.zeros_like(b)
        r = b.clone()
        zr = m_inv * r
        d = zr.clone()
        rz = (r * zr).sum(0)
        target = tol * t.linalg.vector_norm(b, dim=0)
        active = t.linalg.vector_norm(r, dim=0) > target
        indefinite = t.zeros_like(active)
        for _ in range(min(CG_MAX_ITER, 4 * self.n_params)):
            if not bool(active.any()):
                break
            jd = self._fisher_vector(curv, d)
            curvature = (d * jd).sum(0)
            indefinite = indefinite | (active & (curvature <= 0))
            active = active & (curvature > 0)
            alpha = t.where(active, rz / t.where(active, curvature, 1.0), 0.0)
            x = x + alpha * d
            r = r - alpha * jd
            zr = m_inv * r
            rz_new = (r * zr).sum(0)
            d = zr + t.where(active & (rz > 0), rz_new / t.where(rz > 0, rz, 1.0), 0.0) * d
            rz = rz_new
            active = active & (t.linalg.vector_norm(r, dim=0) > target)
        met = not bool(indefinite.any()) and bool((t.linalg.vector_norm(r, dim=0) <= target).all())
        return (x if rhs.ndim == 2 else x[:, 0]), not bool(indefinite.any()), met

    # ------------------------------------------------------------------ the ClickLikelihood interface
    def data_loss(self, theta: np.ndarray) -> float:
        """The weighted negative log-likelihood without the penalty."""
        return float(self._nll(self._parts(self._tensor(theta))[2]))

    def objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Penalised loss and its gradient (numpy)."""
        value, grad = self._objective(self._tensor(theta))
        return float(value), grad.cpu().numpy()

    def start(self) -> np.ndarray:
        """Start: ``b0`` at slot 0's weighted mean label's log-odds, ``log_kappa[k]`` at the log of slot ``k``'s
        weighted CTR over slot 0's (at most 0), the features at 0. Closer than ``kappa = 1`` to where wide,
        sparse designs end, whose first steps from ``kappa = 1`` can reach ``kappa[k] s > 1`` (the clamp at
        ``P_MAX``, where the loss is not smooth)."""
        t = self.torch
        vz, v = self.v * self.z, self.v
        slot0 = 1.0 - self.slot.sum(1)
        ctr0 = float(np.clip(float((vz * slot0).sum() / max(float((v * slot0).sum()), 1e-300)), 1e-6, 0.5))
        theta = np.zeros(self.n_params)
        theta[0] = np.log(ctr0 / (1.0 - ctr0))
        if self.n_pos > 1:
            ctr_k = (self.slot.T @ vz) / t.clamp(self.slot.T @ v, min=1e-300)
            ratio = np.clip(ctr_k.cpu().numpy() / ctr0, 0.01, 1.0)      # soft DR labels can make a slot's CTR <= 0
            theta[1:self.n_pos] = np.log(ratio)
        return theta

    def solve_information(self, theta: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """``J(theta)^-1 rhs`` for ``rhs`` of shape ``(P, m)``."""
        theta_t = self._tensor(theta)
        solution, _, met = self._solve(self._curvature(theta_t), self._tensor(rhs))
        if not met:
            warnings.warn(f"click model (torch): CG did not reach a relative residual of {CG_TOL:g} in "
                          f"{min(CG_MAX_ITER, 4 * self.n_params)} iterations; the standard errors are approximate",
                          RuntimeWarning, stacklevel=2)
        return solution.cpu().numpy()

    def score_projection(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Each row's unweighted loss gradient times ``u`` (``(P, m)``): ``(n, m)``."""
        d_r, d_lk, *_ = self._derivatives(self._tensor(theta))
        u = self._tensor(u)
        out = d_r[:, None] * (u[0][None, :] + self.x @ u[self.n_pos:]) + d_lk[:, None] * self._per_row(u[1:self.n_pos])
        return out.cpu().numpy()

    def fit(self, theta0: np.ndarray | None = None, max_iter: int = 300, tol: float = 1e-11,
            step_tol: float = 1e-9) -> tuple[np.ndarray, bool]:
        """Minimise the loss; returns ``(theta, converged)`` (numpy).

        Fisher scoring with a backtracking line search while far from the optimum, each step's CG stopped at a
        relative residual of ``min(0.01, |g| / |g_0|)`` (inexact Newton). Once the Newton decrement ``g' step``
        is below ``step_tol * (1 + |loss|)``, Newton steps on the observed Hessian, solved to :data:`CG_TOL`,
        until it is below ``tol * (1 + |loss|)``: Fisher scoring converges only linearly when the information
        and the Hessian differ (the slot factor makes the link non-canonical), slowly in the flat directions of
        a wide design (hence ``max_iter`` 300: a step costs only CG products); Newton steps there converge
        quadratically. A Hessian that is not positive definite at the current point gives a Fisher step instead.
        (Newton steps from the start were tried: far from the optimum the Hessian's near-flat directions gave
        steps the line search could not use on wide designs.) L-BFGS from there if the line search stalls."""
        theta = self._tensor(self.start() if theta0 is None else theta0)
        value, grad = self._objective(theta)
        value = float(value)
        g0 = float(self.torch.linalg.vector_norm(grad)) or 1.0
        newton = False
        for _ in range(max_iter):
            step, positive, met = None, False, False
            if newton:
                step, positive, met = self._solve(self._curvature(theta, observed=True), grad)
                positive = positive and float(grad @ step) > 0
            if not positive:
                forcing = CG_TOL if newton else max(CG_TOL, min(0.01, float(self.torch.linalg.vector_norm(grad)) / g0))
                step, _, met = self._solve(self._curvature(theta), grad, forcing)
            decrement = float(grad @ step)
            if not np.isfinite(decrement) or decrement < 0:
                break
            if not newton and decrement <= step_tol * (1.0 + abs(value)):
                newton = True
                step, positive, met = self._solve(self._curvature(theta, observed=True), grad)
                if not (positive and float(grad @ step) > 0):
                    step, _, met = self._solve(self._curvature(theta), grad)
                decrement = float(grad @ step)
            # converged only on a step solved to CG_TOL: a truncated CG under-states the decrement
            if newton and met and decrement <= tol * (1.0 + abs(value)):
                last = float(self._objective(theta - step)[0])   # the last step is nearly exact: take it unless it hurts
                theta = theta - step if np.isfinite(last) and last <= value else theta
                return theta.cpu().numpy(), True
            accepted = backtrack(self._objective, theta, step, value, decrement)
            if accepted is None:
                break
            t, value, grad = accepted
            theta = theta - t * step
        res = optimize.minimize(self.objective, theta.cpu().numpy(), jac=True, method="L-BFGS-B",
                                options={"maxiter": 2000, "gtol": 1e-8})
        return res.x, bool(res.success)
