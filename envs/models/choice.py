"""Purchase choice: a conditional (multinomial) logit over the offered products plus a no-purchase option.

Utility of product ``j`` on occasion ``n`` for a shopper of latent class ``c`` (one class by default)::

    V[n, j] = alpha[c, j] + beta_price[c] * price[n, j] + beta_display * display[n, j] + beta_feature * feature[n, j]
              (+ lambda * v[n, j] with a control function)

and the no-purchase option has utility 0. Choices follow the MNL: ``P[n, j] = exp V[n, j] / (1 + sum_j' exp V[n, j'])``.

**The outside option** (``outside=``) is an explicit setting, because scanner panels record only purchases:

* ``"estimate"``: the log has no-purchase occasions (every row ``chosen = 0``); all intercepts are estimated
  against the outside option's utility 0.
* ``"calibrate"``: the log has purchases only. The intercepts are identified only relative to one another, so
  the conditional logit is fit with the first product's intercept at 0, then one common shift ``c`` is added
  to every intercept so that the mean predicted no-purchase probability over the fitted occasions equals
  ``outside_share`` (equivalently: the market size is ``purchases / (1 - outside_share)`` shopping trips).
  Price and marketing coefficients do not depend on it; elasticities and the environment's demand level do.
* ``"none"``: no outside option (choice conditional on buying); not usable by the pricing environment.
* ``"auto"`` (default): ``"estimate"`` when the log has no-purchase occasions, else ``"calibrate"``.

**Confounded prices.** With ``control_function=True`` and ``fit(log, instruments=df)`` (columns ``time``,
``product`` and one or more instrument columns, e.g. a cost shifter), a first stage regresses price on product
dummies, product-specific instrument slopes and the other covariates; its residual enters the utility with
coefficient ``lambda`` (Petrin & Train 2010). Standard errors then come from the stacked two-step sandwich,
clustered by ``time`` (the first stage's variation is per period). Without it, standard errors come from the
observed information matrix (``se="information"``) or a sandwich clustered by time (``se="cluster"``).

**Latent classes** (``n_classes > 1``): class-specific intercepts and price coefficients, shared display, feature
and control-function coefficients; a shopper belongs to one class for all of their occasions. Fit by EM from
``n_starts`` seeded starts; standard errors from the numerically differentiated analytic score of the marginal
likelihood (the observed information of the mixture).

Fitting maximises the log-likelihood with L-BFGS on the analytic gradient, then Newton steps on the analytic
Hessian; every array operation is vectorised over occasions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from envs.models import _mnl
from envs.models.base import BehaviourModel
from envs.models.choice_data import COVARIATES, ChoiceArrays, choice_arrays
from sim_data.logs import ChoiceLog

OUTSIDE_MODES = ("auto", "estimate", "calibrate", "none")
SE_MODES = ("auto", "information", "cluster")
Z95 = float(stats.norm.ppf(0.975))


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    return (top + np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True))).squeeze(axis)


class ChoiceModel(BehaviourModel):
    """Multinomial logit with brand intercepts, price, display and feature ad (see the module docstring).

    :param outside: ``"auto"``, ``"estimate"``, ``"calibrate"`` or ``"none"``: how the no-purchase option is set.
    :param outside_share: the no-purchase share used by ``"calibrate"``, in (0, 1).
    :param n_classes: latent classes (1 = a plain MNL).
    :param control_function: correct confounded prices with a first-stage residual (needs ``instruments``).
    :param se: ``"auto"`` (information matrix; the two-step clustered sandwich with a control function),
        ``"information"`` or ``"cluster"`` (sandwich clustered by ``time``).
    :param n_starts: EM starts for latent classes (the best log-likelihood is kept).
    :param em_max_iter: EM iterations per start.
    :param em_tol: EM stops when the log-likelihood gains less than this.
    :param seed: seed of the EM starting values.
    """

    kind = "choice"

    def __init__(self, outside: str = "auto", outside_share: float = 0.5, n_classes: int = 1,
                 control_function: bool = False, se: str = "auto", n_starts: int = 3, em_max_iter: int = 300,
                 em_tol: float = 1e-6, seed: int = 0):
        if outside not in OUTSIDE_MODES:
            raise ValueError(f"outside: expected one of {list(OUTSIDE_MODES)}, found {outside!r}")
        if not 0.0 < float(outside_share) < 1.0:
            raise ValueError(f"outside_share: expected a share in (0, 1), found {outside_share!r}")
        if int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes: expected an integer >= 1, found {n_classes!r}")
        if se not in SE_MODES:
            raise ValueError(f"se: expected one of {list(SE_MODES)}, found {se!r}")
        if control_function and n_classes > 1:
            raise ValueError("control_function=True with n_classes > 1 is not supported: fit the control function "
                             "with one class, or use a randomized-price slice of the log for latent classes")
        if int(n_starts) < 1 or int(em_max_iter) < 1:
            raise ValueError(f"n_starts and em_max_iter: expected integers >= 1, found {n_starts!r}, {em_max_iter!r}")
        self.outside = outside
        self.outside_share = float(outside_share)
        self.n_classes = int(n_classes)
        self.control_function = bool(control_function)
        self.se = se
        self.n_starts = int(n_starts)
        self.em_max_iter = int(em_max_iter)
        self.em_tol = float(em_tol)
        self.seed = int(seed)

    def config(self) -> dict:
        return {"outside": self.outside, "outside_share": self.outside_share, "n_classes": self.n_classes,
                "control_function": self.control_function, "se": self.se, "n_starts": self.n_starts,
                "em_max_iter": self.em_max_iter, "em_tol": self.em_tol, "seed": self.seed}

    # ------------------------------------------------------------------ layout
    @property
    def _estimated_intercepts(self) -> list[int]:
        """Indices of products whose intercept is a parameter (all but the first without an estimated outside)."""
        start = 0 if self.mode_ == "estimate" else 1
        return list(range(start, len(self.products_)))

    def _base_names(self) -> list[str]:
        names = [f"alpha[{self.products_[j]}]" for j in self._estimated_intercepts]
        names += [f"beta_{c}" for c in self.covariates_]
        if self.control_function:
            names.append("lambda_control")
        return names

    def _class_index(self) -> list[np.ndarray]:
        """Per class, the positions in the full parameter vector of its base-layout parameters."""
        n_a, n_k = len(self._estimated_intercepts), len(self.covariates_)
        n_base = n_a + n_k + int(self.control_function)
        if self.n_classes == 1:
            return [np.arange(n_base)]
        c_count = self.n_classes
        shared_start = c_count * (n_a + 1)
        out = []
        for c in range(c_count):
            idx = list(range(c * n_a, (c + 1) * n_a))          # intercepts of class c
            idx.append(c_count * n_a + c)                        # beta_price of class c
            idx += list(range(shared_start, shared_start + (n_k - 1) + int(self.control_function)))
            out.append(np.asarray(idx))
        return out

    def _param_names(self) -> list[str]:
        base = self._base_names()
        if self.n_classes == 1:
            return base
        n_a = len(self._estimated_intercepts)
        names = []
        for c in range(self.n_classes):
            names += [f"{b}@class{c}" for b in base[:n_a]]
        names += [f"beta_price@class{c}" for c in range(self.n_classes)]
        names += base[n_a + 1:]
        names += [f"class_logit@class{c}" for c in range(1, self.n_classes)]
        return names

    def _design(self, arrays: ChoiceArrays, control: np.ndarray | None) -> np.ndarray:
        """Base-layout design ``(N, J, P)``: intercept dummies, kept covariates, control residual."""
        n, j = arrays.avail.shape
        parts = [np.broadcast_to(np.eye(j)[None, :, self._estimated_intercepts], (n, j, len(self._estimated_intercepts)))]
        parts.append(np.stack([arrays.covariate(c) for c in self.covariates_], axis=2))
        if self.control_function:
            parts.append((np.zeros((n, j)) if control is None else control)[:, :, None])
        return np.concatenate(parts, axis=2)

    # ------------------------------------------------------------------ fitting
    def fit(self, data: ChoiceLog | pd.DataFrame, instruments: pd.DataFrame | None = None,
            progress: Any = None) -> ChoiceModel:
        """Fit on a choice log.

        :param data: a :class:`~sim_data.logs.ChoiceLog` (or its table).
        :param instruments: with ``control_function``: a frame with ``time``, ``product`` and instrument columns,
            one row per (time, product) seen in the log.
        :param progress: optional callable ``progress(message)`` for long fits (latent classes).
        :return: ``self``.
        """
        arrays = choice_arrays(data)
        self.products_ = arrays.products
        has_np = arrays.has_no_purchase
        mode = self.outside if self.outside != "auto" else ("estimate" if has_np else "calibrate")
        if mode == "estimate" and not has_np:
            raise ValueError("outside='estimate' needs no-purchase occasions (all rows chosen = 0) in the log; "
                             "this log records purchases only: use outside='calibrate' with an outside_share")
        if mode in ("calibrate", "none") and has_np:
            raise ValueError(f"outside={mode!r} expects purchase occasions only, but the log has "
                             f"{int((arrays.y < 0).sum())} no-purchase occasions: use outside='estimate'")
        self.mode_ = mode
        if arrays.n < 2 * len(self.products_):
            raise ValueError(f"choice table: expected at least {2 * len(self.products_)} occasions, found {arrays.n}")
        self.covariates_, self.dropped_ = self._usable_covariates(arrays)
        control = None
        self.first_stage_ = None
        if self.control_function:
            if instruments is None:
                raise ValueError("control_function=True needs instruments: pass fit(log, instruments=frame with "
                                 "columns time, product, <instrument>...)")
            control, self.first_stage_, stage1 = self._first_stage(arrays, instruments)
        else:
            stage1 = None
        z = self._design(arrays, control)
        design = _mnl.MNLDesign(z=z, avail=arrays.avail, y=arrays.y, outside=mode == "estimate")
        weights = np.ones(arrays.n)
        theta, ll, converged = _mnl.maximise(design, weights, np.zeros(z.shape[2]))
        if self.n_classes == 1:
            self.params_ = theta
            self.loglik_ = ll
            self.converged_ = converged
            self.class_probs_ = np.ones(1)
            self.cov_ = self._covariance(design, theta, arrays, stage1)
            self.se_method_ = self._se_label()
        else:
            self._fit_classes(design, arrays, theta, progress)
        self.n_occasions_ = arrays.n
        self.n_shoppers_ = len(arrays.shoppers)
        self.n_periods_ = int(np.unique(arrays.time).size)
        self._store_summaries(arrays)
        self.shift_ = self._calibration_shift(self._full_params(), arrays) if mode == "calibrate" else 0.0
        self._fitted = True
        return self

    def _usable_covariates(self, arrays: ChoiceArrays) -> tuple[list[str], dict[str, str]]:
        kept, dropped = [], {}
        for name in COVARIATES:
            values = arrays.covariate(name)
            within = [values[arrays.avail[:, j], j] for j in range(len(self.products_))]
            varies = any(w.size > 1 and np.ptp(w) > 0 for w in within)
            if varies:
                kept.append(name)
            elif name == "price":
                raise ValueError("column 'price': expected prices that vary within a product across occasions; "
                                 "they do not, so the price coefficient is not identified")
            else:
                dropped[name] = "constant within every product (not recorded or never varies): not identified"
        return kept, dropped

    def _first_stage(self, arrays: ChoiceArrays, instruments: pd.DataFrame):
        """OLS of price on product dummies, product x instrument slopes and the other covariates, per offered cell.

        :return: ``(residual (N, J), summary dict, stage-1 pieces for the two-step sandwich)``.
        """
        if not isinstance(instruments, pd.DataFrame) or not {"time", "product"} <= set(instruments.columns):
            raise ValueError("instruments: expected a DataFrame with columns time, product and instrument column(s)")
        inst_cols = [c for c in instruments.columns if c not in ("time", "product")]
        if not inst_cols:
            raise ValueError("instruments: expected at least one instrument column besides time and product")
        inst = instruments.copy()
        inst["product"] = inst["product"].astype(str)
        inst["_t"] = inst["time"].to_numpy(dtype=np.int64) if not pd.api.types.is_datetime64_any_dtype(inst["time"]) \
            else inst["time"].astype("int64").to_numpy()
        if inst.duplicated(["_t", "product"]).any():
            raise ValueError("instruments: expected one row per (time, product), found duplicates")
        cells = np.argwhere(arrays.avail)                              # (M, 2) occasion, product
        cell_frame = pd.DataFrame({"_t": arrays.time[cells[:, 0]],
                                   "product": np.asarray(self.products_, dtype=object)[cells[:, 1]]})
        merged = cell_frame.merge(inst, on=["_t", "product"], how="left")
        missing = merged[inst_cols].isna().any(axis=1).to_numpy()
        if missing.any():
            first = merged.loc[missing, ["_t", "product"]].head(3).to_dict("records")
            raise ValueError(f"instruments: no instrument values for {int(missing.sum())} offered (time, product) "
                             f"cells, e.g. {first}")
        j = len(self.products_)
        dummies = np.eye(j)[cells[:, 1]]
        cols = [dummies]
        names = [f"const[{p}]" for p in self.products_]
        for c in inst_cols:
            cols.append(dummies * merged[c].to_numpy(dtype=np.float64)[:, None])
            names += [f"{c}[{p}]" for p in self.products_]
        for c in self.covariates_:
            if c != "price":
                cols.append(arrays.covariate(c)[cells[:, 0], cells[:, 1]][:, None])
                names.append(c)
        x = np.concatenate(cols, axis=1)
        price = arrays.covariate("price")[cells[:, 0], cells[:, 1]]
        gamma, *_ = np.linalg.lstsq(x, price, rcond=None)
        resid = price - x @ gamma
        control = np.zeros(arrays.avail.shape)
        control[cells[:, 0], cells[:, 1]] = resid
        rss, tss = float(resid @ resid), float(((price - price.mean()) ** 2).sum())
        # F test of the excluded instruments (homoskedastic): restricted model drops the instrument slopes
        keep = [i for i, n in enumerate(names) if not any(n.startswith(f"{c}[") for c in inst_cols)]
        g_r, *_ = np.linalg.lstsq(x[:, keep], price, rcond=None)
        rss_r = float(((price - x[:, keep] @ g_r) ** 2).sum())
        q = x.shape[1] - len(keep)
        dof = max(x.shape[0] - x.shape[1], 1)
        f_stat = ((rss_r - rss) / q) / (rss / dof) if rss > 0 else float("inf")
        summary = {"instruments": inst_cols, "coefficients": dict(zip(names, gamma.tolist(), strict=True)),
                   "r2": 1.0 - rss / tss if tss > 0 else 1.0, "first_stage_F": float(f_stat), "cells": int(len(price))}
        stage1 = {"x": x, "resid": resid, "cells": cells, "gamma": gamma}
        return control, summary, stage1

    def _se_label(self) -> str:
        if self.control_function and self.se in ("auto", "cluster"):
            return "two-step sandwich (stacked first and second stage), clustered by time"
        if self.se == "cluster":
            return "sandwich clustered by time"
        return "observed information matrix" + (" (ignores first-stage error)" if self.control_function else "")

    def _covariance(self, design: _mnl.MNLDesign, theta: np.ndarray, arrays: ChoiceArrays, stage1) -> np.ndarray:
        h = _mnl.hessian(theta, design, np.ones(design.n))
        h_inv = np.linalg.pinv(-h)
        use_two_step = self.control_function and self.se in ("auto", "cluster")
        if self.se in ("auto", "information") and not use_two_step:
            return h_inv
        scores = _mnl.occasion_scores(design, theta)
        clusters, cl = np.unique(arrays.time, return_inverse=True)
        g = clusters.size
        if g < 2:
            raise ValueError("se='cluster' needs at least two distinct time values to cluster on")
        u = np.zeros((g, theta.size))
        np.add.at(u, cl, scores)
        if use_two_step:
            x, resid, cells = stage1["x"], stage1["resid"], stage1["cells"]
            s1 = np.zeros((g, x.shape[1]))
            np.add.at(s1, cl[cells[:, 0]], x * resid[:, None])
            a11 = -(x.T @ x)
            a21 = self._cross_derivative(design, theta, arrays, stage1)
            u = u - s1 @ np.linalg.solve(a11, a21.T)
        meat = u.T @ u * g / (g - 1)
        return h_inv @ meat @ h_inv

    def _cross_derivative(self, design, theta, arrays, stage1) -> np.ndarray:
        """d(total score)/d(first-stage coefficients), shape ``(P, G1)``, by central differences."""
        x, cells, gamma = stage1["x"], stage1["cells"], stage1["gamma"]
        price = arrays.covariate("price")[cells[:, 0], cells[:, 1]]
        col = design.z.shape[2] - 1
        out = np.zeros((theta.size, gamma.size))
        for i in range(gamma.size):
            grads = []
            for sign in (1.0, -1.0):
                g2 = gamma.copy()
                g2[i] += sign * 1e-5 * max(1.0, abs(gamma[i]))
                z = design.z.copy()
                z[:, :, col] = 0.0
                z[cells[:, 0], cells[:, 1], col] = price - x @ g2
                d2 = _mnl.MNLDesign(z=z, avail=design.avail, y=design.y, outside=design.outside)
                grads.append(_mnl.loglik_grad(theta, d2, np.ones(design.n))[1])
            out[:, i] = (grads[0] - grads[1]) / (2e-5 * max(1.0, abs(gamma[i])))
        return out

    # ------------------------------------------------------------------ latent classes
    def _split(self, full: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Class parameter vectors (base layout) and class probabilities from the full parameter vector."""
        idx = self._class_index()
        n_phi = max(int(i.max()) for i in idx) + 1
        phi = full[:n_phi]
        if self.n_classes == 1:
            return [phi], np.ones(1)
        logits = np.concatenate([[0.0], full[n_phi:]])
        pi = np.exp(logits - logits.max())
        return [phi[i] for i in idx], pi / pi.sum()

    def _fit_classes(self, design: _mnl.MNLDesign, arrays: ChoiceArrays, theta1: np.ndarray, progress) -> None:
        idx = self._class_index()
        n_phi = max(int(i.max()) for i in idx) + 1
        c_count = self.n_classes
        n_a = len(self._estimated_intercepts)
        rng = np.random.default_rng(self.seed)
        shopper, n_s = arrays.shopper, len(arrays.shoppers)
        best = None
        for start in range(self.n_starts):
            phi = np.zeros(n_phi)
            for c in range(c_count):
                phi[c * n_a:(c + 1) * n_a] = theta1[:n_a] + rng.normal(0.0, 0.5, n_a)
                phi[c_count * n_a + c] = theta1[n_a] * rng.uniform(0.5, 1.5)
            phi[c_count * (n_a + 1):] = theta1[n_a + 1:]
            log_pi = np.full(c_count, -np.log(c_count))
            last = -np.inf
            for it in range(self.em_max_iter):
                ll_nc = np.stack([_mnl.occasion_loglik(design, phi[i]) for i in idx], axis=1)
                ll_ic = np.zeros((n_s, c_count))
                np.add.at(ll_ic, shopper, ll_nc)
                joint = ll_ic + log_pi[None, :]
                total = float(_logsumexp(joint, axis=1).sum())
                resp = np.exp(joint - _logsumexp(joint, axis=1)[:, None])
                if total - last < self.em_tol * max(1.0, abs(total)) and it > 0:
                    break
                last = total
                log_pi = np.log(np.maximum(resp.mean(axis=0), 1e-12))
                w_nc = resp[shopper]

                def objective(p: np.ndarray, w_nc=w_nc) -> tuple[float, np.ndarray]:
                    val, grad = 0.0, np.zeros_like(p)
                    for c, i in enumerate(idx):
                        ll, g = _mnl.loglik_grad(p[i], design, w_nc[:, c])
                        val += ll
                        np.add.at(grad, i, g)
                    return -val, -grad

                phi = optimize.minimize(objective, phi, jac=True, method="L-BFGS-B", options={"maxiter": 200}).x
            if progress is not None:
                progress(f"latent classes: start {start + 1}/{self.n_starts}, log-likelihood {last:.3f}")
            if best is None or last > best[0]:
                best = (last, phi.copy(), log_pi.copy(), it)
        ll, phi, log_pi, iters = best
        order = np.argsort(-log_pi)                       # label classes by decreasing share
        phi_sorted = phi.copy()
        for new, old in enumerate(order):
            phi_sorted[new * n_a:(new + 1) * n_a] = phi[old * n_a:(old + 1) * n_a]
            phi_sorted[c_count * n_a + new] = phi[c_count * n_a + old]
        log_pi = log_pi[order]
        full = np.concatenate([phi_sorted, (log_pi - log_pi[0])[1:]])
        self.params_ = full
        self.loglik_ = ll
        self.converged_ = iters < self.em_max_iter - 1
        self.class_probs_ = np.exp(log_pi) / np.exp(log_pi).sum()
        hess = self._numerical_hessian(lambda f: self._mixture_grad(f, design, arrays), full)
        self.cov_ = np.linalg.pinv(-hess)
        self.se_method_ = "observed information of the mixture likelihood (numerical Hessian of the analytic score)"

    def _mixture_grad(self, full: np.ndarray, design: _mnl.MNLDesign, arrays: ChoiceArrays) -> np.ndarray:
        thetas, pi = self._split(full)
        idx = self._class_index()
        n_phi = full.size - (self.n_classes - 1)
        shopper, n_s = arrays.shopper, len(arrays.shoppers)
        ll_nc = np.stack([_mnl.occasion_loglik(design, t) for t in thetas], axis=1)
        ll_ic = np.zeros((n_s, self.n_classes))
        np.add.at(ll_ic, shopper, ll_nc)
        joint = ll_ic + np.log(pi)[None, :]
        resp = np.exp(joint - _logsumexp(joint, axis=1)[:, None])
        grad = np.zeros(full.size)
        for c, i in enumerate(idx):
            g = resp[shopper, c] @ _mnl.occasion_scores(design, thetas[c])
            np.add.at(grad, i, g)
        grad[n_phi:] = (resp - pi[None, :]).sum(axis=0)[1:]
        return grad

    @staticmethod
    def _numerical_hessian(grad_fn, x: np.ndarray) -> np.ndarray:
        h = np.zeros((x.size, x.size))
        for i in range(x.size):
            step = 1e-5 * max(1.0, abs(x[i]))
            e = np.zeros(x.size)
            e[i] = step
            h[:, i] = (grad_fn(x + e) - grad_fn(x - e)) / (2 * step)
        return 0.5 * (h + h.T)

    # ------------------------------------------------------------------ derived quantities
    def _full_params(self) -> np.ndarray:
        return self.params_

    def _inside_utilities(self, full: np.ndarray, arrays: ChoiceArrays, shift: float | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """Per class, inside utilities ``(N, J)`` with the control term at 0 and the calibration shift added."""
        thetas, pi = self._split(full)
        z = self._design(arrays, None)
        if shift is None:
            shift = self.shift_ if self.mode_ == "calibrate" else 0.0
        return [z @ t + shift for t in thetas], pi

    def _calibration_shift(self, full: np.ndarray, arrays: ChoiceArrays) -> float:
        """The common intercept shift ``c`` that makes the mean no-purchase probability equal ``outside_share``."""
        utils, pi = self._inside_utilities(full, arrays, shift=0.0)

        def gap(c: float) -> float:
            p0 = sum(w * (1.0 - _mnl.probabilities_from_utilities(u + c, arrays.avail, True).sum(axis=1))
                     for w, u in zip(pi, utils, strict=True))
            return float(np.mean(p0)) - self.outside_share

        lo, hi = -50.0, 50.0
        return float(optimize.brentq(gap, lo, hi, xtol=1e-12))

    def _probs(self, full: np.ndarray, arrays: ChoiceArrays, outside: bool, shift: float | None = None) -> np.ndarray:
        """Mixture choice probabilities ``(N, J)`` (prior class shares)."""
        utils, pi = self._inside_utilities(full, arrays, shift)
        return sum(w * _mnl.probabilities_from_utilities(u, arrays.avail, outside) for w, u in zip(pi, utils, strict=True))

    def _elasticity_matrix(self, full: np.ndarray, arrays: ChoiceArrays) -> np.ndarray:
        """Aggregate elasticities ``E[j, k] = sum_n dP[n,j]/dp[n,k] * p[n,k] / sum_n P[n,j]``, shape ``(J, J)``."""
        outside = self.mode_ != "none"
        shift = self._calibration_shift(full, arrays) if self.mode_ == "calibrate" else 0.0
        utils, pi = self._inside_utilities(full, arrays, shift)
        thetas, _ = self._split(full)
        k_price = len(self._estimated_intercepts) + self.covariates_.index("price")
        price = arrays.covariate("price")
        j = len(self.products_)
        num = np.zeros((j, j))
        total = np.zeros(j)
        for w, u, t in zip(pi, utils, thetas, strict=True):
            p = _mnl.probabilities_from_utilities(u, arrays.avail, outside)
            beta = t[k_price]
            # dP_j/dp_k * p_k = beta * P_j * (1[j=k] - P_k) * p_k
            num += w * beta * (np.diag((p * price).sum(axis=0)) - np.einsum("nj,nk->jk", p, p * price))
            total += w * p.sum(axis=0)
        return num / total[:, None]

    def _point_arrays(self, prices, display=0.0, feature=0.0) -> ChoiceArrays:
        j = len(self.products_)
        p = np.asarray(prices, dtype=np.float64)
        if p.shape != (j,):
            raise ValueError(f"prices: expected shape ({j},), one per product {self.products_}, found {p.shape}")
        x = np.stack([p, np.broadcast_to(np.asarray(display, float), (j,)),
                      np.broadcast_to(np.asarray(feature, float), (j,))], axis=1)[None]
        return ChoiceArrays(self.products_, np.zeros(1, np.int64), np.zeros(1, np.int64), ["point"],
                            np.zeros(1, np.int64), np.ones((1, j), bool), x, np.zeros(1, np.int64))

    def elasticities(self, prices=None, display=0.0, feature=0.0, data: ChoiceLog | None = None) -> dict:
        """Own- and cross-price elasticities with delta-method 95% intervals.

        With ``prices`` (shape ``(J,)``): at that one price vector (``display``/``feature`` scalars or ``(J,)``).
        Otherwise: aggregate elasticities over the fitted occasions (or ``data``'s), i.e. the elasticity of total
        expected demand for ``j`` to a 1% change of every price of ``k``. The control term is set to 0 (the
        structural demand at the mean demand shock).

        :return: ``{"products", "estimate", "se", "lower", "upper"}``, matrices ``(J, J)`` as nested lists, row
            ``j`` = demand of ``j``, column ``k`` = price of ``k``.
        """
        self._require_fitted()
        if prices is not None:
            arrays = self._point_arrays(prices, display, feature)
        else:
            arrays = self._training_arrays if data is None else choice_arrays(data, self.products_)
        full = self._full_params()
        est = self._elasticity_matrix(full, arrays)
        jac = np.zeros((est.size, full.size))
        for i in range(full.size):
            step = 1e-5 * max(1.0, abs(full[i]))
            e = np.zeros(full.size)
            e[i] = step
            jac[:, i] = (self._elasticity_matrix(full + e, arrays) - self._elasticity_matrix(full - e, arrays)).ravel() / (2 * step)
        se = np.sqrt(np.maximum(np.einsum("ip,pq,iq->i", jac, self.cov_, jac), 0.0)).reshape(est.shape)
        return {"products": list(self.products_), "estimate": est, "se": se, "lower": est - Z95 * se,
                "upper": est + Z95 * se}

    def _store_summaries(self, arrays: ChoiceArrays) -> None:
        self._training_arrays = arrays
        j = len(self.products_)
        counts = np.bincount(arrays.y[arrays.y >= 0], minlength=j).astype(float)
        self.train_shares_ = counts / max(counts.sum(), 1.0)
        self.train_no_purchase_share_ = float((arrays.y < 0).mean())
        price = arrays.covariate("price")
        self.price_stats_ = {}
        for k, name in enumerate(self.products_):
            vals = price[arrays.avail[:, k], k]
            lo, hi = (float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))) if vals.size else (0.0, 1.0)
            if hi <= lo:
                lo, hi = 0.9 * lo, 1.1 * max(hi, 1e-6)
            self.price_stats_[name] = {"mean": float(vals.mean()) if vals.size else 0.0, "low": lo, "high": hi,
                                       "display_rate": float(arrays.covariate("display")[arrays.avail[:, k], k].mean()),
                                       "feature_rate": float(arrays.covariate("feature")[arrays.avail[:, k], k].mean())}
        self.occasions_per_period_ = arrays.n / max(int(np.unique(arrays.time).size), 1)

    # ------------------------------------------------------------------ outputs
    @property
    def coefficients(self) -> pd.DataFrame:
        """One row per parameter: ``estimate, se, lower, upper, z`` (95% Wald intervals)."""
        self._require_fitted()
        se = np.sqrt(np.maximum(np.diag(self.cov_), 0.0))
        est = self._full_params()
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, est / se, np.nan)
        return pd.DataFrame({"estimate": est, "se": se, "lower": est - Z95 * se, "upper": est + Z95 * se, "z": z},
                            index=pd.Index(self._param_names(), name="parameter"))

    def coefficient(self, name: str) -> dict:
        """One coefficient as ``{"estimate", "se", "lower", "upper"}``; raises ``KeyError`` naming the known ones."""
        table = self.coefficients
        if name not in table.index:
            raise KeyError(f"no coefficient {name!r}; the model has {list(table.index)}")
        return {k: float(v) for k, v in table.loc[name, ["estimate", "se", "lower", "upper"]].items()}

    def market_size_per_period(self) -> float:
        """Shopping trips per period: fitted occasions per period, divided by ``1 - outside_share`` when calibrated."""
        self._require_fitted()
        rate = self.occasions_per_period_
        return rate / (1.0 - self.outside_share) if self.mode_ == "calibrate" else rate

    def predict_proba(self, data: ChoiceLog | pd.DataFrame, outside: bool | None = None) -> np.ndarray:
        """Choice probabilities per occasion (ordered by time, occasion id), shape ``(N, J)`` over ``products_``.

        :param outside: include the no-purchase option (default: when the model has one).
        """
        self._require_fitted()
        arrays = choice_arrays(data, self.products_)
        use_outside = self.mode_ != "none" if outside is None else bool(outside)
        return self._probs(self._full_params(), arrays, use_outside, shift=None if use_outside else 0.0)

    def evaluate(self, data: ChoiceLog | pd.DataFrame) -> dict:
        """Log-likelihood on ``data`` against the brand-share baseline (training shares over the offered products).

        With an estimated outside option the no-purchase occasions count and the baseline includes the training
        no-purchase share; otherwise both are conditional on a purchase.
        """
        self._require_fitted()
        arrays = choice_arrays(data, self.products_)
        full_outside = self.mode_ == "estimate"
        if not full_outside:
            arrays = arrays.subset(arrays.y >= 0)
        if arrays.n == 0:
            raise ValueError("evaluate: the data has no occasions to score")
        p = self._probs(self._full_params(), arrays, full_outside, shift=0.0 if not full_outside else None)
        rows = np.arange(arrays.n)
        inside = arrays.y >= 0
        p_chosen = np.where(inside, p[rows, np.maximum(arrays.y, 0)], 1.0 - p.sum(axis=1))
        if full_outside:
            s = self.train_shares_ * (1.0 - self.train_no_purchase_share_)
            base = arrays.avail * s[None, :]
            denom = base.sum(axis=1) + self.train_no_purchase_share_
        else:
            base = arrays.avail * self.train_shares_[None, :]
            denom = base.sum(axis=1)
        base = base / denom[:, None]
        b_chosen = np.where(inside, base[rows, np.maximum(arrays.y, 0)], 1.0 - base.sum(axis=1))
        ll = float(np.log(np.maximum(p_chosen, 1e-300)).sum())
        ll_b = float(np.log(np.maximum(b_chosen, 1e-300)).sum())
        pred = np.where(full_outside & (1.0 - p.sum(axis=1) > p.max(axis=1)), -1, p.argmax(axis=1))
        pred_b = np.where(full_outside & (1.0 - base.sum(axis=1) > base.max(axis=1)), -1, base.argmax(axis=1))
        return {"occasions": int(arrays.n), "loglik": ll, "loglik_per_occasion": ll / arrays.n,
                "baseline_loglik": ll_b, "baseline_loglik_per_occasion": ll_b / arrays.n,
                "beats_baseline": bool(ll > ll_b), "pseudo_r2_vs_baseline": 1.0 - ll / ll_b if ll_b != 0 else 0.0,
                "hit_rate": float((pred == arrays.y).mean()), "baseline_hit_rate": float((pred_b == arrays.y).mean()),
                "conditional_on_purchase": not full_outside}

    def report(self) -> dict:
        self._require_fitted()
        coefs = self.coefficients
        el = self.elasticities()
        k = len(self._full_params())
        return {
            "model": "multinomial logit" + (f" with {self.n_classes} latent classes" if self.n_classes > 1 else ""),
            "products": list(self.products_),
            "outside_option": {"mode": self.mode_, "outside_share": self.outside_share if self.mode_ == "calibrate"
                               else (self.train_no_purchase_share_ if self.mode_ == "estimate" else None),
                               "calibration_shift": self.shift_,
                               "market_size_per_period": self.market_size_per_period() if self.mode_ != "none" else None},
            "occasions": self.n_occasions_, "shoppers": self.n_shoppers_, "periods": self.n_periods_,
            "loglik": self.loglik_, "aic": -2 * self.loglik_ + 2 * k,
            "bic": -2 * self.loglik_ + k * np.log(self.n_occasions_),
            "converged": self.converged_, "standard_errors": self.se_method_,
            "coefficients": {name: {c: float(row[c]) for c in ("estimate", "se", "lower", "upper")}
                             for name, row in coefs.iterrows()},
            "dropped_covariates": self.dropped_, "class_probs": self.class_probs_.tolist(),
            "first_stage": self.first_stage_,
            "elasticities": {key: np.asarray(el[key]).tolist() for key in ("estimate", "se", "lower", "upper")},
            "own_price_elasticities": {p: float(el["estimate"][i, i]) for i, p in enumerate(self.products_)},
        }

    def to_params(self, arrival_rate: float | None = None, unit_cost=None, unit_cost_share: float = 0.5):
        """The fitted demand as :class:`envs.params.DemandParams` for the pricing and inventory environments.

        :param arrival_rate: shoppers per period (default :meth:`market_size_per_period`).
        :param unit_cost: scalar or ``(J,)`` unit costs; default ``unit_cost_share`` x the mean observed price.
        :param unit_cost_share: see ``unit_cost``.
        """
        from envs.params import DemandParams

        self._require_fitted()
        if self.mode_ == "none":
            raise ValueError("a model fit with outside='none' has no no-purchase option; the environments need one: "
                             "refit with outside='calibrate' (and an outside_share) or 'estimate'")
        thetas, pi = self._split(self._full_params())
        j = len(self.products_)
        n_a = len(self._estimated_intercepts)
        intercepts = np.zeros((self.n_classes, j))
        for c, t in enumerate(thetas):
            intercepts[c, self._estimated_intercepts] = t[:n_a]
        intercepts += self.shift_
        cov = {name: np.array([t[n_a + self.covariates_.index(name)] for t in thetas])
               if name in self.covariates_ else np.zeros(len(thetas)) for name in COVARIATES}
        if np.any(cov["price"] >= 0):
            raise ValueError(f"the fitted price coefficient(s) {cov['price'].tolist()} are not negative; the "
                             "environments need downward-sloping demand")
        stats_ = [self.price_stats_[p] for p in self.products_]
        if unit_cost is None:
            unit_cost = [unit_cost_share * s["mean"] for s in stats_]
        return DemandParams(
            product_names=list(self.products_), intercepts=intercepts, beta_price=cov["price"],
            unit_cost=unit_cost, price_low=[s["low"] for s in stats_], price_high=[s["high"] for s in stats_],
            arrival_rate=float(self.market_size_per_period() if arrival_rate is None else arrival_rate),
            outside_utility=0.0, display_coef=float(cov["display"][0]), feature_coef=float(cov["feature"][0]),
            display=[s["display_rate"] for s in stats_], feature=[s["feature_rate"] for s in stats_],
            class_probs=pi if self.n_classes > 1 else None,
        )

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict:
        a = self._training_arrays
        return {"products": self.products_, "mode": self.mode_, "covariates": self.covariates_, "dropped": self.dropped_,
                "params": self.params_, "cov": self.cov_, "loglik": self.loglik_, "converged": self.converged_,
                "class_probs": self.class_probs_, "se_method": self.se_method_, "first_stage": self.first_stage_,
                "n_occasions": self.n_occasions_, "n_shoppers": self.n_shoppers_, "n_periods": self.n_periods_,
                "shift": self.shift_, "train_shares": self.train_shares_,
                "train_no_purchase_share": self.train_no_purchase_share_, "price_stats": self.price_stats_,
                "occasions_per_period": self.occasions_per_period_,
                "training_arrays": {"occasion_id": a.occasion_id, "shopper": a.shopper, "n_shoppers": len(a.shoppers),
                                    "time": a.time, "avail": a.avail.astype(int), "x": a.x, "y": a.y}}

    def _restore(self, s: dict) -> None:
        self.products_ = list(s["products"])
        self.mode_ = s["mode"]
        self.covariates_ = list(s["covariates"])
        self.dropped_ = dict(s["dropped"])
        self.params_ = np.asarray(s["params"], float)
        self.cov_ = np.asarray(s["cov"], float)
        self.loglik_ = float(s["loglik"])
        self.converged_ = bool(s["converged"])
        self.class_probs_ = np.asarray(s["class_probs"], float)
        self.se_method_ = s["se_method"]
        self.first_stage_ = s["first_stage"]
        self.n_occasions_, self.n_shoppers_, self.n_periods_ = s["n_occasions"], s["n_shoppers"], s["n_periods"]
        self.shift_ = float(s["shift"])
        self.train_shares_ = np.asarray(s["train_shares"], float)
        self.train_no_purchase_share_ = float(s["train_no_purchase_share"])
        self.price_stats_ = s["price_stats"]
        self.occasions_per_period_ = float(s["occasions_per_period"])
        t = s["training_arrays"]
        self._training_arrays = ChoiceArrays(
            self.products_, np.asarray(t["occasion_id"], np.int64), np.asarray(t["shopper"], np.int64),
            [str(i) for i in range(t["n_shoppers"])], np.asarray(t["time"], np.int64),
            np.asarray(t["avail"], bool), np.asarray(t["x"], float).reshape(len(t["y"]), len(self.products_), -1),
            np.asarray(t["y"], np.int64))
