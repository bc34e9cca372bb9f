"""One decision: pick the traffic arm, ask its policy for each slot's distribution, draw the actions.

Pure computation on a :class:`~service.policy_cache.ServedPoint` (no I/O): the route validates, calls
:func:`decide`, then hands :func:`decision_entry` to the log writer. A policy that is missing or raises (a model
fault) is replaced by the decision point's baseline action and the decision says why (``fallback_reason``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from policies.policy import Policy
from policies.vw_policy import InvalidPmfError, VWPolicy, validate_pmf
from service.log_store import DecisionEntry
from service.models import DecisionRequest
from service.policy_cache import ServedArm, ServedPoint
from service.sampling import choose_arm, rng_for_event, sample_slots, traffic_bucket

API_ARM = {"champion": "champion", "challenger": "canary", "baseline": "baseline"}


class RequestProblem(ValueError):
    """A request that is well-formed but does not fit the decision point (answered with a 422)."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class Decision:
    """A computed decision.

    :param candidates: per slot, the action ids the distribution is over.
    :param pmfs: per slot, the distribution ``(len(candidates[k]),)``.
    :param chosen: per slot, the chosen action id.
    :param probabilities: per slot, the chosen action's probability.
    """

    event_id: str
    decision_point: str
    arm: str
    version: str | None
    version_id: int | None
    fallback_reason: str | None
    candidates: list[list[int]]
    pmfs: list[list[float]]
    chosen: list[int]
    probabilities: list[float]


def candidate_ids(request: DecisionRequest, n_actions: int | None) -> list[int] | None:
    """The eligible action ids (``None``: the whole action space); raises :class:`RequestProblem`."""
    if request.actions is None:
        if n_actions is None:
            raise RequestProblem(("body", "actions"), "this decision point's action space has no size: list the "
                                                      "candidate actions")
        return None
    ids = [a.id for a in request.actions]
    seen: set[int] = set()
    for i, a in enumerate(ids):
        if n_actions is not None and a >= n_actions:
            raise RequestProblem(("body", "actions", i, "id"), f"expected an action id in [0, {n_actions - 1}], "
                                                               f"found {a}")
        if a in seen:
            raise RequestProblem(("body", "actions", i, "id"), f"action id {a} is listed twice")
        seen.add(a)
    return ids


def _context_values(policy: Policy, context: list | dict) -> list:
    if isinstance(context, list):
        return context
    names = getattr(policy, "feature_names", None)
    if not names:
        raise ValueError("context: this policy has no feature names; send the features as a list")
    missing = [n for n in names if n not in context]
    if missing:
        raise ValueError(f"context: missing features {missing[:10]}")
    return [context[n] for n in names]


def policy_pmfs(policy: Policy, request: DecisionRequest, ids: list[int]) -> list[np.ndarray]:
    """Each slot's validated distribution over ``ids`` from ``policy`` (slot ``k`` uses the policy's position
    ``min(k, n_positions - 1)``)."""
    values = _context_values(policy, request.context)
    positions = [min(k, policy.n_positions - 1) for k in range(request.slots)]
    if isinstance(policy, VWPolicy):
        feats = None
        if request.actions is not None and any(a.features is not None for a in request.actions):
            feats = [a.features for a in request.actions]
        by_position = {k: policy.predict_values(values, ids, k, feats) for k in set(positions)}
        return [by_position[k] for k in positions]
    x = np.asarray([values], dtype=np.float64)
    dist = np.asarray(policy.action_dist(x), dtype=np.float64)
    if dist.shape != (1, policy.n_actions, policy.n_positions):
        raise InvalidPmfError(f"action_dist: expected shape (1, {policy.n_actions}, {policy.n_positions}), "
                              f"got {dist.shape}")
    out = []
    for k in positions:
        p = dist[0, ids, k]
        total = float(p.sum())
        if not np.isfinite(total) or total <= 0:
            raise InvalidPmfError(f"action_dist: no probability on the candidate actions in slot {k}")
        out.append(validate_pmf(p / total, len(ids)))
    return out


def baseline_action(point: ServedPoint, slot: int) -> int:
    """The baseline action id for ``slot`` (``baseline_action`` is an id, a value of a list action space, or a
    list of those, one per slot)."""
    base = point.record.baseline_action
    if isinstance(base, list) and base:
        base = base[min(slot, len(base) - 1)]
    if isinstance(base, int) and not isinstance(base, bool):
        return base
    space = point.record.action_space
    if isinstance(space, list) and base in space:
        return space.index(base)
    raise ValueError(f"decision point {point.record.name!r}: baseline_action {point.record.baseline_action!r} "
                     "is neither an action id nor one of the action space's values")


def decide(point: ServedPoint, request: DecisionRequest, event_id: str) -> Decision:
    """Compute the decision for ``request`` (``event_id`` seeds all its randomness)."""
    n_actions = point.n_actions
    ids = candidate_ids(request, n_actions)
    unit = request.unit_id or event_id
    arm: ServedArm = point.arms[choose_arm(point.percents, traffic_bucket(point.record.name, unit))]
    rng = rng_for_event(event_id)
    reason = None
    if arm.policy is not None:
        try:
            full = ids if ids is not None else list(range(arm.policy.n_actions))
            pmfs = policy_pmfs(arm.policy, request, full)
            picks = sample_slots(pmfs, rng)
            return Decision(event_id, point.record.name, arm.arm, arm.version, arm.version_id, None,
                            [full] * request.slots,
                            [p.tolist() for p in pmfs], [full[i] for i in picks],
                            [float(p[i]) for p, i in zip(pmfs, picks, strict=True)])
        except Exception as exc:  # a model fault is never a 500: serve the baseline and say why
            reason = f"{type(exc).__name__}: {exc}"[:300]
    elif arm.version is not None:
        reason = f"policy {arm.version} is not loaded: {arm.error}"[:300]
    chosen = []
    for k in range(request.slots):
        try:
            chosen.append(baseline_action(point, k))
        except ValueError as exc:
            if ids is None and not n_actions:
                raise RequestProblem(("body", "decision_point"), str(exc)) from None
            chosen.append((ids or [0])[0])
            reason = reason or str(exc)
    return Decision(event_id, point.record.name, "baseline", None, None, reason, [[a] for a in chosen],
                    [[1.0] for _ in chosen], chosen, [1.0] * len(chosen))


def decision_entry(decision: Decision, point: ServedPoint, request: DecisionRequest, at: Any) -> DecisionEntry:
    """The decision-log row: the chosen action(s), their joint propensity and what an audit or OPE needs."""
    propensity = float(np.prod(decision.probabilities))
    context = {"features": request.context, "slots": request.slots,
               "candidates": [a.id for a in request.actions] if request.actions is not None else None,
               "support": decision.candidates, "pmf": decision.pmfs, "chosen": decision.chosen,
               "propensities": decision.probabilities}
    if request.actions is not None and any(a.features is not None for a in request.actions):
        context["action_features"] = {str(a.id): a.features for a in request.actions if a.features is not None}
    if request.unit_id is not None:
        context["unit_id"] = request.unit_id
    if decision.fallback_reason is not None:
        context["fallback_reason"] = decision.fallback_reason
    action = decision.chosen[0] if request.slots == 1 else list(decision.chosen)
    return DecisionEntry(decision.event_id, point.record.id, decision.version_id, decision.arm, action,
                         propensity if propensity > 0 else None, context, at, request.deferred)
