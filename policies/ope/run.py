"""Evaluate a policy on a log: reward model, propensities, every estimator, intervals and diagnostics in one call.

:func:`evaluate` runs estimators on validated :class:`~policies.ope.validation.BanditInputs`;
:func:`evaluate_log` starts from a :class:`~sim_data.logs.BanditLog` and an evaluation policy (a
:class:`~policies.policy.Policy` or an action-distribution array), fits the cross-fitted reward model when an
estimator needs one, estimates propensities when the log has none, and returns a :class:`PolicyEvaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from policies.ope.bandit import NEEDS_REWARD_MODEL
from policies.ope.base import EstimateResult, Estimator, RoundTerms, jsonable
from policies.ope.diagnostics import weight_diagnostics
from policies.ope.estimators import DEFAULT_ESTIMATORS, parse_estimators
from policies.ope.features import context_features
from policies.ope.intervals import bootstrap_interval, lower_bound
from policies.ope.propensity import estimate_propensities
from policies.ope.reward_model import cross_fit_rewards
from policies.ope.slope import SlopeTuned
from policies.ope.validation import BanditInputs, bandit_inputs
from policies.policy import Policy
from sim_data.logs import BanditLog


@dataclass
class PolicyEvaluation:
    """Every estimator's result for one policy on one log; ``to_dict`` is JSON-ready.

    :param policy: the policy's display name.
    :param results: one :class:`EstimateResult` per estimator.
    :param n_rounds: rows of the log.
    :param propensity_source: ``logged`` or ``estimated``.
    :param notes: plain-language remarks (estimated propensities, ...).
    :param on_policy: ``True`` for the logging policy's own value (mean logged reward).
    :param run: how a streamed evaluation ran (files, units, engine, workers, block rows, peak RSS); empty in memory.
    """

    policy: str
    results: list[EstimateResult]
    n_rounds: int
    propensity_source: str = "logged"
    notes: list[str] = field(default_factory=list)
    on_policy: bool = False
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"policy": self.policy, "n_rounds": self.n_rounds, "propensity_source": self.propensity_source,
               "on_policy": self.on_policy, "notes": list(self.notes), "results": [r.to_dict() for r in self.results]}
        if self.run:
            out["run"] = dict(self.run)
        return jsonable(out)

    def result(self, name: str) -> EstimateResult:
        """The result of the estimator called ``name``."""
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no result for estimator {name!r}; have {[r.name for r in self.results]}")


def needs_reward_model(estimator: Estimator) -> bool:
    """Whether the estimator reads ``reward_pred``."""
    if isinstance(estimator, SlopeTuned):
        estimator = estimator.make(np.inf)
    return isinstance(estimator, NEEDS_REWARD_MODEL)


def summarise(name: str, label: str, terms: RoundTerms, *, confidence: float, n_resamples: int, seed: int,
              lower_bound_method: str, diagnostics: dict[str, Any], params: dict[str, Any]) -> EstimateResult:
    """Point estimate, bootstrap interval, lower bound and standard error from per-round terms."""
    return EstimateResult(
        name=name, label=label, estimate=terms.value(),
        ci=bootstrap_interval(terms, confidence=confidence, n_resamples=n_resamples, seed=seed),
        confidence=confidence, lower_bound=lower_bound(terms, lower_bound_method, confidence),
        lower_bound_method=lower_bound_method, std_error=terms.std_error(), diagnostics=diagnostics, params=params)


def evaluate(inputs: BanditInputs, estimators: Sequence[Estimator] | str = DEFAULT_ESTIMATORS, *,
             confidence: float = 0.95, n_resamples: int = 200, seed: int = 0, lower_bound_method: str = "t",
             extra_warnings: Sequence[str] = ()) -> list[EstimateResult]:
    """Run estimators with intervals and overlap diagnostics.

    :param inputs: validated inputs (:func:`~policies.ope.validation.bandit_inputs`).
    :param estimators: estimator objects, or names / a comma-separated string (see :mod:`policies.ope.estimators`).
    :param confidence: level of the interval and the lower bound.
    :param n_resamples: bootstrap resamples.
    :param seed: bootstrap seed (each estimator uses the same resampling stream).
    :param lower_bound_method: ``t`` or ``bernstein``.
    :param extra_warnings: sentences appended to every result's warnings (e.g. estimated propensities).
    """
    if isinstance(estimators, str) or (estimators and isinstance(next(iter(estimators)), str)):
        estimators = parse_estimators(list(estimators) if not isinstance(estimators, str) else estimators)
    shared = weight_diagnostics(inputs.weights(), inputs.eval_probs())
    out = []
    for est in estimators:
        terms = est.round_terms(inputs)
        diag = dict(shared)
        diag["warnings"] = list(shared["warnings"]) + list(extra_warnings)
        if isinstance(est, SlopeTuned):
            diag["slope"] = est.selected
        out.append(summarise(est.name, est.label(), terms, confidence=confidence, n_resamples=n_resamples,
                             seed=seed, lower_bound_method=lower_bound_method, diagnostics=diag, params=est.params()))
    return out


def evaluate_on_policy(log: BanditLog, *, name: str | None = None, confidence: float = 0.95, n_resamples: int = 200,
                       seed: int = 0, lower_bound_method: str = "t") -> PolicyEvaluation:
    """The logging policy's own value: the mean logged reward, with the same interval and bound."""
    r = log.rewards
    terms = RoundTerms(direct=np.zeros_like(r), weighted=r)
    diag = weight_diagnostics(np.ones_like(r))
    res = summarise("on-policy", "on-policy mean reward", terms, confidence=confidence, n_resamples=n_resamples,
                    seed=seed, lower_bound_method=lower_bound_method, diagnostics=diag, params={})
    return PolicyEvaluation(policy=name or f"logging ({log.logging_policy})", results=[res], n_rounds=len(log),
                            on_policy=True)


def log_contexts(log: BanditLog) -> np.ndarray:
    """The log's context columns as a numeric matrix (strings one-hot encoded), shape ``(n_rounds, n_features)``."""
    return context_features(log.table[log.context_columns] if log.context_columns else None, len(log))


def policy_action_dist(policy: Policy | np.ndarray, log: BanditLog) -> np.ndarray:
    """The evaluation policy's distribution on the log's rounds; arrays pass through (shape-checked later)."""
    if isinstance(policy, Policy):
        if (policy.n_actions, policy.n_positions) != (log.n_actions, log.n_positions):
            raise ValueError(f"policy: it has n_actions={policy.n_actions}, n_positions={policy.n_positions} but the "
                             f"log has n_actions={log.n_actions}, n_positions={log.n_positions}")
        return policy.action_dist(log.table[log.context_columns])
    dist = np.asarray(policy)
    if dist.ndim in (2, 3) and dist.shape[-2:] != (log.n_actions, log.n_positions):
        raise ValueError(f"action_dist: expected shape (n_actions, n_positions) = ({log.n_actions}, {log.n_positions}) "
                         f"or (n_rounds, n_actions, n_positions) = ({len(log)}, {log.n_actions}, {log.n_positions}), "
                         f"got shape {dist.shape}")
    return dist


def evaluate_log(log: BanditLog, policy: Policy | np.ndarray, *, name: str = "candidate",
                 estimators: Sequence[Estimator] | str = DEFAULT_ESTIMATORS, reward_pred: np.ndarray | None = None,
                 n_folds: int = 3, reward_model: Any = None, confidence: float = 0.95, n_resamples: int = 200,
                 seed: int = 0, lower_bound_method: str = "t") -> PolicyEvaluation:
    """Evaluate ``policy`` on ``log`` with every estimator.

    :param log: the logged bandit feedback; propensities are estimated when the log marks them unknown.
    :param policy: a :class:`Policy`, or an array ``(n_actions, n_positions)`` / ``(n_rounds, n_actions, n_positions)``.
    :param name: the policy's display name.
    :param estimators: see :func:`evaluate`.
    :param reward_pred: ``(n_rounds, n_actions, n_positions)`` reward predictions; cross-fitted when ``None`` and
        an estimator needs them.
    :param n_folds: folds of the reward (and propensity) model.
    :param reward_model: a scikit-learn estimator for the reward model, or ``None`` for the linear default.
    """
    if isinstance(estimators, str) or (estimators and isinstance(next(iter(estimators)), str)):
        estimators = parse_estimators(list(estimators) if not isinstance(estimators, str) else estimators)
    dist = policy_action_dist(policy, log)
    x = None
    notes: list[str] = []
    source = "logged"
    if log.propensity_known:
        propensities = log.propensities
    else:
        x = log_contexts(log)
        est = estimate_propensities(x, log.actions, log.positions, log.n_actions, log.n_positions,
                                    n_folds=max(2, n_folds), seed=seed)
        propensities, source, notes = est.propensities, "estimated", est.notes
    if reward_pred is None and any(needs_reward_model(e) for e in estimators):
        x = log_contexts(log) if x is None else x
        reward_pred = cross_fit_rewards(x, log.actions, log.positions, log.rewards, log.n_actions, log.n_positions,
                                        n_folds=n_folds, model=reward_model, seed=seed)
    inputs = bandit_inputs(actions=log.actions, positions=log.positions, rewards=log.rewards,
                           propensities=propensities, action_dist=dist, reward_pred=reward_pred)
    results = evaluate(inputs, estimators, confidence=confidence, n_resamples=n_resamples, seed=seed,
                       lower_bound_method=lower_bound_method, extra_warnings=notes[:1])
    for r in results:
        r.diagnostics["propensity_source"] = source
    return PolicyEvaluation(policy=name, results=results, n_rounds=len(log), propensity_source=source, notes=notes)
