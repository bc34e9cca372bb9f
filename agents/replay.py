"""Replay of the logging policy: the policy that produced a bandit log, re-estimated from the log and re-run.

The Open Bandit Dataset's loggers (``random``, ``bts``) choose items without looking at the user's features, so
the logging policy is a distribution over items per slot. :func:`logging_policy_dist` estimates it: the mean
logged propensity of each (item, slot) where propensities are logged (renormalised per slot), else the empirical
frequency. :class:`ReplayPolicy` is that distribution as a deployable :class:`policies.policy.Policy`; called on a
batch of AdAllocation observations it draws one slate per shopper (slot by slot, without repeating an item), so
:func:`agents.evaluate.evaluate_policy` runs it on the simulator as the "logging policy" baseline.
"""

from __future__ import annotations

import numpy as np

from policies.policy import FixedDistributionPolicy
from sim_data.logs import BanditLog


def logging_policy_dist(log: BanditLog) -> np.ndarray:
    """The logging policy's item distribution per slot, shape ``(n_actions, n_positions)``; columns sum to 1.

    :raises ValueError: if a slot has no logged row.
    """
    if not isinstance(log, BanditLog):
        raise ValueError(f"log: expected a BanditLog, found {type(log).__name__}")
    actions, positions = log.actions, log.positions
    dist = np.zeros((log.n_actions, log.n_positions))
    if log.propensity_known:
        sums = np.zeros_like(dist)
        counts = np.zeros_like(dist)
        np.add.at(sums, (actions, positions), log.propensities)
        np.add.at(counts, (actions, positions), 1.0)
        dist = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    else:
        np.add.at(dist, (actions, positions), 1.0)
    totals = dist.sum(axis=0)
    empty = np.flatnonzero(totals <= 0)
    if empty.size:
        raise ValueError(f"log: no logged row for position(s) {empty.tolist()}; cannot estimate the logging policy")
    return dist / totals


class ReplayPolicy(FixedDistributionPolicy):
    """The logging policy re-estimated from its log (context-free), as a deployable policy and a slate sampler.

    :param dist: ``(n_actions, n_positions)`` item distribution per slot.
    :param seed: seed of the generator used when drawing slates (``__call__``).
    """

    def __init__(self, dist: np.ndarray, n_actions: int | None = None, n_positions: int | None = None, seed: int = 0):
        super().__init__(dist, n_actions, n_positions)
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)

    @classmethod
    def from_log(cls, log: BanditLog, seed: int = 0) -> ReplayPolicy:
        """Estimate the logging policy of ``log`` (:func:`logging_policy_dist`)."""
        return cls(logging_policy_dist(log), seed=seed)

    def _params(self) -> dict:
        return {"seed": self.seed}

    def draw_slates(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, n_positions)`` slates: slot k's item from column k, items already placed excluded (renormalised)."""
        slates = np.empty((n, self.n_positions), dtype=np.int64)
        taken = np.zeros((n, self.n_actions), dtype=bool)
        for k in range(self.n_positions):
            w = np.where(taken, 0.0, self.dist[:, k][None, :])
            totals = w.sum(axis=1, keepdims=True)
            w = np.where(totals > 0, w / np.where(totals > 0, totals, 1.0), 1.0 / self.n_actions)
            cdf = np.cumsum(w, axis=1)
            pick = np.minimum((cdf < rng.random(n)[:, None] * cdf[:, -1:]).sum(axis=1), self.n_actions - 1)
            slates[:, k] = pick
            taken[np.arange(n), pick] = True
        return slates

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """One slate per observation row (AdAllocation's action), drawn from the policy's own seeded generator."""
        return self.draw_slates(np.asarray(obs).shape[0], self._rng)
