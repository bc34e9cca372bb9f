"""Validation of estimator inputs, in one place: every error names the array and the shape it should have.

:func:`bandit_inputs` checks the logged arrays and the evaluation policy's action distribution and returns a
:class:`BanditInputs` that every bandit estimator reads. Large arrays are checked in row chunks so that memory
stays bounded; an action distribution of shape ``(n_actions, n_positions)`` is broadcast (no copy) to every round.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

CHUNK_ROWS = 500_000
_TOL = 1e-6


@dataclass(frozen=True)
class BanditInputs:
    """Validated logged bandit feedback plus the evaluation policy, ready for any estimator.

    :param actions: ``(n_rounds,)`` int, logged action ids.
    :param positions: ``(n_rounds,)`` int, logged slots.
    :param rewards: ``(n_rounds,)`` float, observed rewards.
    :param propensities: ``(n_rounds,)`` float in (0, 1], the logging policy's probability of (action, position).
    :param action_dist: ``(n_rounds, n_actions, n_positions)`` evaluation-policy probabilities (may be a
        broadcast view of one ``(n_actions, n_positions)`` distribution).
    :param reward_pred: ``(n_rounds, n_actions, n_positions)`` predicted rewards, or ``None``.
    :param slate_ids: ``(n_rounds,)`` int, the slate (impression) each row belongs to, or ``None``.
    """

    actions: np.ndarray
    positions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    action_dist: np.ndarray
    reward_pred: np.ndarray | None = None
    slate_ids: np.ndarray | None = None

    @property
    def n_rounds(self) -> int:
        return int(self.actions.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.action_dist.shape[1])

    @property
    def n_positions(self) -> int:
        return int(self.action_dist.shape[2])

    def eval_probs(self) -> np.ndarray:
        """``pi(a_i | x_i, k_i)``, shape ``(n_rounds,)`` (computed once)."""
        return self._eval_probs

    @cached_property
    def _eval_probs(self) -> np.ndarray:
        return np.asarray(self.action_dist[np.arange(self.n_rounds), self.actions, self.positions], dtype=np.float64)

    def weights(self) -> np.ndarray:
        """Importance weights ``w_i = pi(a_i | x_i, k_i) / p_i``, shape ``(n_rounds,)`` (computed once)."""
        return self._weights

    @cached_property
    def _weights(self) -> np.ndarray:
        return self._eval_probs / self.propensities

    def require_reward_pred(self, estimator: str) -> np.ndarray:
        if self.reward_pred is None:
            raise ValueError(f"{estimator} needs reward_pred of shape (n_rounds, n_actions, n_positions) = "
                             f"({self.n_rounds}, {self.n_actions}, {self.n_positions}); fit a reward model "
                             "(policies.ope.reward_model.cross_fit_rewards) or pass predictions")
        return self.reward_pred

    def factual_pred(self, estimator: str = "this estimator") -> np.ndarray:
        """``q(x_i, a_i, k_i)``, shape ``(n_rounds,)``."""
        self.require_reward_pred(estimator)
        return self._factual_pred

    @cached_property
    def _factual_pred(self) -> np.ndarray:
        return np.asarray(self.reward_pred[np.arange(self.n_rounds), self.actions, self.positions], dtype=np.float64)

    def policy_pred(self, estimator: str = "this estimator") -> np.ndarray:
        """``sum_a pi(a | x_i, k_i) q(x_i, a, k_i)``, shape ``(n_rounds,)``, computed once, in chunks of rows."""
        self.require_reward_pred(estimator)
        return self._policy_pred

    @cached_property
    def _policy_pred(self) -> np.ndarray:
        q = self.reward_pred
        out = np.empty(self.n_rounds)
        for start in range(0, self.n_rounds, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, self.n_rounds)
            k = self.positions[start:stop]
            rows = np.arange(stop - start)
            pi = self.action_dist[start:stop]
            qq = q[start:stop]
            if self.n_positions == 1:
                out[start:stop] = np.einsum("na,na->n", pi[:, :, 0], qq[:, :, 0])
            else:
                out[start:stop] = np.einsum("na,na->n", pi[rows, :, k], qq[rows, :, k])
        return out


def _vector(name: str, value, n: int | None, dtype) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array of shape (n_rounds,), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name}: expected shape (n_rounds,) = ({n},) like actions, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one round, got an empty array")
    if dtype is np.int64:
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr)):
                raise ValueError(f"{name}: expected integers, got dtype {arr.dtype}")
        return arr.astype(np.int64, copy=False)
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite numbers, found NaN or inf at rows "
                         f"{np.flatnonzero(~np.isfinite(arr))[:5].tolist()}")
    return arr


def _check_dist_chunks(name: str, dist: np.ndarray) -> None:
    for start in range(0, dist.shape[0], CHUNK_ROWS):
        block = dist[start:start + CHUNK_ROWS]
        if not np.isfinite(block).all() or block.min() < 0 or block.max() > 1 + _TOL:
            raise ValueError(f"{name}: expected probabilities in [0, 1], found NaN or values outside [0, 1]")
        sums = block.sum(axis=1)
        bad = np.abs(sums - 1.0) > 1e-4
        if bad.any():
            i, k = np.argwhere(bad)[0]
            raise ValueError(f"{name}: each {name}[i, :, k] must sum to 1 over actions; row {start + i}, position {k} "
                             f"sums to {sums[i, k]:.6g}")


def as_action_dist(action_dist, n_rounds: int, *, check: bool = True) -> np.ndarray:
    """An evaluation policy's distribution as ``(n_rounds, n_actions, n_positions)`` (a broadcast view for 2-d input).

    :param action_dist: ``(n_actions, n_positions)`` or ``(n_rounds, n_actions, n_positions)``.
    :param n_rounds: number of logged rounds.
    :param check: check values (finite, in [0, 1], summing to 1 over actions).
    """
    dist = np.asarray(action_dist)
    if not np.issubdtype(dist.dtype, np.floating):
        dist = dist.astype(np.float64)
    if dist.ndim == 2:
        if check:
            _check_dist_chunks("action_dist", dist[None])
        return np.broadcast_to(dist, (n_rounds,) + dist.shape)
    if dist.ndim != 3:
        raise ValueError(f"action_dist: expected shape (n_actions, n_positions) or (n_rounds, n_actions, n_positions), "
                         f"got shape {dist.shape}")
    if dist.shape[0] != n_rounds:
        raise ValueError(f"action_dist: expected shape (n_rounds, n_actions, n_positions) with n_rounds={n_rounds}, "
                         f"got shape {dist.shape}")
    if check:
        _check_dist_chunks("action_dist", dist)
    return dist


def bandit_inputs(*, actions, rewards, propensities, action_dist, positions=None, reward_pred=None,
                  slate_ids=None, check_dist: bool = True) -> BanditInputs:
    """Validate logged arrays and an evaluation policy, and bundle them for the estimators.

    :param actions: ``(n_rounds,)`` ints in ``[0, n_actions)``.
    :param rewards: ``(n_rounds,)`` finite floats.
    :param propensities: ``(n_rounds,)`` floats in (0, 1].
    :param action_dist: ``(n_actions, n_positions)`` or ``(n_rounds, n_actions, n_positions)``.
    :param positions: ``(n_rounds,)`` ints in ``[0, n_positions)``; all 0 when omitted.
    :param reward_pred: ``(n_rounds, n_actions, n_positions)`` predicted rewards, or ``None``.
    :param slate_ids: ``(n_rounds,)`` ints grouping rows into slates (for slate estimators), or ``None``.
    :param check_dist: check the action distribution's values (set False only for arrays checked before).
    :raises ValueError: naming the array and the shape or values expected.
    """
    a = _vector("actions", actions, None, np.int64)
    n = a.shape[0]
    r = _vector("rewards", rewards, n, np.float64)
    p = _vector("propensities", propensities, n, np.float64)
    k = np.zeros(n, dtype=np.int64) if positions is None else _vector("positions", positions, n, np.int64)
    bad = (p <= 0) | (p > 1 + _TOL)
    if bad.any():
        raise ValueError(f"propensities: expected values in (0, 1], found {p[bad][:3].tolist()} at rows "
                         f"{np.flatnonzero(bad)[:5].tolist()}")
    dist = as_action_dist(action_dist, n, check=check_dist)
    n_actions, n_positions = dist.shape[1], dist.shape[2]
    for name, arr, size in (("actions", a, n_actions), ("positions", k, n_positions)):
        bad = (arr < 0) | (arr >= size)
        if bad.any():
            raise ValueError(f"{name}: expected ids in [0, {size}) to index action_dist of shape "
                             f"(n_rounds, n_actions, n_positions) = {dist.shape}, found {arr[bad][:3].tolist()} at rows "
                             f"{np.flatnonzero(bad)[:5].tolist()}")
    q = None
    if reward_pred is not None:
        q = np.asarray(reward_pred)
        if q.shape != dist.shape:
            raise ValueError(f"reward_pred: expected shape (n_rounds, n_actions, n_positions) = {dist.shape}, "
                             f"got shape {q.shape}")
        if not np.issubdtype(q.dtype, np.floating):
            q = q.astype(np.float64)
        for start in range(0, n, CHUNK_ROWS):
            if not np.isfinite(q[start:start + CHUNK_ROWS]).all():
                raise ValueError("reward_pred: expected finite numbers, found NaN or inf")
    s = None if slate_ids is None else _vector("slate_ids", slate_ids, n, np.int64)
    return BanditInputs(actions=a, positions=k, rewards=r, propensities=p, action_dist=dist, reward_pred=q, slate_ids=s)


@dataclass(frozen=True)
class EpisodeInputs:
    """Validated episodes for sequential estimators; steps after an episode's end are padding.

    :param rewards: ``(n_episodes, horizon)`` rewards (0 on padding).
    :param eval_probs: ``(n_episodes, horizon)`` evaluation-policy probability of the logged action (1 on padding).
    :param behavior_probs: ``(n_episodes, horizon)`` logging probability of the logged action (1 on padding).
    :param mask: ``(n_episodes, horizon)`` bool, True on real steps (a prefix of each row).
    :param q_pred: ``(n_episodes, horizon)`` model value of the logged (state, action), or ``None``.
    :param v_pred: ``(n_episodes, horizon)`` model value of the state under the evaluation policy, or ``None``.
    :param gamma: discount in [0, 1].
    """

    rewards: np.ndarray
    eval_probs: np.ndarray
    behavior_probs: np.ndarray
    mask: np.ndarray
    q_pred: np.ndarray | None
    v_pred: np.ndarray | None
    gamma: float

    @property
    def n_episodes(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.rewards.shape[1])

    def cumulative_ratios(self) -> np.ndarray:
        """``rho[i, t] = prod_{s <= t} pi_e / pi_b``, shape ``(n_episodes, horizon)`` (constant after the end)."""
        return np.cumprod(self.eval_probs / self.behavior_probs, axis=1)

    def discounts(self) -> np.ndarray:
        """``gamma ** t``, shape ``(horizon,)``."""
        return self.gamma ** np.arange(self.horizon)


def episode_inputs(*, rewards, eval_probs, behavior_probs, mask=None, q_pred=None, v_pred=None,
                   gamma: float = 1.0) -> EpisodeInputs:
    """Validate episode arrays (all ``(n_episodes, horizon)``); padding is neutralised (ratio 1, reward 0, values 0).

    :raises ValueError: naming the array and the expected shape or values.
    """
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] == 0 or r.shape[1] == 0:
        raise ValueError(f"rewards: expected shape (n_episodes, horizon), got shape {r.shape}")
    shape = r.shape

    def matrix(name, value, dtype=np.float64):
        arr = np.asarray(value, dtype=dtype)
        if arr.shape != shape:
            raise ValueError(f"{name}: expected shape (n_episodes, horizon) = {shape} like rewards, got shape {arr.shape}")
        return arr

    m = np.ones(shape, dtype=bool) if mask is None else matrix("mask", mask, bool)
    if (np.diff(m.astype(np.int8), axis=1) > 0).any():
        raise ValueError("mask: each episode's real steps must be a prefix (True then False), found a gap")
    pe, pb = matrix("eval_probs", eval_probs), matrix("behavior_probs", behavior_probs)
    for name, arr, lo_open in (("eval_probs", pe, False), ("behavior_probs", pb, True)):
        vals = arr[m]
        bad = ~np.isfinite(vals) | (vals > 1 + _TOL) | ((vals <= 0) if lo_open else (vals < 0))
        if bad.any():
            raise ValueError(f"{name}: expected probabilities in {'(0' if lo_open else '[0'}, 1] on real steps, "
                             f"found {vals[bad][:3].tolist()}")
    if not np.isfinite(r[m]).all():
        raise ValueError("rewards: expected finite numbers on real steps")
    if not 0 <= gamma <= 1:
        raise ValueError(f"gamma: expected a discount in [0, 1], got {gamma}")
    q = None if q_pred is None else np.where(m, matrix("q_pred", q_pred), 0.0)
    v = None if v_pred is None else np.where(m, matrix("v_pred", v_pred), 0.0)
    return EpisodeInputs(rewards=np.where(m, r, 0.0), eval_probs=np.where(m, pe, 1.0),
                         behavior_probs=np.where(m, pb, 1.0), mask=m, q_pred=q, v_pred=v, gamma=float(gamma))
