"""A position-based click world with known truth, for recovery tests of click models and OPE estimators.

The world (all drawn from one seeded generator, in this order, so a seed fixes everything):

* item parameters: ``theta ~ N(0, 1/n_features)`` of shape ``(n_features, n_actions)`` and
  ``item_bias ~ N(-0.5, 0.5^2)`` of shape ``(n_actions,)``;
* the softmax logger's parameters (drawn even for the uniform logger, so the world does not depend on it):
  ``logging_theta = theta + noise * N(0, 1)``, ``logging_item_bias = item_bias + noise * N(0, 1)`` and
  ``logging_position_shift = noise * N(0, 1)`` of shape ``(n_positions, n_actions)``;
* contexts ``x_i ~ N(0, I)`` (columns ``context_0 .. context_{n_features-1}``);
* the slot ``k_i`` of each round, uniform over ``0 .. n_positions-1``;
* the action ``a_i ~ pi_0(. | x_i, k_i)``, whose probability is recorded *exactly* as the propensity:
  uniform ``1 / n_actions``, or ``softmax_a(score(x_i, a, k_i))`` with
  ``score(x, a, k) = (logging_item_bias[a] + x @ logging_theta[:, a] + logging_position_shift[k, a]) / temperature``;
* the click ``c_i ~ Bernoulli(kappa[k_i] * relevance(x_i, a_i))`` with
  ``relevance(x, a) = sigmoid(item_bias[a] + x @ theta[:, a])`` and the position bias ``kappa`` decreasing,
  ``kappa[0] = 1`` (default ``kappa[k] = 1 / (k + 1)``); the reward is the click (0.0 or 1.0).

Array conventions follow obp: an action distribution has shape ``(n_rounds, n_actions, n_positions)`` and sums
to 1 over actions for every round and position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from sim_data.logs import BanditLog, Provenance
from sim_data.synthetic._common import check_float, check_int, make_rng, sample_categorical, sigmoid, softmax

LoggingPolicy = Literal["uniform", "softmax"]
START_TIME = pd.Timestamp("2024-01-01", tz="UTC")


@dataclass
class ClickTruth:
    """The known parameters of a click world and the oracle quantities computed from them.

    :param theta: relevance weights, shape ``(n_features, n_actions)``.
    :param item_bias: relevance intercepts, shape ``(n_actions,)``.
    :param position_bias: examination probability ``kappa`` per slot, shape ``(n_positions,)``, decreasing, ``kappa[0] = 1``.
    :param logging: the logging policy, ``"uniform"`` or ``"softmax"``.
    :param temperature: the softmax logger's temperature (unused by the uniform logger).
    :param logging_theta: the softmax logger's weights, shape ``(n_features, n_actions)``.
    :param logging_item_bias: the softmax logger's intercepts, shape ``(n_actions,)``.
    :param logging_position_shift: the softmax logger's per-slot score shift, shape ``(n_positions, n_actions)``.
    :param contexts: the logged rounds' contexts, shape ``(n_rounds, n_features)`` (row ``i`` = log row ``i``).
    :param positions: the logged rounds' slots, shape ``(n_rounds,)``.
    :param seed: the seed the world was drawn from.
    """

    theta: np.ndarray
    item_bias: np.ndarray
    position_bias: np.ndarray
    logging: LoggingPolicy
    temperature: float
    logging_theta: np.ndarray
    logging_item_bias: np.ndarray
    logging_position_shift: np.ndarray
    contexts: np.ndarray
    positions: np.ndarray
    seed: int = 0
    details: dict = field(default_factory=dict)

    @property
    def n_actions(self) -> int:
        return int(self.theta.shape[1])

    @property
    def n_positions(self) -> int:
        return int(self.position_bias.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.theta.shape[0])

    @property
    def n_rounds(self) -> int:
        return int(self.contexts.shape[0])

    def _contexts(self, contexts: np.ndarray | None) -> np.ndarray:
        if contexts is None:
            return self.contexts
        x = np.asarray(contexts, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"contexts must have shape (n, {self.n_features}), got {x.shape}")
        return x

    def relevance(self, contexts: np.ndarray | None = None) -> np.ndarray:
        """``sigmoid(item_bias[a] + x @ theta[:, a])``: the click probability when examined; shape ``(n, n_actions)``.

        :param contexts: shape ``(n, n_features)``; ``None`` means the logged rounds' contexts.
        """
        return sigmoid(self.item_bias[None, :] + self._contexts(contexts) @ self.theta)

    def click_prob(self, contexts: np.ndarray | None = None) -> np.ndarray:
        """Expected reward ``q(x, a, k) = kappa[k] * relevance(x, a)``, shape ``(n, n_actions, n_positions)``.

        :param contexts: shape ``(n, n_features)``; ``None`` means the logged rounds' contexts.
        """
        return self.relevance(contexts)[:, :, None] * self.position_bias[None, None, :]

    def logging_scores(self, contexts: np.ndarray | None = None) -> np.ndarray:
        """The softmax logger's scores ``score(x, a, k)`` (temperature applied), shape ``(n, n_actions, n_positions)``."""
        x = self._contexts(contexts)
        logits = self.logging_item_bias[None, :] + x @ self.logging_theta
        return (logits[:, :, None] + self.logging_position_shift.T[None, :, :]) / self.temperature

    def logging_action_dist(self, contexts: np.ndarray | None = None) -> np.ndarray:
        """The logging policy ``pi_0(a | x, k)``, shape ``(n, n_actions, n_positions)``, summing to 1 over actions.

        :param contexts: shape ``(n, n_features)``; ``None`` means the logged rounds' contexts.
        """
        n = self._contexts(contexts).shape[0]
        if self.logging == "uniform":
            return np.full((n, self.n_actions, self.n_positions), 1.0 / self.n_actions)
        return softmax(self.logging_scores(contexts), axis=1)

    def policy_value(self, action_dist: np.ndarray, positions: np.ndarray | None = None) -> float:
        """True value of an evaluation policy on the logged rounds: ``mean_i sum_a pi(a | x_i, k_i) q(x_i, a, k_i)``.

        This is the estimand of off-policy estimators given the logged contexts and slots.

        :param action_dist: ``pi(a | x_i, k)``, shape ``(n_rounds, n_actions, n_positions)``; every
            ``action_dist[i, :, k]`` sums to 1.
        :param positions: the slot of each round, shape ``(n_rounds,)``; ``None`` means the logged slots.
        :return: the expected reward per round.
        """
        pi = np.asarray(action_dist, dtype=np.float64)
        expected = (self.n_rounds, self.n_actions, self.n_positions)
        if pi.shape != expected:
            raise ValueError(f"action_dist must have shape (n_rounds, n_actions, n_positions) = {expected}, got {pi.shape}")
        if not np.all(np.isfinite(pi)) or (pi < 0).any():
            raise ValueError("action_dist must hold finite, non-negative probabilities")
        sums = pi.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            i, k = np.argwhere(~np.isclose(sums, 1.0, atol=1e-6))[0]
            raise ValueError(f"action_dist must sum to 1 over actions; round {i}, position {k} sums to {sums[i, k]:.6g}")
        k = self.positions if positions is None else np.asarray(positions)
        if k.shape != (self.n_rounds,) or not np.issubdtype(k.dtype, np.integer):
            raise ValueError(f"positions must be integers of shape ({self.n_rounds},), got {k.dtype} {k.shape}")
        if ((k < 0) | (k >= self.n_positions)).any():
            raise ValueError(f"positions must be in [0, {self.n_positions}), got values outside it")
        rows = np.arange(self.n_rounds)
        q = self.click_prob()[rows, :, k]
        return float(np.mean(np.sum(pi[rows, :, k] * q, axis=1)))

    def best_action(self, contexts: np.ndarray | None = None) -> np.ndarray:
        """The reward-maximising action per round, shape ``(n,)``: the same for every slot in a position-based model."""
        return np.argmax(self.relevance(contexts), axis=1)

    def best_action_dist(self, contexts: np.ndarray | None = None) -> np.ndarray:
        """The optimal policy as a one-hot distribution, shape ``(n, n_actions, n_positions)`` (same action per slot)."""
        best = self.best_action(contexts)
        dist = np.zeros((best.size, self.n_actions, self.n_positions))
        dist[np.arange(best.size), best, :] = 1.0
        return dist

    def best_slate(self, contexts: np.ndarray | None = None) -> np.ndarray:
        """The best slate of *distinct* items, shape ``(n, n_positions)``: actions by decreasing relevance.

        Because ``kappa`` decreases, putting the most relevant item in slot 0, the next in slot 1, ... maximises
        the expected clicks of a slate without repeats. (With repeats allowed, :meth:`best_action` fills every slot.)
        """
        if self.n_positions > self.n_actions:
            raise ValueError(f"a slate of distinct items needs n_positions <= n_actions, "
                             f"got {self.n_positions} > {self.n_actions}")
        order = np.argsort(-self.relevance(contexts), axis=1, kind="stable")
        return order[:, : self.n_positions]

    def optimal_value(self) -> float:
        """``policy_value`` of the optimal policy (:meth:`best_action_dist`) on the logged rounds."""
        return self.policy_value(self.best_action_dist())


def _position_bias(position_bias: Sequence[float] | None, n_positions: int) -> np.ndarray:
    if position_bias is None:
        return 1.0 / np.arange(1, n_positions + 1)
    kappa = np.asarray(position_bias, dtype=np.float64)
    if kappa.shape != (n_positions,):
        raise ValueError(f"position_bias must have one value per position ({n_positions}), got shape {kappa.shape}")
    if not np.isclose(kappa[0], 1.0) or (kappa <= 0).any() or (kappa > 1).any() or (np.diff(kappa) > 0).any():
        raise ValueError(f"position_bias must be non-increasing in (0, 1] with position_bias[0] = 1, got {kappa.tolist()}")
    return kappa


def make_click_world(
    n_rounds: int,
    n_actions: int = 10,
    n_positions: int = 3,
    n_features: int = 5,
    logging: LoggingPolicy = "uniform",
    temperature: float = 1.0,
    seed: int = 0,
    *,
    position_bias: Sequence[float] | None = None,
    logging_noise: float = 0.5,
) -> tuple[BanditLog, ClickTruth]:
    """Draw a position-based click world and log ``n_rounds`` rounds of it (see the module docstring).

    :param n_rounds: rows of the log (one round = one slot filled by one action).
    :param n_actions: size of the action space.
    :param n_positions: number of slots.
    :param n_features: context dimension.
    :param logging: ``"uniform"`` or ``"softmax"`` logging policy.
    :param temperature: softmax temperature (> 0); lower is greedier.
    :param seed: seed of the one generator everything is drawn from.
    :param position_bias: ``kappa``, shape ``(n_positions,)``, non-increasing with ``kappa[0] = 1``;
        default ``1 / (k + 1)``.
    :param logging_noise: standard deviation of the perturbation that separates the softmax logger's scores
        from the true relevance logits (0 = the logger scores by true relevance).
    :return: the validated :class:`~sim_data.logs.BanditLog` and the :class:`ClickTruth`.
    """
    n_rounds = check_int("n_rounds", n_rounds)
    n_actions = check_int("n_actions", n_actions, minimum=2)
    n_positions = check_int("n_positions", n_positions)
    n_features = check_int("n_features", n_features)
    if logging not in ("uniform", "softmax"):
        raise ValueError(f"logging must be 'uniform' or 'softmax', got {logging!r}")
    temperature = check_float("temperature", temperature, lower=0.0, lower_open=True)
    logging_noise = check_float("logging_noise", logging_noise, lower=0.0)
    kappa = _position_bias(position_bias, n_positions)
    rng = make_rng(seed)

    theta = rng.normal(0.0, 1.0 / np.sqrt(n_features), size=(n_features, n_actions))
    item_bias = rng.normal(-0.5, 0.5, size=n_actions)
    truth = ClickTruth(
        theta=theta,
        item_bias=item_bias,
        position_bias=kappa,
        logging=logging,
        temperature=temperature,
        logging_theta=theta + logging_noise * rng.normal(size=theta.shape),
        logging_item_bias=item_bias + logging_noise * rng.normal(size=n_actions),
        logging_position_shift=logging_noise * rng.normal(size=(n_positions, n_actions)),
        contexts=rng.normal(size=(n_rounds, n_features)),
        positions=rng.integers(0, n_positions, size=n_rounds),
        seed=int(seed),
    )
    x, k = truth.contexts, truth.positions
    if logging == "uniform":
        probs = np.full((n_rounds, n_actions), 1.0 / n_actions)
    else:
        scores = (truth.logging_item_bias[None, :] + x @ truth.logging_theta + truth.logging_position_shift[k]) / temperature
        probs = softmax(scores, axis=1)
    actions = sample_categorical(rng, probs)
    rows = np.arange(n_rounds)
    propensity = probs[rows, actions]
    relevance = sigmoid(item_bias[actions] + np.einsum("nf,fn->n", x, theta[:, actions]))
    clicks = (rng.random(n_rounds) < kappa[k] * relevance).astype(np.float64)
    gaps = 1 + rng.integers(0, 30, size=n_rounds)

    table = pd.DataFrame({
        "event_id": pd.Series(np.arange(n_rounds)).map("click-{:08d}".format),
        "timestamp": START_TIME + pd.to_timedelta(np.cumsum(gaps), unit="s"),
        "action": actions,
        "position": k.astype(np.int64),
        "propensity": propensity,
        "reward": clicks,
    })
    for j in range(n_features):
        table[f"context_{j}"] = x[:, j]
    truth.details = {"n_rounds": n_rounds, "n_actions": n_actions, "n_positions": n_positions,
                     "n_features": n_features, "logging": logging, "temperature": temperature, "seed": int(seed),
                     "logging_noise": logging_noise, "position_bias": kappa.tolist()}
    log = BanditLog.from_frame(
        table, n_actions=n_actions, n_positions=n_positions,
        provenance=Provenance("synthetic:click_world", licence="generated", details=dict(truth.details)),
        logging_policy=logging,
    )
    return log, truth
