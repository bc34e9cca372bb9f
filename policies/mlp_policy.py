"""A multi-layer perceptron policy evaluated in numpy: serve a trained network without torch.

:class:`MLPPolicy` holds the layers of an exported network (``agents/export.py`` builds one from a
stable-baselines3 model) and computes the same action distribution as the torch network:

- ``head="categorical"`` (PPO, A2C, MaskablePPO on ``Discrete`` / ``MultiDiscrete``): the output is the
  concatenation of one logit vector per slot; ``dist[i, :, k] = softmax(logits_k)``. Slots with fewer choices
  than ``n_actions`` (``MultiDiscrete`` with unequal sizes) give the extra actions probability 0.
- ``head="greedy"`` (DQN): the output is one Q-value per action; the distribution puts mass 1 on the argmax
  (the first one on ties, as torch's ``argmax``).
- ``head="box_mean"`` (SAC, TD3, PPO/A2C on ``Box``): the output is the mean action. With
  ``output_activation="tanh"`` (SAC, TD3) it is squashed by tanh and rescaled from [-1, 1] to
  ``[action_low, action_high]``; otherwise (PPO/A2C) it is clipped to the bounds. The deployable distribution is
  *degenerate*: mass 1 on the point of ``action_grid`` nearest to the mean (a continuous policy served on a
  price grid). :meth:`MLPPolicy.mean_action` gives the exact continuous action.

The forward pass: ``x = clip((obs - obs_mean) / sqrt(obs_var + obs_epsilon), -clip_obs, clip_obs)`` when
VecNormalize statistics are given, then ``h = act(h @ W_l + b_l)`` for the hidden layers and ``out = h @ W_L +
b_L`` (then ``tanh`` when ``output_activation="tanh"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from policies.policy import Policy, context_matrix

HEADS = ("categorical", "greedy", "box_mean")
ACTIVATIONS = ("tanh", "relu", "identity")


def _activate(x: np.ndarray, name: str) -> np.ndarray:
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    return x


def _finite(name: str, value: Any, ndim: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite numbers in {ndim} dimension(s), found shape {arr.shape}")
    return arr


class MLPPolicy(Policy):
    """A numpy MLP policy with the same action distribution as the torch network it was exported from.

    :param weights: per layer an array ``(n_in, n_out)``; the first ``n_in`` is the observation size.
    :param biases: per layer an array ``(n_out,)``.
    :param activation: hidden-layer activation: ``tanh`` (SB3's PPO/A2C default), ``relu`` (DQN/SAC/TD3) or
        ``identity``.
    :param head: ``categorical``, ``greedy`` or ``box_mean`` (see the module docstring).
    :param nvec: ``(n_positions,)`` choices per slot (``categorical``/``greedy``; ``[n]`` for ``Discrete``).
    :param output_activation: ``identity`` or ``tanh`` (applied to the last layer's output).
    :param action_low: ``(n_positions,)`` lower bounds of a ``Box`` action (``box_mean``).
    :param action_high: ``(n_positions,)`` upper bounds (``box_mean``).
    :param action_grid: ``(n_positions, n_actions)`` grid points, in action units, on which a ``box_mean`` policy's
        degenerate distribution lives; default: 11 evenly spaced points per dimension.
    :param obs_mean: ``(n_features,)`` VecNormalize running mean (``None``: no normalisation).
    :param obs_var: ``(n_features,)`` VecNormalize running variance.
    :param clip_obs: VecNormalize's clipping of normalised observations.
    :param obs_epsilon: VecNormalize's epsilon.
    :param feature_names: DataFrame columns the observation comes from, in order.
    """

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray], *, activation: str = "tanh",
                 head: str = "categorical", nvec: Any = None, output_activation: str = "identity",
                 action_low: Any = None, action_high: Any = None, action_grid: Any = None, obs_mean: Any = None,
                 obs_var: Any = None, clip_obs: float = 10.0, obs_epsilon: float = 1e-8,
                 feature_names: list[str] | None = None, n_actions: int | None = None, n_positions: int | None = None):
        if head not in HEADS:
            raise ValueError(f"head: expected one of {HEADS}, found {head!r}")
        for name, value in (("activation", activation), ("output_activation", output_activation)):
            if value not in ACTIVATIONS:
                raise ValueError(f"{name}: expected one of {ACTIVATIONS}, found {value!r}")
        if not weights or len(weights) != len(biases):
            raise ValueError(f"weights/biases: expected one bias per weight matrix (>= 1 layer), found "
                             f"{len(weights)} weight matrices and {len(biases)} biases")
        self.weights = [_finite(f"weights[{i}]", w, 2) for i, w in enumerate(weights)]
        self.biases = [_finite(f"biases[{i}]", b, 1) for i, b in enumerate(biases)]
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if b.shape[0] != w.shape[1]:
                raise ValueError(f"biases[{i}]: expected length {w.shape[1]} (columns of weights[{i}]), found {b.shape[0]}")
            if i and w.shape[0] != self.weights[i - 1].shape[1]:
                raise ValueError(f"weights[{i}]: expected {self.weights[i - 1].shape[1]} rows (the previous layer's "
                                 f"outputs), found {w.shape[0]}")
        n_out = self.weights[-1].shape[1]
        self.head, self.activation, self.output_activation = head, activation, output_activation
        if head in ("categorical", "greedy"):
            if nvec is None:
                raise ValueError(f"nvec: a {head} head needs the choices per slot, e.g. [5] for Discrete(5)")
            self.nvec = np.asarray(nvec, dtype=np.int64).reshape(-1)
            if self.nvec.size == 0 or (self.nvec < 1).any():
                raise ValueError(f"nvec: expected positive whole numbers, found {nvec}")
            if head == "greedy" and self.nvec.size != 1:
                raise ValueError("nvec: a greedy (Q-value) head has one slot; DQN supports Discrete actions only")
            if int(self.nvec.sum()) != n_out:
                raise ValueError(f"nvec: the network has {n_out} outputs but nvec {self.nvec.tolist()} needs "
                                 f"{int(self.nvec.sum())}")
            actions, positions = int(self.nvec.max()), int(self.nvec.size)
            self.action_low = self.action_high = self.action_grid = None
        else:
            if action_low is None or action_high is None:
                raise ValueError("action_low/action_high: a box_mean head needs the Box bounds")
            self.action_low = _finite("action_low", action_low, 1)
            self.action_high = _finite("action_high", action_high, 1)
            if self.action_low.shape != (n_out,) or self.action_high.shape != (n_out,) \
                    or not (self.action_high > self.action_low).all():
                raise ValueError(f"action_low/action_high: expected {n_out} bounds each with low < high")
            grid = np.linspace(self.action_low, self.action_high, 11, axis=1) if action_grid is None \
                else _finite("action_grid", action_grid, 2)
            if grid.shape[0] != n_out or grid.shape[1] < 1:
                raise ValueError(f"action_grid: expected shape ({n_out}, n_actions), found {grid.shape}")
            self.action_grid = grid
            self.nvec = None
            actions, positions = int(grid.shape[1]), n_out
        super().__init__(actions, positions)
        if (n_actions is not None and n_actions != actions) or (n_positions is not None and n_positions != positions):
            raise ValueError(f"n_actions/n_positions: the network gives ({actions}, {positions}), found "
                             f"({n_actions}, {n_positions})")
        self.obs_mean = self.obs_var = None
        if (obs_mean is None) != (obs_var is None):
            raise ValueError("obs_mean/obs_var: give both VecNormalize statistics or neither")
        n_in = self.weights[0].shape[0]
        if obs_mean is not None:
            self.obs_mean = _finite("obs_mean", obs_mean, 1)
            self.obs_var = _finite("obs_var", obs_var, 1)
            if self.obs_mean.shape != (n_in,) or self.obs_var.shape != (n_in,) or (self.obs_var < 0).any():
                raise ValueError(f"obs_mean/obs_var: expected {n_in} entries each (variances >= 0)")
        if not clip_obs > 0 or not obs_epsilon > 0:
            raise ValueError(f"clip_obs/obs_epsilon: expected positive numbers, found {clip_obs}, {obs_epsilon}")
        self.clip_obs, self.obs_epsilon = float(clip_obs), float(obs_epsilon)
        if feature_names is not None and len(feature_names) != n_in:
            raise ValueError(f"feature_names: {len(feature_names)} names for {n_in} inputs")
        self.feature_names = list(feature_names) if feature_names is not None else None

    @property
    def n_features(self) -> int:
        """The observation size."""
        return int(self.weights[0].shape[0])

    # ------------------------------------------------------------------ the forward pass

    def preprocess(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Observations ``(n_rounds, n_features)``, normalised by the VecNormalize statistics when present."""
        x = context_matrix(contexts, self.feature_names)
        if x.shape[1] != self.n_features:
            raise ValueError(f"contexts: expected {self.n_features} features, got {x.shape[1]}")
        if self.obs_mean is not None:
            x = np.clip((x - self.obs_mean) / np.sqrt(self.obs_var + self.obs_epsilon), -self.clip_obs, self.clip_obs)
        return x

    def forward(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        """The network's output ``(n_rounds, n_out)``: logits, Q-values or the (squashed) mean action."""
        h = self.preprocess(contexts)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            h = _activate(h, self.activation if i < last else self.output_activation)
        return h

    def logits(self, contexts: np.ndarray | pd.DataFrame, action_masks: np.ndarray | None = None) -> np.ndarray:
        """Per-slot scores ``(n_rounds, n_actions, n_positions)``; padding and masked actions are ``-inf``.

        :param action_masks: optional ``(n_rounds, sum(nvec))`` bool, MaskablePPO's flat mask (True = allowed).
        """
        if self.head == "box_mean":
            raise ValueError("logits: a box_mean policy has no logits; use mean_action()")
        out = self.forward(contexts)
        n = out.shape[0]
        if action_masks is not None:
            masks = np.asarray(action_masks, dtype=bool)
            if masks.shape != out.shape:
                raise ValueError(f"action_masks: expected shape {out.shape}, found {masks.shape}")
            if not all(m.any(axis=1).all() for m in np.split(masks, np.cumsum(self.nvec)[:-1], axis=1)):
                raise ValueError("action_masks: every slot needs at least one allowed action")
            out = np.where(masks, out, -np.inf)
        scores = np.full((n, self.n_actions, self.n_positions), -np.inf)
        for k, part in enumerate(np.split(out, np.cumsum(self.nvec)[:-1], axis=1)):
            scores[:, : part.shape[1], k] = part
        return scores

    def mean_action(self, contexts: np.ndarray | pd.DataFrame) -> np.ndarray:
        """The deterministic continuous action ``(n_rounds, n_positions)`` in the Box's units (``box_mean`` only)."""
        if self.head != "box_mean":
            raise ValueError(f"mean_action: only a box_mean policy has one; this head is {self.head!r}")
        out = self.forward(contexts)
        if self.output_activation == "tanh":
            return self.action_low + 0.5 * (out + 1.0) * (self.action_high - self.action_low)
        return np.clip(out, self.action_low, self.action_high)

    def action_dist(self, contexts: np.ndarray | pd.DataFrame, action_masks: np.ndarray | None = None) -> np.ndarray:
        """Probabilities ``(n_rounds, n_actions, n_positions)``; see the module docstring for each head.

        :param action_masks: optional MaskablePPO flat masks ``(n_rounds, sum(nvec))`` (categorical/greedy heads).
        """
        if self.head == "box_mean":
            mean = self.mean_action(contexts)  # (n, P)
            nearest = np.abs(mean[:, :, None] - self.action_grid[None, :, :]).argmin(axis=2)  # (n, P)
            dist = np.zeros((mean.shape[0], self.n_actions, self.n_positions))
            rows, cols = np.indices(nearest.shape)
            dist[rows, nearest, cols] = 1.0
            return dist
        scores = self.logits(contexts, action_masks)
        if self.head == "greedy":
            best = scores.argmax(axis=1)  # (n, P)
            dist = np.zeros_like(scores)
            rows, cols = np.indices(best.shape)
            dist[rows, best, cols] = 1.0
            return dist
        top = scores.max(axis=1, keepdims=True)
        e = np.exp(scores - top)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, contexts: np.ndarray | pd.DataFrame, action_masks: np.ndarray | None = None) -> np.ndarray:
        """The deterministic action in the environment's format: ``(n_rounds,)`` for one discrete slot, else
        ``(n_rounds, n_positions)`` (indices per slot, or the continuous mean action)."""
        if self.head == "box_mean":
            return self.mean_action(contexts)
        actions = self.logits(contexts, action_masks).argmax(axis=1)
        return actions[:, 0] if self.n_positions == 1 else actions

    # ------------------------------------------------------------------ saving

    def _params(self) -> dict[str, Any]:
        return {"activation": self.activation, "head": self.head, "output_activation": self.output_activation,
                "nvec": None if self.nvec is None else self.nvec.tolist(), "clip_obs": self.clip_obs,
                "obs_epsilon": self.obs_epsilon, "feature_names": self.feature_names,
                "n_layers": len(self.weights)}

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"weight_{i}": w for i, w in enumerate(self.weights)}
        arrays.update({f"bias_{i}": b for i, b in enumerate(self.biases)})
        for name in ("action_low", "action_high", "action_grid", "obs_mean", "obs_var"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        return arrays

    @classmethod
    def _from_saved(cls, n_actions, n_positions, params, arrays):
        params = dict(params)
        n_layers = int(params.pop("n_layers"))
        weights = [arrays.pop(f"weight_{i}") for i in range(n_layers)]
        biases = [arrays.pop(f"bias_{i}") for i in range(n_layers)]
        return cls(weights, biases, n_actions=n_actions, n_positions=n_positions, **params, **arrays)
