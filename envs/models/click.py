"""Clicks on ad slots: a position-based model fit on bandit feedback with inverse-propensity weights.

``P(click | context x, item a, slot k) = kappa[k] * relevance(x, a)``, ``relevance(x, a) = sigmoid(b0 + w @ f(x, a))``
with ``kappa[0] = 1`` (identifiability: relevance is the click probability in the first slot) and
``kappa[k] = exp(log_kappa[k])`` free for ``k >= 1``. ``f(x, a)`` are the sparse features of
:mod:`envs.models.click_features` (item one-hot, context one-hots and numerics, the shown item's user-item
affinity, item x context interactions), penalised by ``l2 / 2 * |w|^2``; ``b0`` and ``log_kappa`` are not
penalised. ``l2`` is chosen by ``cv_folds``-fold cross-validated (weighted) log-loss over ``l2_grid``.

**Propensity-aware.** With ``weighting="ipw"`` row ``i`` has weight ``(1 / n_actions) / propensity_i``
(normalised to mean 1, clipped at ``max_weight``, default 10): the weighted likelihood is the likelihood the
model would have under a uniform logger, so a logging policy that favours some (context, item) pairs does
not tilt a misspecified relevance toward them. ``weighting="none"`` is the plain likelihood.

Standard errors: the IPW sandwich ``J^-1 (sum_i w_i^2 g_i g_i') J^-1`` with ``J`` the weighted Fisher
information of the penalised likelihood (reported for ``b0`` and the position effects).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats

from envs.models import click_features as cf
from envs.models.base import BehaviourModel
from sim_data.logs import BanditLog

Z95 = float(stats.norm.ppf(0.975))
P_MAX = 1.0 - 1e-9
KMEANS_SAMPLE = 4000


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class _Problem:
    """Weighted, penalised Bernoulli likelihood of the position-based model on a fixed design."""

    def __init__(self, x: sparse.csr_matrix, positions: np.ndarray, y: np.ndarray, w: np.ndarray, n_positions: int,
                 l2: float):
        self.x, self.k, self.y, self.w, self.n_pos, self.l2 = x, positions, y, w, n_positions, l2
        self.n_feat = x.shape[1]

    def unpack(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        b0 = theta[0]
        log_kappa = np.concatenate([[0.0], theta[1:self.n_pos]])
        return b0, log_kappa, theta[self.n_pos:]

    def parts(self, theta: np.ndarray):
        b0, log_kappa, w = self.unpack(theta)
        r = b0 + self.x @ w
        s = _sigmoid(r)
        kappa = np.exp(log_kappa)[self.k]
        p = np.minimum(kappa * s, P_MAX)
        return r, s, kappa, p

    def row_grads(self, theta: np.ndarray):
        """Per-row d(-loglik)/dr and d(-loglik)/dlog_kappa[k_i]."""
        _, s, kappa, p = self.parts(theta)
        y = self.y
        d_r = -(y * (1.0 - s) - (1.0 - y) * kappa * s * (1.0 - s) / (1.0 - p))
        d_lk = -(y - (1.0 - y) * p / (1.0 - p))
        return d_r, d_lk, s, kappa, p

    def objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        d_r, d_lk, _, _, p = self.row_grads(theta)
        y, w = self.y, self.w
        nll = -np.sum(w * (y * np.log(np.maximum(p, 1e-300)) + (1.0 - y) * np.log1p(-p)))
        _, _, beta = self.unpack(theta)
        grad = np.empty_like(theta)
        wd = w * d_r
        grad[0] = wd.sum()
        grad[1:self.n_pos] = np.bincount(self.k, weights=w * d_lk, minlength=self.n_pos)[1:]
        grad[self.n_pos:] = self.x.T @ wd + self.l2 * beta
        return float(nll + 0.5 * self.l2 * beta @ beta), grad

    def fit(self, theta0: np.ndarray, max_iter: int = 1000) -> tuple[np.ndarray, bool]:
        res = optimize.minimize(self.objective, theta0, jac=True, method="L-BFGS-B",
                                options={"maxiter": max_iter, "gtol": 1e-7})
        return res.x, bool(res.success)

    def gradient_rows(self, theta: np.ndarray) -> sparse.csr_matrix:
        """Per-row gradient of the unweighted negative log-likelihood, shape ``(n, P)`` (sparse)."""
        d_r, d_lk, *_ = self.row_grads(theta)
        return self._rows(d_r, d_lk)

    def _rows(self, a_r: np.ndarray, a_lk: np.ndarray) -> sparse.csr_matrix:
        n = self.y.size
        pos = np.zeros((n, self.n_pos - 1))
        mask = self.k > 0
        pos[np.flatnonzero(mask), self.k[mask] - 1] = a_lk[mask]
        return sparse.hstack([sparse.csr_matrix(a_r[:, None]), sparse.csr_matrix(pos),
                              self.x.multiply(a_r[:, None])], format="csr")

    def fisher(self, theta: np.ndarray) -> np.ndarray:
        """Weighted Fisher information of the penalised likelihood, shape ``(P, P)``."""
        _, s, kappa, p = self.parts(theta)
        dp = self._rows(kappa * s * (1.0 - s), p)
        scale = self.w / np.maximum(p * (1.0 - p), 1e-300)
        info = (dp.T @ dp.multiply(scale[:, None])).toarray()
        info[self.n_pos:, self.n_pos:] += self.l2 * np.eye(self.n_feat)
        return info


class ClickModel(BehaviourModel):
    """Position-based click model with IPW fitting (see the module docstring).

    :param weighting: ``"ipw"`` (needs propensities) or ``"none"``.
    :param interactions: add item x context interaction features.
    :param l2: the penalty, or ``None`` to choose it by cross-validation over ``l2_grid``.
    :param l2_grid: candidate penalties.
    :param cv_folds: folds for choosing ``l2``.
    :param max_weight: clip IPW weights (after normalising to mean 1) at this value, then renormalise; ``None``: no
        clipping. Clipping trades a little bias for much less variance when a logger is nearly deterministic.
    :param n_segments: context segments exported to :class:`envs.params.ClickParams` (numeric contexts are
        clustered with k-means; string contexts are their observed combinations, the rarest merged into one).
    :param n_day_parts: equal parts of the day with their own context distribution in the exported params.
    :param seed: seed of the folds and the k-means.
    """

    kind = "click"

    def __init__(self, weighting: str = "ipw", interactions: bool = True, l2: float | None = None,
                 l2_grid: tuple[float, ...] | list[float] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0), cv_folds: int = 3,
                 max_weight: float | None = 10.0, n_segments: int = 64, n_day_parts: int = 4, seed: int = 0):
        if weighting not in ("ipw", "none"):
            raise ValueError(f"weighting: expected 'ipw' or 'none', found {weighting!r}")
        if l2 is not None and not float(l2) >= 0:
            raise ValueError(f"l2: expected a number >= 0 or None, found {l2!r}")
        grid = [float(v) for v in l2_grid]
        if not grid or any(not v >= 0 for v in grid):
            raise ValueError(f"l2_grid: expected non-negative numbers, found {l2_grid!r}")
        if int(cv_folds) < 2:
            raise ValueError(f"cv_folds: expected an integer >= 2, found {cv_folds!r}")
        if max_weight is not None and not float(max_weight) > 0:
            raise ValueError(f"max_weight: expected a positive number or None, found {max_weight!r}")
        if int(n_segments) < 1 or int(n_day_parts) < 1:
            raise ValueError(f"n_segments, n_day_parts: expected integers >= 1, found {n_segments!r}, {n_day_parts!r}")
        self.weighting = weighting
        self.interactions = bool(interactions)
        self.l2 = None if l2 is None else float(l2)
        self.l2_grid = grid
        self.cv_folds = int(cv_folds)
        self.max_weight = None if max_weight is None else float(max_weight)
        self.n_segments = int(n_segments)
        self.n_day_parts = int(n_day_parts)
        self.seed = int(seed)

    def config(self) -> dict:
        return {"weighting": self.weighting, "interactions": self.interactions, "l2": self.l2, "l2_grid": self.l2_grid,
                "cv_folds": self.cv_folds, "max_weight": self.max_weight, "n_segments": self.n_segments,
                "n_day_parts": self.n_day_parts, "seed": self.seed}

    # ------------------------------------------------------------------ fitting
    def _weights(self, log: BanditLog) -> np.ndarray:
        if self.weighting == "none":
            return np.ones(len(log))
        if not log.propensity_known:
            raise ValueError("weighting='ipw' needs the logging propensities, but column 'propensity' is unknown (NaN) "
                             "in this log: pass weighting='none' (unbiased only if the model is well specified)")
        w = (1.0 / log.n_actions) / log.propensities
        w = w / w.mean()
        if self.max_weight is not None:
            w = np.minimum(w, self.max_weight)
            w = w / w.mean()
        return w

    def _problem(self, log: BanditLog, rows: np.ndarray, l2: float) -> _Problem:
        return _Problem(self._x[rows], log.positions[rows], log.rewards[rows], self._w[rows], log.n_positions, l2)

    def fit(self, log: BanditLog, progress: Any = None) -> ClickModel:
        """Fit on bandit feedback whose reward is a click (0/1).

        :param log: a :class:`~sim_data.logs.BanditLog`.
        :param progress: optional callable ``progress(message)``.
        :return: ``self``.
        """
        if not isinstance(log, BanditLog):
            raise TypeError(f"log: expected a BanditLog, found {type(log).__name__}")
        r = log.rewards
        if not np.isin(r, (0.0, 1.0)).all():
            raise ValueError("column 'reward': the click model expects clicks (0.0 or 1.0), found other values")
        if r.sum() == 0:
            raise ValueError("column 'reward': no clicks in the log, so relevance cannot be fitted")
        if log.n_positions < 1:
            raise ValueError("n_positions: expected at least one slot")
        table = log.table
        self.n_actions_, self.n_positions_ = int(log.n_actions), int(log.n_positions)
        self.spec_ = cf.learn_spec(table, log.n_actions, self.interactions, action_context=log.action_context)
        ctx = cf.context_matrix(self.spec_, table)
        aff = cf.affinity_matrix(self.spec_, table)
        self._x = cf.design(self.spec_, ctx, aff, log.actions)
        self._w = self._weights(log)
        n = len(log)
        p_pos = self.n_positions_
        ctr = float(np.average(r, weights=self._w))
        theta0 = np.zeros(p_pos + self._x.shape[1])
        theta0[0] = np.log(ctr / (1 - ctr))
        if self.l2 is None:
            rng = np.random.default_rng(self.seed)
            folds = rng.permutation(n) % self.cv_folds
            scores = []
            for lam in self.l2_grid:
                loss = 0.0
                for f in range(self.cv_folds):
                    train, test = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
                    th, _ = self._problem(log, train, lam).fit(theta0)
                    loss += self._problem(log, test, 0.0).objective(th)[0]
                scores.append(loss / self._w.sum())
                if progress is not None:
                    progress(f"click model: l2={lam:g}, cross-validated log-loss {scores[-1]:.5f}")
            self.cv_scores_ = dict(zip(map(str, self.l2_grid), scores, strict=True))
            self.l2_ = float(self.l2_grid[int(np.argmin(scores))])
        else:
            self.cv_scores_ = {}
            self.l2_ = self.l2
        prob = self._problem(log, np.arange(n), self.l2_)
        self.theta_, self.converged_ = prob.fit(theta0)
        g = prob.gradient_rows(self.theta_)
        meat = (g.T @ g.multiply((self._w ** 2)[:, None])).toarray()
        j_inv = np.linalg.pinv(prob.fisher(self.theta_))
        self.cov_ = (j_inv @ meat @ j_inv)[:p_pos, :p_pos]          # intercept and log position effects
        self.train_ctr_ = ctr
        self.n_rows_ = n
        self.n_clicks_ = int(r.sum())
        self.logging_policy_ = log.logging_policy
        self._fitted = True
        self._export_segments(log, ctx, aff)
        del self._x, self._w
        return self

    # ------------------------------------------------------------------ predictions
    @property
    def position_bias(self) -> np.ndarray:
        """``kappa``, shape ``(n_positions,)``, ``kappa[0] = 1``."""
        self._require_fitted()
        return np.exp(np.concatenate([[0.0], self.theta_[1:self.n_positions_]]))

    def position_bias_ci(self) -> tuple[np.ndarray, np.ndarray]:
        """95% intervals of ``kappa`` (delta method on ``log kappa``), each shape ``(n_positions,)``."""
        self._require_fitted()
        se = np.sqrt(np.maximum(np.diag(self.cov_)[1:self.n_positions_], 0.0))
        lk = self.theta_[1:self.n_positions_]
        lo = np.exp(np.concatenate([[0.0], lk - Z95 * se]))
        hi = np.exp(np.concatenate([[0.0], lk + Z95 * se]))
        return lo, hi

    def _check_log(self, log: BanditLog) -> None:
        if not isinstance(log, BanditLog):
            raise TypeError(f"log: expected a BanditLog, found {type(log).__name__}")
        if log.n_actions != self.n_actions_ or log.n_positions != self.n_positions_:
            raise ValueError(f"log has {log.n_actions} actions and {log.n_positions} positions; the model was fitted "
                             f"on {self.n_actions_} and {self.n_positions_}")

    def relevance_matrix(self, log: BanditLog) -> np.ndarray:
        """``relevance(x_i, a)`` for every row's context and every item, shape ``(n_rows, n_actions)``."""
        self._require_fitted()
        self._check_log(log)
        ctx = cf.context_matrix(self.spec_, log.table)
        aff = cf.affinity_matrix(self.spec_, log.table)
        return self._relevance_all(ctx, aff)

    def _relevance_all(self, ctx, aff) -> np.ndarray:
        n, a = ctx.shape[0], self.n_actions_
        rows = np.repeat(np.arange(n), a)
        x = cf.design(self.spec_, ctx, aff, np.tile(np.arange(a), n), rows)
        r = self.theta_[0] + x @ self.theta_[self.n_positions_:]
        return _sigmoid(r).reshape(n, a)

    def predict(self, log: BanditLog) -> np.ndarray:
        """Click probability of each logged (context, item, slot), shape ``(n_rows,)``."""
        self._require_fitted()
        self._check_log(log)
        ctx = cf.context_matrix(self.spec_, log.table)
        aff = cf.affinity_matrix(self.spec_, log.table)
        x = cf.design(self.spec_, ctx, aff, log.actions)
        s = _sigmoid(self.theta_[0] + x @ self.theta_[self.n_positions_:])
        return np.minimum(self.position_bias[log.positions] * s, P_MAX)

    def evaluate(self, log: BanditLog) -> dict:
        """Log-loss on ``log``'s impressions against the constant-CTR model fit on the training log, and the
        simulated CTR of replaying the log's (context, item, slot) against its observed CTR."""
        p = self.predict(log)
        y = log.rewards
        c = np.clip(self.train_ctr_, 1e-9, P_MAX)

        def logloss(q):
            q = np.clip(q, 1e-12, P_MAX)
            return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))

        return {"rows": int(len(y)), "clicks": int(y.sum()), "observed_ctr": float(y.mean()),
                "simulated_ctr": float(p.mean()), "logloss": logloss(p), "constant_logloss": logloss(np.full_like(p, c)),
                "constant_ctr": float(c), "beats_constant": bool(logloss(p) < logloss(np.full_like(p, c)))}

    # ------------------------------------------------------------------ export
    def _segment_codes(self, log: BanditLog) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Segment per row, shape ``(n,)``; features per segment ``(S, F)``; segment labels."""
        table = log.table
        cats = list(self.spec_.categorical)
        if cats and not self.spec_.numeric:
            key = table[cats].astype(str).agg("|".join, axis=1)
            counts = key.value_counts()
            keep = counts.index[: self.n_segments - 1 if counts.size > self.n_segments else counts.size].tolist()
            labels = keep + (["<other>"] if counts.size > len(keep) else [])
            codes = pd.Categorical(key.where(key.isin(keep), "<other>"), categories=labels).codes.astype(np.int64)
            onehot = cf.context_matrix(cf.ContextSpec(self.n_actions_, self.spec_.categorical, {}, None, False), table)
            feats = np.zeros((len(labels), onehot.shape[1]))
            np.add.at(feats, codes, onehot.toarray())
            feats /= np.maximum(np.bincount(codes, minlength=len(labels)), 1)[:, None]
            return codes, feats, labels
        if self.spec_.numeric or cats:
            from sklearn.cluster import KMeans

            x = cf.context_matrix(self.spec_, table).toarray()
            rng = np.random.default_rng(self.seed)
            sample = x[rng.permutation(len(x))[:KMEANS_SAMPLE]]
            k = min(self.n_segments, len(np.unique(sample, axis=0)))
            km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=self.seed).fit(sample)
            return km.predict(x).astype(np.int64), km.cluster_centers_, [f"cluster{i}" for i in range(k)]
        return np.zeros(len(table), np.int64), np.ones((1, 1)), ["all"]

    def _export_segments(self, log: BanditLog, ctx, aff) -> None:
        codes, feats, labels = self._segment_codes(log)
        s = len(labels)
        rel_rows = self._relevance_all(ctx, aff)
        rel = np.zeros((s, self.n_actions_))
        np.add.at(rel, codes, rel_rows)
        counts = np.bincount(codes, minlength=s).astype(float)
        rel /= np.maximum(counts, 1.0)[:, None]
        ts = log.table["timestamp"]
        seconds = (ts.dt.hour * 3600 + ts.dt.minute * 60 + ts.dt.second).to_numpy()
        part = np.minimum(seconds * self.n_day_parts // 86400, self.n_day_parts - 1).astype(np.int64)
        probs = np.zeros((self.n_day_parts, s))
        np.add.at(probs, (part, codes), 1.0)
        empty = probs.sum(axis=1) == 0
        probs[empty] = counts / counts.sum()
        self.segments_ = {"labels": labels, "relevance": rel, "features": feats,
                          "context_probs": probs / probs.sum(axis=1, keepdims=True)}

    def to_params(self, cost_per_click=1.0, cost_per_impression=0.0, conversion_prob=0.0, purchase_value=0.0):
        """The fitted clicks as :class:`envs.params.ClickParams` (context segments, see ``n_segments``).

        ``relevance[c, a]`` is the mean fitted relevance over the training rows of segment ``c``;
        ``context_probs[d, c]`` the share of segment ``c`` among the training rows in day part ``d``.

        Other arguments are passed through to :class:`~envs.params.ClickParams`.
        """
        from envs.params import ClickParams

        self._require_fitted()
        seg = self.segments_
        # ClickParams wants kappa in [0, 1]; when a later slot's kappa exceeds slot 0's (possible on sparse data),
        # divide kappa by its maximum and multiply relevance by it: the click probabilities are unchanged
        scale = float(self.position_bias.max())
        return ClickParams(relevance=np.clip(seg["relevance"] * scale, 0.0, 1.0), position_bias=self.position_bias / scale,
                           context_probs=seg["context_probs"], context_features=seg["features"],
                           cost_per_click=cost_per_click, cost_per_impression=cost_per_impression,
                           conversion_prob=conversion_prob, purchase_value=purchase_value)

    def report(self) -> dict:
        self._require_fitted()
        lo, hi = self.position_bias_ci()
        se_b0 = float(np.sqrt(max(self.cov_[0, 0], 0.0)))
        beta = self.theta_[self.n_positions_:]
        names = self.spec_.feature_names()
        top = np.argsort(-np.abs(beta))[:10]
        return {"model": "position-based click model, logistic relevance", "weighting": self.weighting,
                "rows": self.n_rows_, "clicks": self.n_clicks_, "train_ctr": self.train_ctr_, "l2": self.l2_,
                "cv_logloss": self.cv_scores_, "converged": self.converged_, "n_features": int(beta.size),
                "intercept": {"estimate": float(self.theta_[0]), "se": se_b0},
                "position_bias": {"estimate": self.position_bias.tolist(), "lower": lo.tolist(), "upper": hi.tolist()},
                "largest_effects": {names[i]: float(beta[i]) for i in top},
                "segments": len(self.segments_["labels"]), "logging_policy": self.logging_policy_}

    def _state(self) -> dict:
        return {"n_actions": self.n_actions_, "n_positions": self.n_positions_, "spec": self.spec_.to_dict(),
                "theta": self.theta_, "cov": self.cov_, "converged": self.converged_, "l2": self.l2_,
                "cv_scores": self.cv_scores_, "train_ctr": self.train_ctr_, "n_rows": self.n_rows_,
                "n_clicks": self.n_clicks_, "logging_policy": self.logging_policy_, "segments": self.segments_}

    def _restore(self, s: dict) -> None:
        self.n_actions_, self.n_positions_ = int(s["n_actions"]), int(s["n_positions"])
        self.spec_ = cf.ContextSpec.from_dict(s["spec"])
        self.theta_ = np.asarray(s["theta"], float)
        self.cov_ = np.asarray(s["cov"], float)
        self.converged_, self.l2_, self.cv_scores_ = bool(s["converged"]), float(s["l2"]), dict(s["cv_scores"])
        self.train_ctr_, self.n_rows_, self.n_clicks_ = float(s["train_ctr"]), int(s["n_rows"]), int(s["n_clicks"])
        self.logging_policy_ = s["logging_policy"]
        seg = s["segments"]
        self.segments_ = {"labels": list(seg["labels"]), "relevance": np.asarray(seg["relevance"], float),
                          "features": np.asarray(seg["features"], float),
                          "context_probs": np.asarray(seg["context_probs"], float)}
