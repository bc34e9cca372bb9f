"""Streaming off-policy evaluation: logs larger than memory, read in row batches, on one machine or a Ray cluster.

:func:`evaluate_stream` evaluates a policy on a log given as a CSV/Parquet file, a directory of Parquet files or a
glob (:mod:`sim_data.batches`). Memory is bounded by the batch size, never by the log: per batch it computes only

- ``pi_i = pi(a_i | x_i, k_i)`` from the policy's distribution in the logged slot (:meth:`Policy.slot_dist`,
  shape ``(batch, n_actions)``), and the weights ``w_i = pi_i / p_i``;
- for DM/DR-type estimators, ``q_i = q(x_i, a_i, k_i)`` and ``q_pi_i = sum_a pi(a | x_i, k_i) q(x_i, a, k_i)``
  from the bounded-sample cross-fitted reward model (:mod:`policies.ope.stream_reward`);

feeds them to the estimators' own ``round_terms`` (the formulas of :mod:`policies.ope.bandit`, unchanged) and
adds the terms to mergeable statistics (:mod:`policies.ope.stream_stats`). The point estimates equal the in-memory
path's up to the rounding of sums; the interval is a streaming Poisson bootstrap over blocks of
``block_rows = ceil(n_rows * n_resamples / 10e6)`` consecutive rows (by global row index; 1 row per block up to
50,000 rows at 200 resamples, so at most about 50,000 blocks: 20 rows per block at 1M rows, 2,000 at 100M), whose weights are keyed on ``(seed, block)``, so the same seed gives the same
interval however the log is cut into files, batches or workers.

Passes over the log: one for IPW/SNIPW; a first pass collects the reward model's sample when an estimator needs
one, and evaluates the largest weight when a SLOPE-tuned estimator (``switch-dr``, ``dr-os``, ``ipw-clip``,
``dr-clip`` without a value) needs its grid. The work is cut into units (:func:`sim_data.batches.plan_units`) that
run on threads (``engine="local"``) or as Ray Data tasks (``engine="ray"``, :mod:`policies.ope.engines`); unit
results are merged in unit order, so both engines give exactly the same numbers.

Bad data stops the run before anything is estimated, with an error naming the file, the row (0-based within the
file, header excluded), the column and what was expected. Propensities must be logged (the streaming engine does
not estimate them).
"""

from __future__ import annotations

import math
import resource
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from policies.ope.base import EstimateResult, Estimator
from policies.ope.engines import run_units
from policies.ope.estimators import parse_estimators
from policies.ope.run import PolicyEvaluation, needs_reward_model
from policies.ope.slope import SlopeTuned, default_grid, slope_choose
from policies.ope.stream_reward import MAX_SAMPLE_ROWS, FoldRewardModel, fit_fold_reward_model, sample_mask
from policies.ope.stream_stats import BlockLayout, TermStats, WeightStats
from policies.policy import FixedDistributionPolicy, Policy
from sim_data.batches import (
    BATCH_SIZE,
    UNIT_ROWS,
    Unit,
    file_schema,
    iter_unit_batches,
    plan_units,
    resolve_log_files,
)

REQUIRED = ("action", "position", "propensity", "reward")
STREAM_MAX_DRAWS = 10_000_000  # Poisson draws of the bootstrap: 50,000 blocks at 200 resamples
_TOL = 1e-6


class Progress(Protocol):
    """What :func:`evaluate_stream` reports progress to (the CLI's rich bar implements it)."""

    def start(self, description: str, total_rows: int) -> None: ...

    def advance(self, rows: int) -> None: ...


class LogRowError(ValueError):
    """Bad logged data, naming the file, row and column."""


@dataclass(frozen=True)
class BatchInputs:
    """One batch's per-row quantities, read by the estimators like :class:`~policies.ope.validation.BanditInputs`.

    :param rewards: ``(n,)``; :param eval_probs: ``(n,)`` ``pi(a_i | x_i, k_i)``; :param propensities: ``(n,)``.
    :param factual: ``(n,)`` ``q(x_i, a_i, k_i)`` or ``None``; :param on_policy: ``(n,)`` ``q_pi_i`` or ``None``.
    """

    rewards: np.ndarray
    eval_probs_: np.ndarray
    weights_: np.ndarray
    factual: np.ndarray | None = None
    on_policy: np.ndarray | None = None

    @property
    def n_rounds(self) -> int:
        return int(self.rewards.shape[0])

    def weights(self) -> np.ndarray:
        return self.weights_

    def eval_probs(self) -> np.ndarray:
        return self.eval_probs_

    def _need(self, value: np.ndarray | None, estimator: str) -> np.ndarray:
        if value is None:
            raise ValueError(f"{estimator} needs a reward model; the streaming plan has none")
        return value

    def factual_pred(self, estimator: str = "this estimator") -> np.ndarray:
        return self._need(self.factual, estimator)

    def policy_pred(self, estimator: str = "this estimator") -> np.ndarray:
        return self._need(self.on_policy, estimator)


@dataclass
class StreamPlan:
    """What every unit's kernel needs (shipped to Ray workers as is).

    :param policy: the evaluation policy.
    :param estimators: the estimators (SLOPE-tuned ones are evaluated on every candidate of their grid).
    :param context_columns: the ``context_*`` columns read for the policy and the reward model.
    :param grids: per estimator, its SLOPE grid, or ``None``.
    :param reward_model: the fitted reward model, or ``None``.
    """

    policy: Policy
    estimators: list[Estimator]
    context_columns: list[str]
    n_resamples: int
    seed: int
    block_rows: int
    batch_size: int = BATCH_SIZE
    grids: list[list[float] | None] = field(default_factory=list)
    reward_model: FoldRewardModel | None = None

    @property
    def n_actions(self) -> int:
        return self.policy.n_actions

    @property
    def n_positions(self) -> int:
        return self.policy.n_positions

    def candidates(self, i: int) -> list[Estimator]:
        """Estimator ``i`` itself, or its SLOPE candidates."""
        est = self.estimators[i]
        return [est.make(g) for g in self.grids[i]] if isinstance(est, SlopeTuned) else [est]


def _bad(unit: Unit, offset: int, column: str, expected: str, values: np.ndarray, bad: np.ndarray) -> LogRowError:
    i = int(np.flatnonzero(bad)[0])
    more = int(bad.sum()) - 1
    tail = f" ({more} more bad row(s) in this batch)" if more else ""
    return LogRowError(f"{unit.path}: row {unit.file_start + offset + i}: column {column!r}: expected {expected}, "
                       f"found {values[i]!r}{tail}")


def _ids(batch, unit: Unit, offset: int, name: str, size: int) -> np.ndarray:
    v = batch.column(name).to_numpy(zero_copy_only=False)
    if np.issubdtype(v.dtype, np.integer):
        bad = (v < 0) | (v >= size)
    elif np.issubdtype(v.dtype, np.floating):
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(v) | (v != np.round(v)) | (v < 0) | (v >= size)
    else:
        raise LogRowError(f"{unit.path}: column {name!r}: expected integer ids, found type {batch.column(name).type}")
    if bad.any():
        raise _bad(unit, offset, name, f"integer ids in [0, {size})", v, bad)
    return v.astype(np.int64, copy=False)


def _floats(batch, unit: Unit, offset: int, name: str) -> np.ndarray:
    try:
        v = batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise LogRowError(f"{unit.path}: column {name!r}: expected numbers, found type {batch.column(name).type}") \
            from None
    return v


def read_batch(batch, unit: Unit, offset: int, n_actions: int, n_positions: int) -> dict[str, np.ndarray]:
    """The checked ``action``, ``position``, ``propensity`` and ``reward`` arrays of one record batch.

    :param offset: row of the unit the batch starts at.
    :raises LogRowError: naming the file, row and column of the first bad value.
    """
    a = _ids(batch, unit, offset, "action", n_actions)
    k = _ids(batch, unit, offset, "position", n_positions)
    p = _floats(batch, unit, offset, "propensity")
    bad = ~(p > 0) | (p > 1 + _TOL)
    if bad.any():
        raise _bad(unit, offset, "propensity", "a logged probability in (0, 1] (the streaming engine needs logged "
                   "propensities)", p, bad)
    r = _floats(batch, unit, offset, "reward")
    bad = ~np.isfinite(r)
    if bad.any():
        raise _bad(unit, offset, "reward", "finite numbers", r, bad)
    return {"action": a, "position": k, "propensity": p, "reward": r}


def _batches(plan: StreamPlan, unit: Unit):
    """``(offset, arrays, contexts frame, global rows)`` for each batch of the unit."""
    offset = 0
    for batch in iter_unit_batches(unit, list(REQUIRED) + plan.context_columns, plan.batch_size):
        arrays = read_batch(batch, unit, offset, plan.n_actions, plan.n_positions)
        contexts = batch.select(plan.context_columns).to_pandas() if plan.context_columns else \
            pd.DataFrame(index=range(batch.num_rows))
        rows = np.arange(unit.start + offset, unit.start + offset + batch.num_rows, dtype=np.int64)
        yield offset, arrays, contexts, rows
        offset += batch.num_rows


def _check_probs(unit: Unit, offset: int, probs: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(probs) | (probs < 0) | (probs > 1 + _TOL)
    if bad.any():
        raise _bad(unit, offset, "context_*", "contexts the policy maps to probabilities in [0, 1]", probs, bad)
    return probs


def _eval_probs(plan: StreamPlan, unit: Unit, offset: int, arrays: dict, contexts: pd.DataFrame):
    pi = plan.policy.slot_dist(contexts, arrays["position"])
    return pi, _check_probs(unit, offset, pi[np.arange(pi.shape[0]), arrays["action"]])


def batch_inputs(plan: StreamPlan, unit: Unit, offset: int, arrays: dict, contexts: pd.DataFrame,
                 rows: np.ndarray) -> BatchInputs:
    """The per-row quantities of one batch (see the module)."""
    factual = on_policy = None
    if plan.reward_model is None:
        probs = _check_probs(unit, offset, plan.policy.logged_probs(contexts, arrays["position"], arrays["action"]))
    else:
        pi, probs = _eval_probs(plan, unit, offset, arrays, contexts)
        q = plan.reward_model.slot_predictions(contexts, arrays["position"], rows)
        factual = q[np.arange(q.shape[0]), arrays["action"]]
        on_policy = np.einsum("na,na->n", pi, q)
    return BatchInputs(arrays["reward"], probs, probs / arrays["propensity"], factual, on_policy)


@dataclass
class UnitStats:
    """One unit's statistics: the weights' and, per estimator, each candidate's :class:`TermStats`."""

    n_rows: int
    weights: WeightStats
    terms: list[list[TermStats]]
    peak_rss_mb: float


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def evaluate_unit(plan: StreamPlan, unit: Unit, progress: Progress | None = None) -> UnitStats:
    """The streaming kernel: every batch of ``unit`` through every estimator, merged into :class:`UnitStats`."""
    cands = [plan.candidates(i) for i in range(len(plan.estimators))]
    terms = [[TermStats(_normalised(c), plan.n_resamples) for c in group] for group in cands]
    weights = WeightStats()
    n = 0
    for offset, arrays, contexts, rows in _batches(plan, unit):
        inputs = batch_inputs(plan, unit, offset, arrays, contexts, rows)
        layout = BlockLayout.for_rows(int(rows[0]), rows.size, plan.block_rows, plan.n_resamples, plan.seed)
        weights.update(inputs.weights(), inputs.eval_probs())
        for group, stats in zip(cands, terms, strict=True):
            for est, st in zip(group, stats, strict=True):
                st.update(est.round_terms(inputs), layout)
        n += rows.size
        if progress is not None:
            progress.advance(rows.size)
    return UnitStats(n, weights, terms, _peak_rss_mb())


def _normalised(est: Estimator) -> bool:
    probe = BatchInputs(np.ones(1), np.ones(1), np.full(1, 2.0), np.zeros(1), np.zeros(1))
    return est.round_terms(probe).normaliser is not None


@dataclass
class UnitSample:
    """Pass-1 result of one unit: its rows in the reward model's sample, and its largest weight."""

    frame: pd.DataFrame | None
    rows: np.ndarray
    max_weight: float


def prepare_unit(plan: StreamPlan, unit: Unit, n_total: int, max_sample_rows: int, need_sample: bool,
                 need_max_weight: bool, progress: Progress | None = None) -> UnitSample:
    """Pass 1 on one unit: check every batch, keep the sampled rows, and find the largest weight if asked."""
    frames, kept, max_w = [], [], -np.inf
    for offset, arrays, contexts, rows in _batches(plan, unit):
        if need_max_weight:
            probs = _check_probs(unit, offset, plan.policy.logged_probs(contexts, arrays["position"],
                                                                         arrays["action"]))
            max_w = max(max_w, float((probs / arrays["propensity"]).max()))
        if need_sample:
            mask = sample_mask(rows, n_total, max_sample_rows, plan.seed)
            if mask.any():
                part = contexts[mask].reset_index(drop=True)
                for name in ("action", "position", "reward"):
                    part[name] = arrays[name][mask]
                frames.append(part)
                kept.append(rows[mask])
        if progress is not None:
            progress.advance(rows.size)
    frame = pd.concat(frames, ignore_index=True) if frames else None
    return UnitSample(frame, np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64), max_w)


def check_files(files, n_actions: int, n_positions: int) -> list[str]:
    """The context columns shared by every file; raises naming the first file that lacks a column."""
    first: list[str] | None = None
    for path in files:
        names = list(file_schema(path).names)
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise LogRowError(f"{path}: missing required column(s) {missing}; a bandit log needs {list(REQUIRED)}")
        ctx = [c for c in names if c.startswith("context_")]
        if first is None:
            first = ctx
        elif ctx != first:
            raise LogRowError(f"{path}: context columns {ctx} differ from the first file's {first}")
    return first or []


def as_policy(policy: Policy | np.ndarray) -> Policy:
    """A Policy, or an ``(n_actions, n_positions)`` distribution as a :class:`FixedDistributionPolicy`."""
    if isinstance(policy, Policy):
        return policy
    dist = np.asarray(policy)
    if dist.ndim != 2:
        raise ValueError(f"policy: the streaming engine takes a policy artefact or an (n_actions, n_positions) "
                         f"distribution; a per-round array of shape {dist.shape} cannot stream")
    return FixedDistributionPolicy(dist)


def block_rows_for(n_rows: int, n_resamples: int, max_draws: int = STREAM_MAX_DRAWS) -> int:
    """Rows per bootstrap block: ``ceil(n_rows * n_resamples / max_draws)``, at least 1."""
    return max(1, math.ceil(n_rows * n_resamples / max_draws))


def _result(est: Estimator, group: list[Estimator], stats: list[TermStats], shared: dict, *, confidence: float,
            lower_bound_method: str, grid: list[float] | None) -> EstimateResult:
    idx = 0
    diag = {**shared, "warnings": list(shared["warnings"]), "propensity_source": "logged"}
    if isinstance(est, SlopeTuned):
        idx, table = slope_choose([c.label() for c in group], [s.value() for s in stats],
                                  [2.0 * s.std_error() for s in stats])
        est.selected = {"param": est.param, "value": grid[idx], "candidates": table}
        diag["slope"] = est.selected
    st = stats[idx]
    return EstimateResult(name=est.name, label=est.label(), estimate=st.value(), ci=st.interval(confidence),
                          confidence=confidence, lower_bound=st.lower_bound(lower_bound_method, confidence),
                          lower_bound_method=lower_bound_method, std_error=st.std_error(), diagnostics=diag,
                          params=est.params())


def evaluate_stream(logs: str, policy: Policy | np.ndarray, *, name: str = "candidate",
                    estimators: Sequence[Estimator] | str = "ipw,snipw,dr", confidence: float = 0.95,
                    n_resamples: int = 200, seed: int = 0, lower_bound_method: str = "t", n_folds: int = 3,
                    batch_size: int = BATCH_SIZE, unit_rows: int = UNIT_ROWS,
                    max_sample_rows: int = MAX_SAMPLE_ROWS, engine: str = "local", workers: int = 1,
                    ray_address: str | None = None, progress: Progress | None = None) -> PolicyEvaluation:
    """Evaluate ``policy`` on the log at ``logs`` in row batches (see the module).

    :param logs: a CSV/Parquet file, a directory of Parquet files or a glob.
    :param policy: a :class:`Policy` (e.g. a loaded artefact) or an ``(n_actions, n_positions)`` distribution.
    :param estimators: estimator objects or names (:mod:`policies.ope.estimators`; not the slate estimators).
    :param n_folds: cross-fitting folds of the reward model (>= 2).
    :param batch_size: rows per record batch (what bounds memory).
    :param unit_rows: rows per unit of work (a task on Ray); smaller when that leaves fewer than 4 units per worker.
    :param max_sample_rows: the reward model's sample size bound.
    :param engine: ``local`` (``workers`` threads) or ``ray`` (``workers`` Ray tasks at a time).
    :param ray_address: a Ray cluster to join (``None``: a local Ray instance).
    :param progress: receives ``start`` per pass and ``advance(rows)`` per batch (per unit on Ray).
    :return: the :class:`PolicyEvaluation`, as :func:`policies.ope.run.evaluate_log` returns it.
    """
    ests = parse_estimators(estimators) if isinstance(estimators, str) or (
        estimators and isinstance(next(iter(estimators)), str)) else list(estimators)
    bad = [e.name for e in ests if e.name in ("position-ipw", "slate-ipw")]
    if bad:
        raise ValueError(f"estimators {bad}: not available on the streaming engine (it streams "
                         "dm, ipw, snipw, dr, sndr, switch-dr, dr-os and their SLOPE-tuned forms)")
    pol = as_policy(policy)
    files = resolve_log_files(logs)
    context_columns = check_files(files, pol.n_actions, pol.n_positions)
    units = plan_units(files, unit_rows)
    n_total = sum(u.n_rows for u in units)
    if len(units) < 4 * workers:  # enough units to keep every worker busy
        units = plan_units(files, max(batch_size, math.ceil(n_total / (4 * workers))))
    if n_total == 0:
        raise LogRowError(f"{logs}: the log has no rows")
    plan = StreamPlan(pol, ests, context_columns, n_resamples, seed, block_rows_for(n_total, n_resamples),
                      batch_size)
    run = dict(engine=engine, workers=workers, address=ray_address)
    need_sample = any(needs_reward_model(e) for e in ests)
    need_max = any(isinstance(e, SlopeTuned) and e.grid is None for e in ests)
    fitted_on: dict = {}
    if need_sample or need_max:
        if progress is not None:
            progress.start("pass 1: reward-model sample" if need_sample else "pass 1: largest weight", n_total)
        local_progress = progress if engine == "local" else None
        parts = run_units(lambda u: prepare_unit(plan, u, n_total, max_sample_rows, need_sample, need_max,
                                                 local_progress), units,
                          on_done=None if local_progress is not None or progress is None else
                          (lambda u: progress.advance(u.n_rows)), **run)
        if need_sample:
            frames = [p.frame for p in parts if p.frame is not None]
            sample = pd.concat(frames, ignore_index=True)
            rows = np.concatenate([p.rows for p in parts])
            plan.reward_model = fit_fold_reward_model(sample, rows, n_total, pol.n_actions, pol.n_positions,
                                                      n_folds=n_folds, seed=seed)
            fitted_on = {"sample_rows": len(sample), "folds": n_folds}
        max_w = max(p.max_weight for p in parts)
        plan.grids = [list(e.grid) if isinstance(e, SlopeTuned) and e.grid is not None else
                      default_grid(np.array([max_w]), power=e.grid_power) if isinstance(e, SlopeTuned) else None
                      for e in ests]
    else:
        plan.grids = [list(e.grid) if isinstance(e, SlopeTuned) else None for e in ests]
    if progress is not None:
        progress.start("evaluating", n_total)
    local_progress = progress if engine == "local" else None
    results = run_units(lambda u: evaluate_unit(plan, u, local_progress), units,
                        on_done=None if local_progress is not None or progress is None else
                        (lambda u: progress.advance(u.n_rows)), **run)
    weights = WeightStats()
    terms = [[TermStats(s.normalised, n_resamples) for s in group] for group in results[0].terms]
    for res in results:
        weights.merge(res.weights)
        for merged, group in zip(terms, res.terms, strict=True):
            for m, s in zip(merged, group, strict=True):
                m.merge(s)
    shared = weights.diagnostics()
    out = [_result(e, plan.candidates(i), terms[i], shared, confidence=confidence,
                   lower_bound_method=lower_bound_method, grid=plan.grids[i]) for i, e in enumerate(ests)]
    info = {"files": len(files), "units": len(units), "engine": engine, "workers": workers,
            "block_rows": plan.block_rows, "peak_rss_mb": max(r.peak_rss_mb for r in results),
            "passes": 2 if need_sample or need_max else 1}
    if fitted_on:
        info["reward_model"] = fitted_on
    return PolicyEvaluation(policy=name, results=out, n_rounds=n_total, run=info)
