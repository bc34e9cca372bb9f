"""Native numpy vector version of :class:`envs.pricing.PricingEnv` (same spec, batched)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from gymnasium.vector.utils import batch_space

from envs._poisson import PoissonTable
from envs._vector_base import NumpyVectorEnv
from envs.defaults import default_demand_params
from envs.params import BernoulliDemandParams, DemandParams
from envs.pricing import pricing_config

MAX_TABLE_VECTORS = 4096  # up to this many grid price vectors, demand is sampled from precomputed CDF tables


class PricingVectorEnv(NumpyVectorEnv):
    """``num_envs`` independent pricing seasons stepped together; see :class:`PricingEnv` for the spec.

    Observations ``(num_envs, 1 [+ N])``; actions ``(num_envs,)`` (one product, discrete) or ``(num_envs, N)``;
    info holds ``prices`` and ``units`` as ``(num_envs, N)`` arrays (and ``inventory`` with finite stock).
    With discrete prices, unlimited stock and at most ``MAX_TABLE_VECTORS`` price vectors, the Poisson demand is
    drawn by exact table inversion (:class:`envs._poisson.PoissonTable`) instead of ``Generator.poisson``.

    :param num_envs: number of sub-environments.
    :param demand: see :class:`PricingEnv`; likewise ``action_type``, ``n_price_levels``, ``horizon``, ``inventory``.
    :param autoreset_mode: see :class:`envs._vector_base.NumpyVectorEnv`.
    """

    def __init__(self, num_envs: int = 1, demand: DemandParams | BernoulliDemandParams | None = None,
                 action_type: str = "discrete", n_price_levels: int = 5, horizon: int = 100, inventory: Any = None,
                 render_mode: str | None = None, autoreset_mode: Any = "NextStep"):
        super().__init__(num_envs, autoreset_mode)
        self.demand = default_demand_params() if demand is None else demand
        self.config = cfg = pricing_config(self.demand, action_type, n_price_levels, horizon, inventory)
        self.single_observation_space, self.single_action_space = cfg.spaces()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._n = cfg.n_products
        n = self.num_envs
        if cfg.bernoulli:
            self._cost = np.array([self.demand.unit_cost])
            self._purchase_probs = self.demand.purchase_probs
        self._table = None
        if not cfg.bernoulli:
            d = self.demand
            self._cost = d.unit_cost
            self._single_class = d.intercepts.shape[0] == 1
            self._base = d.utilities_without_price()  # (C, N)
            self._beta = d.beta_price  # (C,)
            self._class_probs = d.class_probs
            # discrete grid: exp(utility) of every (class, product, level) precomputed
            self._grid_expu = np.exp(np.minimum(self._base[:, :, None] + self._beta[:, None, None] * cfg.grid, 50.0))
            n_vectors = cfg.grid.shape[1] ** d.n_products
            if action_type == "discrete" and cfg.initial_inventory is None and n_vectors <= MAX_TABLE_VECTORS:
                # unlimited stock: demand rates depend on the price vector alone; sample them from CDF tables
                vectors = np.array(list(itertools.product(range(cfg.grid.shape[1]), repeat=d.n_products)))
                rates = d.arrival_rate * d.choice_probs(cfg.grid[np.arange(d.n_products), vectors])  # (V, N)
                self._table = PoissonTable(rates)
                vector_prices = cfg.grid[np.arange(d.n_products), vectors]  # (V, N)
                self._vector_prices = vector_prices.ravel()
                self._vector_margins = (vector_prices - d.unit_cost).ravel()
                self._place = cfg.grid.shape[1] ** np.arange(d.n_products - 1, -1, -1)
                self._flat_cols = np.arange(d.n_products)
        self._cols = np.arange(self._n)
        self._high = np.full(self._n, cfg.grid.shape[1])
        self._t = np.zeros(n, dtype=np.int64)
        self._inventory = None if cfg.initial_inventory is None else np.tile(cfg.initial_inventory, (n, 1))

    def _reset_envs(self, mask: np.ndarray) -> None:
        self._t[mask] = 0
        if self._inventory is not None:
            self._inventory[mask] = self.config.initial_inventory

    def _observe(self) -> np.ndarray:
        if self._inventory is None:
            return (self._t / self.config.horizon).astype(np.float32)[:, None]
        obs = np.empty((self.num_envs, 1 + self._n), dtype=np.float32)
        obs[:, 0] = self._t / self.config.horizon
        obs[:, 1:] = self._inventory / np.maximum(self.config.initial_inventory, 1.0)
        return obs

    def _decode(self, actions: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Prices ``(num_envs, N)`` and, for discrete actions, the grid indices ``(num_envs, N)``."""
        cfg = self.config
        if cfg.action_type == "continuous":
            a = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, self._n)
            if not np.all(np.isfinite(a)):
                raise ValueError("actions: expected finite numbers in [-1, 1]")
            low, high = self.demand.price_low, self.demand.price_high
            return low + (np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (high - low), None
        idx = self._int_actions(actions, (self.num_envs, self._n), self._high)
        return cfg.grid[self._cols, idx], idx

    def _advance(self, actions: Any):
        n = self.num_envs
        if self._table is not None:  # fast path: unlimited stock, discrete grid
            idx = self._int_actions(actions, (n, self._n), self._high)
            flat = (idx @ self._place)[:, None] * self._n + self._flat_cols
            units = self._table.sample(self.np_random, flat).astype(np.float64)
            rewards = (units * np.take(self._vector_margins, flat)).sum(axis=1)
            self._t += 1
            info = {"prices": np.take(self._vector_prices, flat), "units": units}
            return rewards, np.zeros(n, dtype=bool), self._t >= self.config.horizon, info
        prices, idx = self._decode(actions)
        if self.config.bernoulli:
            bought = self.np_random.random(n) < self._purchase_probs[idx[:, 0]]
            units = bought[:, None].astype(np.float64)
        else:
            if idx is not None and self._single_class:
                expu = self._grid_expu[0, self._cols, idx]  # (n, N)
            else:
                util = self._base[None, :, :] + self._beta[None, :, None] * prices[:, None, :]  # (n, C, N)
                expu = np.exp(np.minimum(util, 50.0))
            if self._inventory is not None:
                stocked = self._inventory > 0
                expu = expu * (stocked if expu.ndim == 2 else stocked[:, None, :])
            probs = expu / (1.0 + expu.sum(axis=-1, keepdims=True))
            if probs.ndim == 3:
                probs = np.einsum("ncj,c->nj", probs, self._class_probs)
            units = self.np_random.poisson(self.demand.arrival_rate * probs).astype(np.float64)
        if self._inventory is not None:
            units = np.minimum(units, self._inventory)
        rewards = ((prices - self._cost) * units).sum(axis=1)
        self._t += 1
        info: dict[str, Any] = {"prices": prices, "units": units}
        done_time = self._t >= self.config.horizon
        if self._inventory is None:
            terminated, truncated = np.zeros(n, dtype=bool), done_time
        else:
            self._inventory -= units
            info["inventory"] = self._inventory.copy()
            terminated, truncated = done_time | ~(self._inventory > 0).any(axis=1), np.zeros(n, dtype=bool)
        return rewards, terminated, truncated, info

    def oracle(self) -> dict[str, Any]:
        """The benchmark for this instance; see :func:`envs.oracles.pricing_oracle`."""
        from envs.oracles import pricing_oracle

        return pricing_oracle(self.demand, horizon=self.config.horizon,
                              inventory=self.config.initial_inventory, grid=self.config.grid,
                              action_type=self.config.action_type)
