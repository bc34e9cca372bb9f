"""Native numpy vector version of :class:`envs.inventory.InventoryEnv` (same spec, batched)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector.utils import batch_space

from envs._vector_base import NumpyVectorEnv
from envs.inventory import inventory_config
from envs.params import DemandParams, InventoryParams


class InventoryVectorEnv(NumpyVectorEnv):
    """``num_envs`` independent inventory systems stepped together; see :class:`InventoryEnv` for the spec.

    Observations ``(num_envs, N * max(L, 1))``; actions ``(num_envs,)`` or ``(num_envs, n_entries)``; info holds
    ``order``, ``demand``, ``sales``, ``lost`` ``(num_envs, N)`` and ``cost`` ``(num_envs,)``.

    :param num_envs: number of sub-environments.
    :param params: see :class:`InventoryEnv`; likewise the other arguments.
    :param autoreset_mode: see :class:`envs._vector_base.NumpyVectorEnv`.
    """

    def __init__(self, num_envs: int = 1, params: InventoryParams | None = None, demand: DemandParams | None = None,
                 action_mode: str = "quantity", max_action: int | None = None, prices: Any = None,
                 n_price_levels: int | None = None, horizon: int = 200, initial_on_hand: Any = None,
                 observation: str = "raw", action_type: str = "discrete", render_mode: str | None = None,
                 autoreset_mode: Any = "NextStep"):
        super().__init__(num_envs, autoreset_mode)
        self.config = cfg = inventory_config(params, demand, action_mode, max_action, prices, n_price_levels,
                                             horizon, initial_on_hand, observation, action_type)
        self.params = cfg.params
        self.demand = demand
        self.single_observation_space, self.single_action_space = cfg.spaces()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._n = self.params.n_products
        self._lead = self.params.lead_time
        self._pricing = cfg.price_grid is not None
        n_entries = self._n * (2 if self._pricing else 1)
        self._high = np.array([cfg.max_action + 1] * self._n + ([cfg.price_grid.shape[1]] * self._n if self._pricing else []))
        self._entries = n_entries
        self._cols = np.arange(self._n)
        n = self.num_envs
        self._t = np.zeros(n, dtype=np.int64)
        self._on_hand = np.tile(cfg.initial_on_hand, (n, 1))
        self._pipeline = np.zeros((n, self._n, self._lead))

    def _reset_envs(self, mask: np.ndarray) -> None:
        self._t[mask] = 0
        self._on_hand[mask] = self.config.initial_on_hand
        self._pipeline[mask] = 0.0

    def _observe(self) -> np.ndarray:
        pipe = self._pipeline[:, :, : max(self._lead - 1, 0)].reshape(self.num_envs, -1)
        raw = np.concatenate([self._on_hand, pipe], axis=1)
        return self.config.scale(raw) if self.config.observation == "scaled" else raw.astype(np.float32)

    def _advance(self, actions: Any):
        p, cfg, n = self.params, self.config, self.num_envs
        if cfg.action_type == "continuous":
            actions = cfg.integer_actions(actions)  # (-1, entries); the shape is checked next
        a = self._int_actions(actions, (n, self._entries), self._high)
        orders = a[:, : self._n].astype(np.float64)
        if cfg.action_mode == "order_up_to":
            orders = np.maximum(orders - self._on_hand - self._pipeline.sum(axis=2), 0.0)
        prices = None if cfg.fixed_prices is None else np.broadcast_to(cfg.fixed_prices, (n, self._n))
        if self._pricing:
            prices = cfg.price_grid[self._cols, a[:, self._n :]]
        cost = (p.fixed_order_cost * (orders > 0) + p.unit_order_cost * orders).sum(axis=1)
        if self._lead == 0:
            self._on_hand = self._on_hand + orders
        else:
            self._pipeline[:, :, -1] = orders
        if self.demand is None:
            demand = self.np_random.poisson(p.demand_mean, size=(n, self._n)).astype(np.float64)
        else:
            offered = None if p.backorders else self._on_hand > 0
            lam = self.demand.arrival_rate * self.demand.choice_probs(prices, offered)
            demand = self.np_random.poisson(lam).astype(np.float64)
        if p.backorders:
            sales = demand
            lost = np.zeros((n, self._n))
            self._on_hand = self._on_hand - demand
            cost += (p.holding_cost * np.maximum(self._on_hand, 0) + p.backorder_cost * np.maximum(-self._on_hand, 0)).sum(axis=1)
        else:
            sales = np.minimum(demand, self._on_hand)
            lost = demand - sales
            self._on_hand = self._on_hand - sales
            cost += (p.holding_cost * self._on_hand + p.lost_sale_cost * lost).sum(axis=1)
        if self._lead > 0:
            self._on_hand = self._on_hand + self._pipeline[:, :, 0]
            self._pipeline[:, :, :-1] = self._pipeline[:, :, 1:]
            self._pipeline[:, :, -1] = 0.0
        revenue = np.zeros(n) if prices is None else (prices * sales).sum(axis=1)
        self._t += 1
        info: dict[str, Any] = {"order": orders, "demand": demand, "sales": sales, "lost": lost, "cost": cost}
        if prices is not None:
            info["prices"] = np.asarray(prices)
        return revenue - cost, np.zeros(n, dtype=bool), self._t >= cfg.horizon, info

    def oracle(self) -> dict[str, Any]:
        """The benchmark for this instance; see :func:`envs.oracles.inventory_oracle`."""
        from envs.oracles import inventory_oracle

        return inventory_oracle(self.params)
