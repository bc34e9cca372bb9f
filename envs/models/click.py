"""Clicks on ad slots: a position-based model fit on bandit feedback, propensity-aware (IPW or doubly robust).

``P(click | context x, item a, slot k) = kappa[k] * relevance(x, a)``, ``relevance(x, a) = sigmoid(b0 + w @ f(x, a))``
with ``kappa[0] = 1`` (identifiability: relevance is the click probability in the first slot) and
``kappa[k] = exp(log_kappa[k])`` for ``k >= 1``. ``f(x, a)`` are the blocks of :mod:`envs.models.click_design`
(item, context, affinity, item features, item x context interactions), each with its own L2 penalty; ``log_kappa``
has one too (shrinking toward "no position effect"); ``b0`` is not penalised. Penalties not given are chosen by
repeated, click-stratified K-fold cross-validation of the (weighted) log-loss on the training log only
(:mod:`envs.models.click_penalty`). The fit is Fisher scoring on the analytic gradient
(:mod:`envs.models.click_likelihood`).

**Propensity-aware.** The target is the likelihood the model would have under a *uniform* logger, so that a
logger favouring some (context, item) pairs does not tilt a misspecified relevance toward them:

* ``weighting="ipw"``: row ``i`` has weight ``rho_i = (1 / n_actions) / propensity_i`` (normalised to mean 1,
  clipped at ``max_weight``, renormalised);
* ``weighting="dr"``: doubly robust (:mod:`envs.models.click_dr`): an outcome model (``imputation``, by default
  the same features with item x context interactions, unweighted) is cross-fitted over ``dr_folds`` folds and
  imputes every item's click probability; the logged item's label is corrected by ``rho_i`` times the residual.
  Unbiased if either the propensities or the outcome model are right. Costs ``n_actions`` pseudo-rows per row;
* ``weighting="none"``: the plain likelihood (unbiased only if the model is well specified).

Standard errors: the sandwich ``J^-1 (sum_i s_i s_i') J^-1``, ``J`` the weighted Fisher information of the
penalised loss and ``s_i`` row ``i``'s weighted score (for DR: summed over its pseudo-rows); reported for ``b0``
and the position effects. A penalised ``kappa``'s intervals only describe the shrunk estimate's spread, so
:meth:`ClickModel.unpenalized_position_bias` also refits with ``log_kappa`` unpenalised and reports its intervals.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
from scipy import sparse, stats

from envs.models import click_design as cd
from envs.models.base import BehaviourModel
from envs.models.click_dr import dr_pseudo_rows
from envs.models.click_export import export_segments
from envs.models.click_likelihood import P_MAX, ClickLikelihood, log_loss, sigmoid
from envs.models.click_penalty import POSITION, CrossValidation, choose_penalties, stratified_folds
from sim_data.logs import BanditLog

Z95 = float(stats.norm.ppf(0.975))
L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
WEIGHTINGS = ("ipw", "dr", "none")
SOLVERS = ("auto", "fisher", "torch")
FISHER_MAX_FEATURES = 2000      # "auto" switches to the torch solver above this many features (docs/benchmarks.md)


def _sandwich(prob, theta: np.ndarray, rows_of: sparse.csr_matrix) -> np.ndarray:
    """Sandwich covariance of ``[b0, log_kappa[1:]]``: ``U' S U`` with ``U`` the first ``K`` columns of ``J^-1``
    and ``S`` the outer product of the per-row scores; ``rows_of`` sums weighted pseudo-row scores per logged row.
    Only ``J^-1 E`` is solved for, so no ``(P, P)`` inverse is formed (the torch solver's CG uses this)."""
    u = prob.solve_information(theta, np.eye(prob.n_params, prob.n_pos))
    projected = rows_of @ prob.score_projection(theta, u)
    return projected.T @ projected


def _number(value: Any) -> float:
    """``value`` as a float, or NaN (which every ``>= 0`` check refuses) when it is not a number."""
    if isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _whole(value: Any) -> float:
    """``value`` when it is a whole number, else NaN."""
    number = _number(value)
    return number if np.isfinite(number) and number == int(number) else float("nan")


class ClickModel(BehaviourModel):
    """Position-based click model (see the module docstring).

    :param weighting: ``"ipw"`` (needs propensities), ``"dr"`` (needs propensities) or ``"none"``.
    :param interactions: add item x context interaction features.
    :param l2: feature penalties: a number (every block), a dict ``{block: number}`` (blocks left out are
        chosen by cross-validation) or ``None`` (all chosen by cross-validation). Blocks: ``item``, ``context``,
        ``affinity``, ``item_features``, ``interactions``.
    :param l2_grid: candidate feature penalties, increasing.
    :param position_l2: penalty on ``log kappa``, or ``None`` to choose it from ``(0, *l2_grid)``.
    :param cv_folds: folds for choosing penalties; :param cv_repeats: independent fold draws.
    :param max_weight: clip importance weights (after normalising to mean 1) at this value, then renormalise;
        ``None``: no clipping. Clipping trades a little bias for much less variance when a logger is nearly
        deterministic.
    :param imputation: ``weighting="dr"`` only: arguments of the outcome :class:`ClickModel` (default
        ``{"weighting": "none", "interactions": True}``).
    :param dr_folds: ``weighting="dr"`` only: cross-fitting folds of the outcome model (>= 2).
    :param n_segments: context segments exported to :class:`envs.params.ClickParams`.
    :param n_day_parts: equal parts of the day with their own context distribution in the exported params.
    :param solver: ``"fisher"``: Fisher scoring with the dense ``(P, P)`` information (numpy; exact, best up to a
        few thousand features); ``"torch"``: the same scoring with conjugate-gradient steps in torch
        (:mod:`envs.models.click_torch`; memory linear in the data, on a GPU when ``device`` says so);
        ``"auto"``: ``"torch"`` above :data:`FISHER_MAX_FEATURES` features, else ``"fisher"``.
    :param device: the torch solver's device: ``"auto"`` (a GPU when torch sees one), ``"cpu"``, ``"cuda"``...
    :param seed: seed of the folds and the k-means.
    """

    kind = "click"

    def __init__(self, weighting: str = "ipw", interactions: bool = True, l2: float | dict | None = None,
                 l2_grid: tuple[float, ...] | list[float] = L2_GRID, position_l2: float | None = None,
                 cv_folds: int = 5, cv_repeats: int = 2, max_weight: float | None = 10.0,
                 imputation: dict | None = None, dr_folds: int = 2, n_segments: int = 64, n_day_parts: int = 4,
                 solver: str = "auto", device: str = "auto", seed: int = 0):
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting: expected one of {list(WEIGHTINGS)}, found {weighting!r}")
        if isinstance(l2, dict):
            bad = {k: v for k, v in l2.items() if k not in cd.BLOCKS or not _number(v) >= 0}
            if bad:
                raise ValueError(f"l2: expected {{block: number >= 0}} with blocks in {list(cd.BLOCKS)}, found {bad}")
        elif l2 is not None and not _number(l2) >= 0:
            raise ValueError(f"l2: expected a number >= 0, a dict of them or None, found {l2!r}")
        grid = sorted(_number(v) for v in l2_grid)
        if not grid or any(not v >= 0 for v in grid):
            raise ValueError(f"l2_grid: expected non-negative numbers, found {l2_grid!r}")
        if position_l2 is not None and not _number(position_l2) >= 0:
            raise ValueError(f"position_l2: expected a number >= 0 or None, found {position_l2!r}")
        if not (_whole(cv_folds) >= 2 and _whole(cv_repeats) >= 1):
            raise ValueError(f"cv_folds, cv_repeats: expected integers >= 2 and >= 1, found {cv_folds!r}, {cv_repeats!r}")
        if max_weight is not None and not _number(max_weight) > 0:
            raise ValueError(f"max_weight: expected a positive number or None, found {max_weight!r}")
        if imputation is not None and (not isinstance(imputation, dict) or imputation.get("weighting") == "dr"):
            raise ValueError(f"imputation: expected a dict of ClickModel arguments without weighting='dr', "
                             f"found {imputation!r}")
        if int(dr_folds) < 2:
            raise ValueError(f"dr_folds: expected an integer >= 2 (cross-fitting), found {dr_folds!r}")
        if int(n_segments) < 1 or int(n_day_parts) < 1:
            raise ValueError(f"n_segments, n_day_parts: expected integers >= 1, found {n_segments!r}, {n_day_parts!r}")
        if solver not in SOLVERS:
            raise ValueError(f"solver: expected one of {list(SOLVERS)}, found {solver!r}")
        if not isinstance(device, str) or not device:
            raise ValueError(f"device: expected a torch device name such as 'auto', 'cpu' or 'cuda', found {device!r}")
        self.weighting = weighting
        self.solver, self.device = solver, device
        self.interactions = bool(interactions)
        self.l2 = dict(l2) if isinstance(l2, dict) else (None if l2 is None else float(l2))
        self.l2_grid = grid
        self.position_l2 = None if position_l2 is None else float(position_l2)
        self.cv_folds, self.cv_repeats = int(cv_folds), int(cv_repeats)
        self.max_weight = None if max_weight is None else float(max_weight)
        self.imputation = None if imputation is None else dict(imputation)
        self.dr_folds = int(dr_folds)
        self.n_segments, self.n_day_parts = int(n_segments), int(n_day_parts)
        self.seed = int(seed)

    def config(self) -> dict:
        return {"weighting": self.weighting, "interactions": self.interactions, "l2": self.l2, "l2_grid": self.l2_grid,
                "position_l2": self.position_l2, "cv_folds": self.cv_folds, "cv_repeats": self.cv_repeats,
                "max_weight": self.max_weight, "imputation": self.imputation, "dr_folds": self.dr_folds,
                "n_segments": self.n_segments, "n_day_parts": self.n_day_parts, "solver": self.solver,
                "device": self.device, "seed": self.seed}

    def _likelihood_factory(self, n_features: int):
        """The likelihood class for a design of ``n_features`` columns (sets ``solver_`` and ``device_``)."""
        use_torch = self.solver == "torch" or (self.solver == "auto" and n_features > FISHER_MAX_FEATURES)
        if not use_torch:
            self.solver_, self.device_ = "fisher", "cpu"
            return ClickLikelihood
        from envs.models.click_torch import TorchClickLikelihood, resolve_device

        self.solver_, self.device_ = "torch", resolve_device(self.device)
        return partial(TorchClickLikelihood, device=self.device_)

    # ------------------------------------------------------------------ fitting
    def _importance(self, log: BanditLog) -> np.ndarray:
        """``rho_i = (1 / n_actions) / propensity_i``, normalised to mean 1 and clipped (ones for ``"none"``)."""
        if self.weighting == "none":
            return np.ones(len(log))
        if not log.propensity_known:
            raise ValueError(f"weighting={self.weighting!r} needs the logging propensities, but column 'propensity' "
                             "is unknown (NaN) in this log: pass weighting='none' (unbiased only if the model is "
                             "well specified)")
        w = (1.0 / log.n_actions) / log.propensities
        w = w / w.mean()
        if self.max_weight is not None:
            w = np.minimum(w, self.max_weight)
            w = w / w.mean()
        return w

    def _imputed(self, log: BanditLog) -> np.ndarray:
        """Cross-fitted outcome model: every item's click probability at each row's context and slot, ``(n, A)``."""
        kwargs = {"weighting": "none", "interactions": True, "cv_folds": self.cv_folds, "cv_repeats": self.cv_repeats,
                  "solver": self.solver, "device": self.device, "seed": self.seed} | (self.imputation or {})
        folds = stratified_folds(log.rewards, self.dr_folds, np.random.default_rng(self.seed + 1))
        g = np.empty((len(log), log.n_actions))
        for f in range(self.dr_folds):
            train, test = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
            part = replace(log, table=log.table.iloc[train].reset_index(drop=True))
            if part.rewards.sum() == 0:
                raise ValueError(f"weighting='dr': cross-fitting fold {f} has no clicks; use fewer dr_folds")
            model = ClickModel(**kwargs)._fit_core(part)
            rows = cd.row_features(model.design_, log.table.iloc[test].reset_index(drop=True))
            g[test] = model._relevance_all(rows) * model.position_bias[log.positions[test]][:, None]
        return np.clip(g, 0.0, P_MAX)

    def _problem(self, log: BanditLog, progress: Any = None) -> tuple:
        """The weighted likelihood's data on ``log`` under the learned ``design_``: ``(rows, rho, group, x, k, z,
        v)``: row features, importance weights, the logged row of each (pseudo-)row, features, slots, labels and
        weights (the doubly robust loss has ``n_actions`` pseudo-rows per logged row)."""
        y = log.rewards
        rows = cd.row_features(self.design_, log.table)
        rho = self._importance(log)
        if self.weighting == "dr":
            if progress is not None:
                progress(f"click model: cross-fitting the outcome model over {self.dr_folds} folds")
            group, items, z, v = dr_pseudo_rows(self._imputed(log), log.actions, y, rho)
        else:
            group, items, z, v = np.arange(len(log)), log.actions, y, rho
        x = cd.design_matrix(self.design_, rows, items, group)
        return rows, rho, group, x, log.positions[group], z, v

    def likelihood_at_fit(self, log: BanditLog) -> tuple:
        """The fitted penalised likelihood rebuilt on its training ``log`` (no refit): ``(problem, rows_of)``, the
        :class:`~envs.models.click_likelihood.ClickLikelihood` (or its torch twin) with the chosen penalties, and
        the sparse ``(n_rows, n_pseudo_rows)`` matrix summing weighted pseudo-row scores per logged row; what the
        sandwich of any function of ``theta_`` needs (:mod:`envs.models.click_uncertainty`).

        :param log: the log the model was fit on (checked against its rows and clicks).
        """
        self._require_fitted()
        self._check_log(log)
        if len(log) != self.n_rows_ or int(log.rewards.sum()) != self.n_clicks_:
            raise ValueError(f"log: expected the training log ({self.n_rows_} rows, {self.n_clicks_} clicks), "
                             f"found {len(log)} rows and {int(log.rewards.sum())} clicks")
        _, _, group, x, k, z, v = self._problem(log)
        blocks = self.design_.column_blocks()
        pen = np.array([self.penalties_[b] for b in blocks], dtype=np.float64)
        prob = self._likelihood_factory(x.shape[1])(x, k, z, v, self.n_positions_, pen, self.penalties_[POSITION])
        rows_of = sparse.csr_matrix((v, (group, np.arange(group.size))), shape=(len(log), group.size))
        return prob, rows_of

    def _fit_core(self, log: BanditLog, progress: Any = None) -> ClickModel:
        """Design, weights, penalties (cross-validated) and the final fit; no export."""
        if not isinstance(log, BanditLog):
            raise TypeError(f"log: expected a BanditLog, found {type(log).__name__}")
        y = log.rewards
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("column 'reward': the click model expects clicks (0.0 or 1.0), found other values")
        if y.sum() == 0:
            raise ValueError("column 'reward': no clicks in the log, so relevance cannot be fitted")
        if log.n_positions < 1:
            raise ValueError("n_positions: expected at least one slot")
        n = len(log)
        self.n_actions_, self.n_positions_ = int(log.n_actions), int(log.n_positions)
        self.design_ = cd.learn_design(log.table, log.n_actions, self.interactions, log.action_context)
        rows, rho, group, x, k, z, v = self._problem(log, progress)
        blocks = self.design_.column_blocks()
        present = list(self.design_.block_sizes())
        fixed = self.l2 if isinstance(self.l2, dict) else ({} if self.l2 is None else dict.fromkeys(present, self.l2))
        fixed = {b: float(fixed[b]) for b in present if b in fixed}
        free = [b for b in present if b not in fixed]
        if self.position_l2 is None and self.n_positions_ > 1:
            free.append(POSITION)
        else:
            fixed[POSITION] = 0.0 if self.position_l2 is None else self.position_l2
        likelihood = self._likelihood_factory(x.shape[1])
        self.cv_trace_: list[dict] = []
        if free:
            cv = CrossValidation(x, k, z, v, group, y, self.n_positions_, blocks, self.cv_folds, self.cv_repeats,
                                 self.seed, likelihood=likelihood)
            grids = {b: (sorted({0.0, *self.l2_grid}) if b == POSITION else self.l2_grid) for b in free}
            self.penalties_, self.cv_trace_ = choose_penalties(cv, free, fixed, grids, progress=progress)
        else:
            self.penalties_ = fixed
        pen = np.array([self.penalties_[b] for b in blocks], dtype=np.float64)
        prob = likelihood(x, k, z, v, self.n_positions_, pen, self.penalties_[POSITION])
        self.theta_, self.converged_ = prob.fit()
        rows_of = sparse.csr_matrix((v, (group, np.arange(group.size))), shape=(n, group.size))
        self.cov_ = _sandwich(prob, self.theta_, rows_of)
        self.free_position_ = None
        if self.penalties_[POSITION] > 0 and self.n_positions_ > 1:
            # intervals of a shrunk estimate describe its spread, not how well the data pin kappa down: refit with
            # the position effects unpenalised (other penalties kept) for those
            prob.set_penalties(pen, 0.0)
            theta, _ = prob.fit(self.theta_)
            self.free_position_ = {"log_kappa": theta[1:self.n_positions_],
                                   "cov": _sandwich(prob, theta, rows_of)[1:, 1:]}
        self.train_ctr_ = float(np.average(y, weights=rho))
        self.n_rows_, self.n_clicks_ = n, int(y.sum())
        self.logging_policy_ = log.logging_policy
        self._fitted = True
        self._train_rows = rows
        return self

    def fit(self, log: BanditLog, progress: Any = None) -> ClickModel:
        """Fit on bandit feedback whose reward is a click (0/1).

        :param log: a :class:`~sim_data.logs.BanditLog`.
        :param progress: optional callable ``progress(message)``.
        :return: ``self``.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):   # small dense solves: threads only add contention
            self._fit_core(log, progress)
            rows = self._train_rows
            self.segments_ = export_segments(self.design_.context, log.table,
                                             lambda idx: self._relevance_all(rows.take(idx)),
                                             self.n_segments, self.n_day_parts, self.seed)
        del self._train_rows
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
        return np.exp(np.concatenate([[0.0], lk - Z95 * se])), np.exp(np.concatenate([[0.0], lk + Z95 * se]))

    def unpenalized_position_bias(self) -> dict:
        """``kappa`` refit with the position effects unpenalised (other penalties as chosen), with 95% intervals:
        ``{"estimate", "lower", "upper"}``; the fitted ``kappa`` and its intervals when they were not penalised."""
        self._require_fitted()
        if self.free_position_ is None:
            lo, hi = self.position_bias_ci()
            return {"estimate": self.position_bias.tolist(), "lower": lo.tolist(), "upper": hi.tolist()}
        lk = np.asarray(self.free_position_["log_kappa"], float)
        se = np.sqrt(np.maximum(np.diag(np.atleast_2d(self.free_position_["cov"])), 0.0))
        return {"estimate": np.exp(np.r_[0.0, lk]).tolist(), "lower": np.exp(np.r_[0.0, lk - Z95 * se]).tolist(),
                "upper": np.exp(np.r_[0.0, lk + Z95 * se]).tolist()}

    def _check_log(self, log: BanditLog) -> None:
        if not isinstance(log, BanditLog):
            raise TypeError(f"log: expected a BanditLog, found {type(log).__name__}")
        if log.n_actions != self.n_actions_ or log.n_positions != self.n_positions_:
            raise ValueError(f"log has {log.n_actions} actions and {log.n_positions} positions; the model was fitted "
                             f"on {self.n_actions_} and {self.n_positions_}")

    def _relevance_all(self, rows: cd.RowFeatures) -> np.ndarray:
        """Every item's relevance at every row, ``(n, A)``."""
        return sigmoid(self.theta_[0] + cd.all_item_logits(self.design_, rows, self.theta_[self.n_positions_:]))

    def relevance_matrix(self, log: BanditLog) -> np.ndarray:
        """``relevance(x_i, a)`` for every row's context and every item, shape ``(n_rows, n_actions)``."""
        self._require_fitted()
        self._check_log(log)
        return self._relevance_all(cd.row_features(self.design_, log.table))

    def predict(self, log: BanditLog) -> np.ndarray:
        """Click probability of each logged (context, item, slot), shape ``(n_rows,)``."""
        self._require_fitted()
        self._check_log(log)
        x = cd.design_matrix(self.design_, cd.row_features(self.design_, log.table), log.actions)
        s = sigmoid(self.theta_[0] + x @ self.theta_[self.n_positions_:])
        return np.minimum(self.position_bias[log.positions] * s, P_MAX)

    def evaluate(self, log: BanditLog) -> dict:
        """Log-loss on ``log``'s impressions against the constant-CTR model fit on the training log, and the
        simulated CTR of replaying the log's (context, item, slot) against its observed CTR."""
        p = self.predict(log)
        y = log.rewards
        c = float(np.clip(self.train_ctr_, 1e-9, P_MAX))
        model, constant = log_loss(y, p), log_loss(y, np.full_like(p, c))
        return {"rows": int(len(y)), "clicks": int(y.sum()), "observed_ctr": float(y.mean()),
                "simulated_ctr": float(p.mean()), "logloss": model, "constant_logloss": constant,
                "constant_ctr": c, "beats_constant": bool(model < constant)}

    # ------------------------------------------------------------------ export
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
        beta = self.theta_[self.n_positions_:]
        names = self.design_.feature_names()
        top = np.argsort(-np.abs(beta))[:10]
        blocks = self.design_.column_blocks()
        return {"model": "position-based click model, logistic relevance", "weighting": self.weighting,
                "rows": self.n_rows_, "clicks": self.n_clicks_, "train_ctr": self.train_ctr_,
                "penalties": self.penalties_, "converged": self.converged_, "n_features": int(beta.size),
                "solver": self.solver_, "device": self.device_,
                "blocks": self.design_.block_sizes(),
                "block_effect_sd": {b: float(np.sqrt(np.mean(beta[blocks == b] ** 2))) for b in self.design_.block_sizes()},
                "cross_validation": {"folds": self.cv_folds, "repeats": self.cv_repeats, "stratified_by": "click",
                                     "data": "training log only", "settings_scored": len(self.cv_trace_),
                                     "best_logloss": min((t["cv_logloss"] for t in self.cv_trace_), default=None),
                                     "trace": self.cv_trace_},
                "intercept": {"estimate": float(self.theta_[0]), "se": float(np.sqrt(max(self.cov_[0, 0], 0.0)))},
                "position_bias": {"estimate": self.position_bias.tolist(), "lower": lo.tolist(), "upper": hi.tolist()},
                "position_bias_unpenalized": self.unpenalized_position_bias(),
                "largest_effects": {names[i]: float(beta[i]) for i in top},
                "segments": len(self.segments_["labels"]), "logging_policy": self.logging_policy_}

    def _state(self) -> dict:
        return {"n_actions": self.n_actions_, "n_positions": self.n_positions_, "design": self.design_.to_dict(),
                "theta": self.theta_, "cov": self.cov_, "converged": self.converged_, "penalties": self.penalties_,
                "cv_trace": self.cv_trace_, "free_position": self.free_position_, "train_ctr": self.train_ctr_,
                "n_rows": self.n_rows_,
                "n_clicks": self.n_clicks_, "logging_policy": self.logging_policy_, "segments": self.segments_,
                "solver": self.solver_, "device": self.device_}

    def _restore(self, s: dict) -> None:
        if "design" not in s:
            raise ValueError("this click model was saved by an older retailrl (no field 'design'): refit it")
        self.n_actions_, self.n_positions_ = int(s["n_actions"]), int(s["n_positions"])
        self.design_ = cd.ClickDesign.from_dict(s["design"])
        self.theta_ = np.asarray(s["theta"], float)
        self.cov_ = np.asarray(s["cov"], float)
        self.converged_ = bool(s["converged"])
        self.penalties_ = {k: float(v) for k, v in s["penalties"].items()}
        self.cv_trace_ = list(s["cv_trace"])
        free = s["free_position"]
        self.free_position_ = None if free is None else {k: np.asarray(v, float) for k, v in free.items()}
        self.train_ctr_, self.n_rows_, self.n_clicks_ = float(s["train_ctr"]), int(s["n_rows"]), int(s["n_clicks"])
        self.logging_policy_ = s["logging_policy"]
        self.solver_, self.device_ = s.get("solver", "fisher"), s.get("device", "cpu")
        seg = s["segments"]
        self.segments_ = {"labels": list(seg["labels"]), "relevance": np.asarray(seg["relevance"], float),
                          "features": np.asarray(seg["features"], float),
                          "context_probs": np.asarray(seg["context_probs"], float)}
