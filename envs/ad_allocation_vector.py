"""Native numpy vector version of :class:`envs.ad_allocation.AdAllocationEnv` (same spec, batched)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector.utils import batch_space

from envs._vector_base import NumpyVectorEnv
from envs.ad_allocation import ad_spaces, check_ad_config
from envs.defaults import default_click_params
from envs.params import ClickParams


class AdAllocationVectorEnv(NumpyVectorEnv):
    """``num_envs`` independent ad-allocation days stepped together; see :class:`AdAllocationEnv` for the spec.

    Observations ``(num_envs, n_features + 2)``, actions ``(num_envs, K)``, rewards/terminated/truncated
    ``(num_envs,)``; info holds ``clicks``, ``spend``, ``context`` (and ``purchases`` when ``include_purchases``)
    as ``(num_envs,)`` arrays.
    :meth:`action_masks` gives ``(num_envs, K * (n_items + 1))``.

    :param num_envs: number of sub-environments.
    :param params: see :class:`AdAllocationEnv`; likewise ``budget``, ``arrivals_per_day``, ``include_purchases``.
    :param autoreset_mode: see :class:`envs._vector_base.NumpyVectorEnv`.
    """

    def __init__(self, num_envs: int = 1, params: ClickParams | None = None, budget: float = 100.0,
                 arrivals_per_day: int = 1000, include_purchases: bool = False, render_mode: str | None = None,
                 autoreset_mode: Any = "NextStep"):
        super().__init__(num_envs, autoreset_mode)
        self.params = default_click_params() if params is None else params
        check_ad_config(self.params, budget, arrivals_per_day)
        self.budget = float(budget)
        self.arrivals_per_day = int(arrivals_per_day)
        self.include_purchases = bool(include_purchases)
        self.single_observation_space, self.single_action_space = ad_spaces(self.params)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        p = self.params
        self._n_items, self._n_positions = p.n_items, p.n_positions
        cdf = np.cumsum(p.context_probs, axis=1)
        cdf[:, -1] = 1.0
        # day part d's CDF shifted by d, flattened: one searchsorted of u + d finds the context of any day part
        self._shifted_cdf = (cdf + np.arange(p.n_day_parts)[:, None]).ravel()
        self._features = p.context_features.astype(np.float32)
        self._n_features = self._features.shape[1]
        self._features_ext = np.concatenate([self._features, np.zeros((p.n_contexts, 2), np.float32)], axis=1)
        # padded lookup tables: column n_items is the empty slot (no click, no cost)
        self._relevance = np.concatenate([p.relevance, np.zeros((p.n_contexts, 1))], axis=1)
        self._relevance_flat = self._relevance.ravel()
        self._any_impression_cost = bool(p.cost_per_impression.any())
        self._cpc = np.append(p.cost_per_click, 0.0)
        self._cpi = np.append(p.cost_per_impression, 0.0)
        self._conversion = np.append(p.conversion_prob, 0.0)
        self._value = np.append(p.purchase_value, 0.0)
        self._high = np.full(self._n_positions, self._n_items + 1)
        self._rows = np.arange(self.num_envs)
        n = self.num_envs
        self._t = np.zeros(n, dtype=np.int64)
        self._remaining = np.full(n, self.budget)
        self._context = np.zeros(n, dtype=np.int64)

    def _draw_contexts(self, mask: np.ndarray | None = None) -> None:
        n_parts, n_contexts = self.params.n_day_parts, self.params.n_contexts
        t = self._t if mask is None else self._t[mask]
        u = self.np_random.random(t.shape[0])
        if n_parts == 1:
            ctx = np.searchsorted(self._shifted_cdf, u, side="right")
        else:
            part = np.minimum(t * n_parts // self.arrivals_per_day, n_parts - 1)
            ctx = np.searchsorted(self._shifted_cdf, u + part, side="right") - part * n_contexts
        ctx = np.minimum(ctx, n_contexts - 1)  # u + part can round up to part + 1 in float64
        if mask is None:
            self._context = ctx
        else:
            self._context[mask] = ctx

    def _reset_envs(self, mask: np.ndarray) -> None:
        self._t[mask] = 0
        self._remaining[mask] = self.budget
        self._draw_contexts(mask)

    def _observe(self) -> np.ndarray:
        obs = np.take(self._features_ext, self._context, axis=0)
        obs[:, -2] = self._t / self.arrivals_per_day
        obs[:, -1] = self._remaining / self.budget
        return obs

    def action_masks(self) -> np.ndarray:
        """``(num_envs, K * (n_items + 1))`` bool masks; see :meth:`AdAllocationEnv.action_masks`."""
        masks = np.ones((self.num_envs, self._n_positions, self._n_items + 1), dtype=bool)
        spent = self._remaining <= 0
        masks[spent, :, : self._n_items] = False
        return masks.reshape(self.num_envs, -1)

    def _advance(self, actions: Any):
        items = self._int_actions(actions, (self.num_envs, self._n_positions), self._high)
        items = items.copy()
        for k in range(1, self._n_positions):  # a duplicate of an earlier slot is an empty slot
            dup = (items[:, :k] == items[:, k : k + 1]).any(axis=1)
            items[dup, k] = self._n_items
        items[self._remaining <= 0] = self._n_items  # budget spent: nothing is shown
        flat = self._context[:, None] * (self._n_items + 1) + items
        click_prob = np.take(self._relevance_flat, flat) * self.params.position_bias
        draws = self.np_random.random((self.num_envs, self._n_positions))
        clicked = draws < click_prob
        spend = (clicked * np.take(self._cpc, items)).sum(axis=1)
        if self._any_impression_cost:
            spend += np.take(self._cpi, items).sum(axis=1)
        clicks = clicked.sum(axis=1)
        self._remaining = np.maximum(self._remaining - spend, 0.0)
        info = {"clicks": clicks, "spend": spend, "context": self._context}
        if self.include_purchases:
            bought = clicked & (self.np_random.random((self.num_envs, self._n_positions)) < self._conversion[items])
            info["purchases"] = bought.sum(axis=1)
            rewards = clicks + (bought * self._value[items]).sum(axis=1)
        else:
            rewards = clicks.astype(np.float64)
        self._t += 1
        terminated = self._t >= self.arrivals_per_day
        self._draw_contexts()
        return rewards, terminated, np.zeros(self.num_envs, dtype=bool), info

    def oracle(self) -> dict[str, Any]:
        """The best slate per context and, under ``budget_bound``, the daily budget's fluid bound on serving them;
        see :func:`envs.oracles.ad_allocation_oracle`."""
        from envs.oracles import ad_allocation_oracle

        return ad_allocation_oracle(self.params, self.budget, self.arrivals_per_day, self.include_purchases)
