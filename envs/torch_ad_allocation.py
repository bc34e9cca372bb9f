"""Torch version of :class:`envs.ad_allocation_vector.AdAllocationVectorEnv`: the same spec, stepped as batched
tensor ops on a chosen device (CPU or CUDA), for GPU training loops at large ``num_envs``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector.utils import batch_space

from envs._torch_common import TorchVectorEnv
from envs.ad_allocation import ad_spaces, check_ad_config
from envs.defaults import default_click_params
from envs.params import ClickParams


class TorchAdAllocationVectorEnv(TorchVectorEnv):
    """``num_envs`` independent ad-allocation days on ``device``; see :class:`envs.ad_allocation.AdAllocationEnv`
    for the spec (spaces, reward, duplicates, budget, termination) and
    :class:`envs.ad_allocation_vector.AdAllocationVectorEnv` for the numpy version it matches in distribution.

    Shapes: observations ``(num_envs, n_features + 2)`` float32, actions ``(num_envs, K)`` integers in
    ``[0, n_items]``, rewards/terminated/truncated ``(num_envs,)``; info ``clicks`` (int64), ``spend``,
    ``context`` (int64, the served segment) and with ``include_purchases`` ``purchases`` (int64), each
    ``(num_envs,)``. The random streams differ from the numpy env's (torch's generator, and the where-based
    resets draw a context for every sub-environment), so equal seeds give equal numbers only within this class
    on one device.

    :param num_envs: number of sub-environments.
    :param params: the click model; default :func:`envs.defaults.default_click_params`.
    :param budget: daily budget, > 0.
    :param arrivals_per_day: T, arrivals per day (episode length).
    :param include_purchases: add purchase value to the reward.
    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``; see :func:`envs._torch_common.resolve_device`.
    :param dtype: ``torch.float32`` or ``torch.float64`` (budget, rewards, probabilities).
    :param check_actions: range-check tensor actions in ``step_tensors`` (one host sync per step).
    :param autoreset_mode: ``"NextStep"``, ``"SameStep"`` or ``"Disabled"``.
    :param render_mode: unused.
    """

    def __init__(self, num_envs: int = 1, params: ClickParams | None = None, budget: float = 100.0,
                 arrivals_per_day: int = 1000, include_purchases: bool = False, device: str | torch.device = "auto",
                 dtype: torch.dtype = torch.float32, check_actions: bool = True, autoreset_mode: Any = "NextStep",
                 render_mode: str | None = None):
        super().__init__(num_envs, device, dtype, check_actions, autoreset_mode)
        self.params = p = default_click_params() if params is None else params
        check_ad_config(p, budget, arrivals_per_day)
        self.budget = float(budget)
        self.arrivals_per_day = int(arrivals_per_day)
        self.include_purchases = bool(include_purchases)
        self.single_observation_space, self.single_action_space = ad_spaces(p)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._n_items, self._n_positions = p.n_items, p.n_positions
        self._n_contexts, self._n_parts = p.n_contexts, p.n_day_parts
        cdf = np.cumsum(p.context_probs, axis=1)
        cdf[:, -1] = 1.0
        # day part d's CDF shifted by d (float64): one searchsorted of u + d finds the context of any day part
        self._shifted_cdf = self._tensor((cdf + np.arange(p.n_day_parts)[:, None]).ravel(), torch.float64)
        self._first_cdf = self._shifted_cdf[: p.n_contexts].contiguous()
        features = p.context_features.astype(np.float32)
        self._features_ext = self._tensor(np.concatenate([features, np.zeros((p.n_contexts, 2), np.float32)], axis=1),
                                          torch.float32)
        # padded lookup tables: column n_items is the empty slot (no click, no cost)
        self._relevance_flat = self._tensor(np.concatenate([p.relevance, np.zeros((p.n_contexts, 1))], axis=1).ravel())
        self._position_bias = self._tensor(p.position_bias)
        self._any_impression_cost = bool(p.cost_per_impression.any())
        self._cpc = self._tensor(np.append(p.cost_per_click, 0.0))
        self._cpi = self._tensor(np.append(p.cost_per_impression, 0.0))
        self._conversion = self._tensor(np.append(p.conversion_prob, 0.0))
        self._value = self._tensor(np.append(p.purchase_value, 0.0))
        self._high_np = np.full(self._n_positions, self._n_items + 1)
        self._high = self._tensor(self._high_np, torch.int64)
        n = self.num_envs
        self._t = torch.zeros(n, dtype=torch.int64, device=self.device)
        self._remaining = torch.full((n,), self.budget, dtype=self.dtype, device=self.device)
        self._context = torch.zeros(n, dtype=torch.int64, device=self.device)

    # -- state ----------------------------------------------------------------------------------------------------
    def _contexts_at(self, t: torch.Tensor | None) -> torch.Tensor:
        """``(num_envs,)`` int64 contexts for arrivals at times ``t`` (``None``: t = 0, day part 0)."""
        u = self._rand(self.num_envs, dtype=torch.float64)
        if t is None or self._n_parts == 1:
            ctx = torch.searchsorted(self._first_cdf, u, right=True)
        else:
            part = torch.clamp(t * self._n_parts // self.arrivals_per_day, max=self._n_parts - 1)
            ctx = torch.searchsorted(self._shifted_cdf, u + part, right=True) - part * self._n_contexts
        return torch.clamp(ctx, 0, self._n_contexts - 1)  # u + part may round up to part + 1

    def _reset_envs(self, mask: torch.Tensor) -> None:
        self._t = torch.where(mask, 0, self._t)
        self._remaining = torch.where(mask, self.budget, self._remaining)
        self._context = torch.where(mask, self._contexts_at(None), self._context)

    def _observe(self) -> torch.Tensor:
        obs = self._features_ext[self._context]
        obs[:, -2] = self._t / self.arrivals_per_day
        obs[:, -1] = self._remaining / self.budget
        return obs

    def action_masks_tensor(self) -> torch.Tensor:
        """``(num_envs, K * (n_items + 1))`` bool tensor on the device; see :meth:`AdAllocationEnv.action_masks`."""
        masks = torch.ones((self.num_envs, self._n_positions, self._n_items + 1), dtype=torch.bool, device=self.device)
        masks[:, :, : self._n_items] = (self._remaining > 0)[:, None, None]
        return masks.reshape(self.num_envs, -1)

    def action_masks(self) -> np.ndarray:
        """``(num_envs, K * (n_items + 1))`` bool masks (numpy, for MaskablePPO)."""
        return self.action_masks_tensor().cpu().numpy()

    # -- actions --------------------------------------------------------------------------------------------------
    def _numpy_actions(self, actions: Any) -> torch.Tensor:
        items = self._int_actions(actions, (self.num_envs, self._n_positions), self._high_np)
        return torch.as_tensor(items, device=self.device)

    def _tensor_actions(self, actions: torch.Tensor) -> torch.Tensor:
        items = self._check_tensor(actions, (self.num_envs, self._n_positions), integer=True)
        self._check_range(items, self._high)
        return items

    # -- dynamics -------------------------------------------------------------------------------------------------
    def _advance(self, items: torch.Tensor):
        empty = self._n_items
        slots = [items[:, 0]]
        for k in range(1, self._n_positions):  # a duplicate of an earlier slot is an empty slot
            dup = (torch.stack(slots, dim=1) == items[:, k : k + 1]).any(dim=1)
            slots.append(torch.where(dup, empty, items[:, k]))
        items = torch.stack(slots, dim=1)
        items = torch.where((self._remaining <= 0)[:, None], empty, items)  # budget spent: nothing is shown
        flat = self._context[:, None] * (self._n_items + 1) + items
        click_prob = self._relevance_flat[flat] * self._position_bias
        clicked = self._rand(self.num_envs, self._n_positions) < click_prob
        spend = (clicked * self._cpc[items]).sum(dim=1)
        if self._any_impression_cost:
            spend = spend + self._cpi[items].sum(dim=1)
        clicks = clicked.sum(dim=1)
        self._remaining = torch.clamp(self._remaining - spend, min=0.0)
        info = {"clicks": clicks, "spend": spend, "context": self._context}
        rewards = clicks.to(self.dtype)
        if self.include_purchases:
            bought = clicked & (self._rand(self.num_envs, self._n_positions) < self._conversion[items])
            info["purchases"] = bought.sum(dim=1)
            rewards = rewards + (bought * self._value[items]).sum(dim=1)
        self._t = self._t + 1
        terminated = self._t >= self.arrivals_per_day
        self._context = self._contexts_at(self._t)
        return rewards, terminated, torch.zeros_like(terminated), info

    def oracle(self) -> dict[str, Any]:
        """The best slate per context and, under ``budget_bound``, the daily budget's fluid bound on serving them;
        see :func:`envs.oracles.ad_allocation_oracle`."""
        from envs.oracles import ad_allocation_oracle

        return ad_allocation_oracle(self.params, self.budget, self.arrivals_per_day, self.include_purchases)
