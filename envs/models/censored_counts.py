"""Right-censored count regression: Poisson and negative-binomial (NB2) maximum likelihood with a log link.

Observation ``i`` has design row ``x_i`` ``(P,)``, mean ``mu_i = exp(x_i @ beta)`` and either an exact count
``y_i`` (log-likelihood ``log f(y_i; mu_i)``) or a right-censored one, known only to be ``>= c_i`` (log-likelihood
``log P(Y >= c_i; mu_i)``). Censored rows with ``c_i = 0`` carry no information; drop them before fitting.

Poisson: ``f(y) = mu^y e^-mu / y!``, ``P(Y >= c) = P(c, mu)`` (the regularised lower incomplete gamma, ``c >= 1``).
NB2 with dispersion ``alpha`` (variance ``mu + alpha mu^2``), ``r = 1 / alpha``, ``q = mu / (r + mu)``:
``f(y) = Gamma(y + r) / (Gamma(r) y!) (1 - q)^r q^y`` and ``P(Y >= c) = I_q(c, r)`` (regularised incomplete beta).
The NB parameter vector is ``(beta, log alpha)``; ``log alpha`` is kept in ``[LOG_ALPHA_MIN, LOG_ALPHA_MAX]``.

Gradients in ``beta`` are analytic; in ``log alpha`` analytic on exact rows and a central difference on censored
ones. The observed information is the
central-difference Jacobian of the gradient; the covariance is its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

LOG_ALPHA_MIN, LOG_ALPHA_MAX = np.log(1e-6), np.log(50.0)
_STEP = 1e-5
FAMILIES = ("poisson", "negbin")
_OPTIONS = {"TNC": {"maxfun": 2000},
            "L-BFGS-B": {"maxiter": 500, "gtol": 1e-7}}


@dataclass
class CensoredCounts:
    """The data of one censored count regression.

    :param x: ``(n, P)`` design matrix.
    :param y: ``(n,)`` exact counts, or the lower bounds ``c_i`` of censored rows (whole numbers >= 0).
    :param censored: ``(n,)`` bool, True where ``y`` is a lower bound (``c_i >= 1``).
    """

    x: np.ndarray
    y: np.ndarray
    censored: np.ndarray


@dataclass
class CountFit:
    """A fitted censored count model.

    :param family: ``"poisson"`` or ``"negbin"``.
    :param params: ``(P,)`` beta, or ``(P + 1,)`` beta then log alpha for NB.
    :param cov: covariance of ``params`` (inverse observed information); with NB at the ``alpha`` bound, the
        ``log alpha`` row and column are NaN and the beta block is computed with alpha fixed.
    :param loglik: maximised log-likelihood.
    :param converged: whether the optimiser reported success.
    """

    family: str
    params: np.ndarray
    cov: np.ndarray
    loglik: float
    converged: bool

    @property
    def beta(self) -> np.ndarray:
        return self.params[: self.n_beta]

    @property
    def n_beta(self) -> int:
        return self.params.size - (1 if self.family == "negbin" else 0)

    @property
    def alpha(self) -> float:
        """NB2 dispersion (0 for Poisson)."""
        return float(np.exp(self.params[-1])) if self.family == "negbin" else 0.0

    @property
    def n_params(self) -> int:
        return int(self.params.size)


def _logsf_terms(family: str, c: np.ndarray, mu: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """``log P(Y >= c)`` and ``d log P(Y >= c) / d log mu`` for ``c >= 1``."""
    if family == "poisson":
        sf = special.gammainc(c, mu)
        log_density = (c - 1) * np.log(mu) - mu - special.gammaln(c)  # d P(c, mu) / d mu = f(c - 1)
        log_dsf = log_density + np.log(mu)
    else:
        q = mu / (r + mu)
        sf = special.betainc(c, r, q)
        log_dq = (c - 1) * np.log(q) + (r - 1) * np.log1p(-q) - special.betaln(c, r)  # d I_q / d q
        log_dsf = log_dq + np.log(r) - 2 * np.log(r + mu) + np.log(mu)  # dq/dmu = r / (r + mu)^2
    log_sf = np.log(np.maximum(sf, 1e-300))
    return log_sf, np.exp(log_dsf - log_sf)


def loglik(family: str, data: CensoredCounts, params: np.ndarray) -> tuple[float, np.ndarray]:
    """Log-likelihood and gradient at ``params`` (beta, then log alpha for NB).

    The NB gradient in ``log alpha`` is analytic on exact rows (``-r [psi(y + r) - psi(r) + log(r / (r + mu))
    + (mu - y) / (r + mu)]``) and a central difference on censored rows.
    """
    n_beta = data.x.shape[1]
    eta = np.clip(data.x @ params[:n_beta], -30.0, 30.0)
    mu = np.exp(eta)
    y, cens = data.y, data.censored
    exact = ~cens
    ye, me, ee = y[exact], mu[exact], eta[exact]
    score = np.zeros_like(mu)
    r = float(np.exp(-params[-1])) if family == "negbin" else 0.0
    if family == "poisson":
        ll = float(np.sum(ye * ee - me - special.gammaln(ye + 1)))
        score[exact] = ye - me
    else:
        log_share = np.log(r / (r + me))
        ll = float(np.sum(special.gammaln(ye + r) - special.gammaln(r) - special.gammaln(ye + 1)
                          + r * log_share + ye * (ee - np.log(r + me))))
        score[exact] = r * (ye - me) / (r + me)
        d_log_alpha = -r * float(np.sum(special.digamma(ye + r) - special.digamma(r) + log_share
                                        + (me - ye) / (r + me)))
    if cens.any():
        c, mc = y[cens], mu[cens]
        log_sf, dlog = _logsf_terms(family, c, mc, r)
        ll += float(log_sf.sum())
        score[cens] = dlog
        if family == "negbin":
            hi = _logsf_terms(family, c, mc, float(np.exp(-(params[-1] + _STEP))))[0].sum()
            lo = _logsf_terms(family, c, mc, float(np.exp(-(params[-1] - _STEP))))[0].sum()
            d_log_alpha += float(hi - lo) / (2 * _STEP)
    grad = data.x.T @ score
    return ll, (grad if family == "poisson" else np.append(grad, d_log_alpha))


def _hessian(family: str, data: CensoredCounts, params: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of the gradient over the ``free`` parameters, symmetrised."""
    idx = np.flatnonzero(free)
    h = np.zeros((idx.size, idx.size))
    for k, i in enumerate(idx):
        step = 1e-4 * max(1.0, abs(params[i]))
        up, down = params.copy(), params.copy()
        up[i] += step
        down[i] -= step
        h[:, k] = (loglik(family, data, up)[1][idx] - loglik(family, data, down)[1][idx]) / (2 * step)
    return (h + h.T) / 2


def fit_counts(family: str, data: CensoredCounts, start: np.ndarray | None = None, with_cov: bool = True,
               method: str = "TNC") -> CountFit:
    """Maximise the censored log-likelihood by L-BFGS-B.

    :param family: ``"poisson"`` or ``"negbin"``.
    :param data: the design, counts and censoring.
    :param start: initial beta ``(P,)``; default the log of the mean count in the intercept (column 0), 0 elsewhere.
    :param method: the bounded scipy optimiser, ``"TNC"`` (default) or ``"L-BFGS-B"``. TNC is the default because
        L-BFGS-B's BLAS calls on these tiny problems slow to milliseconds per iteration when the BLAS thread pool
        competes with other work for the cores.
    :param with_cov: compute the covariance (:func:`covariance`); without it ``cov`` is all NaN (for test fits).
    :raises ValueError: an unknown family, or (``with_cov``) a singular information matrix.
    """
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {FAMILIES}, found {family!r}")
    if method not in _OPTIONS:
        raise ValueError(f"method: expected one of {sorted(_OPTIONS)}, found {method!r}")
    n_beta = data.x.shape[1]
    beta0 = np.zeros(n_beta)
    if start is not None:
        beta0 = np.asarray(start, dtype=np.float64).copy()
    else:
        beta0[0] = np.log(max(float(data.y.mean()), 0.5))
    x0 = beta0 if family == "poisson" else np.append(beta0, np.log(0.1))
    bounds = [(None, None)] * n_beta + ([] if family == "poisson" else [(LOG_ALPHA_MIN, LOG_ALPHA_MAX)])

    def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = loglik(family, data, p)
        return -ll, -grad

    res = optimize.minimize(objective, x0, jac=True, method=method, bounds=bounds, options=_OPTIONS[method])
    params = np.asarray(res.x, dtype=np.float64)
    fit = CountFit(family=family, params=params, cov=np.full((params.size, params.size), np.nan),
                   loglik=float(-res.fun), converged=bool(res.success))
    if with_cov:
        fit.cov = covariance(family, data, params)
    return fit


def covariance(family: str, data: CensoredCounts, params: np.ndarray) -> np.ndarray:
    """Inverse observed information at ``params``. For NB, when ``log alpha`` sits at its lower bound or its
    curvature is nil (Poisson-like data), the ``log alpha`` row and column are NaN and the beta block is computed
    with alpha fixed.

    :raises ValueError: the beta block is singular (the data cannot identify every coefficient, e.g. a weekday
        whose periods are all censored).
    """
    free = np.ones(params.size, dtype=bool)
    if family == "negbin" and params[-1] <= LOG_ALPHA_MIN + 1e-3:
        free[-1] = False
    for attempt in range(2):
        info = -_hessian(family, data, params, free)
        eig = np.linalg.eigvalsh(info)
        if eig.min() > 1e-10 * max(eig.max(), 1e-300):
            break
        if attempt == 0 and family == "negbin" and free[-1]:
            free[-1] = False
            continue
        raise ValueError("the observed information is singular: some coefficient is not identified by the data")
    cov = np.full((params.size, params.size), np.nan)
    cov[np.ix_(free, free)] = np.linalg.inv(info)
    return cov
