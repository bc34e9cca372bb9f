"""Torch version of :class:`envs.pricing_vector.PricingVectorEnv`: the same spec, stepped as batched tensor ops on
a chosen device (CPU or CUDA), with Poisson demand drawn by ``torch.poisson`` on the device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector.utils import batch_space

from envs._torch_common import TorchVectorEnv
from envs.defaults import default_demand_params
from envs.params import BernoulliDemandParams, DemandParams
from envs.pricing import pricing_config


class TorchPricingVectorEnv(TorchVectorEnv):
    """``num_envs`` independent pricing seasons on ``device``; see :class:`envs.pricing.PricingEnv` for the spec
    (MNL or Bernoulli demand, discrete or continuous prices, finite season inventory, termination/truncation) and
    :class:`envs.pricing_vector.PricingVectorEnv` for the numpy version it matches in distribution.

    Shapes: observations ``(num_envs, 1)`` or ``(num_envs, 1 + N)`` float32; actions ``(num_envs,)`` (one
    product, discrete) or ``(num_envs, N)``; rewards/terminated/truncated ``(num_envs,)``; info ``prices``,
    ``units`` and (finite inventory) ``inventory``, each ``(num_envs, N)``. MNL units of product j are
    ``torch.poisson(arrival_rate * P_j)`` (the numpy env's table inversion is a CPU speed-up of the same law).

    :param num_envs: number of sub-environments.
    :param demand: the choice model; default :func:`envs.defaults.default_demand_params`.
    :param action_type: ``"discrete"`` or ``"continuous"``.
    :param n_price_levels: G, grid size for discrete actions in MNL mode (>= 2).
    :param horizon: T, periods per episode.
    :param inventory: ``None`` (unlimited), or a whole number or ``(N,)`` whole numbers: stock for the season.
    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``; see :func:`envs._torch_common.resolve_device`.
    :param dtype: ``torch.float32`` or ``torch.float64`` (prices, units, inventory, rewards).
    :param check_actions: check tensor actions in ``step_tensors`` (range or finiteness; one host sync per step).
    :param autoreset_mode: ``"NextStep"``, ``"SameStep"`` or ``"Disabled"``.
    :param render_mode: unused.
    """

    def __init__(self, num_envs: int = 1, demand: DemandParams | BernoulliDemandParams | None = None,
                 action_type: str = "discrete", n_price_levels: int = 5, horizon: int = 100, inventory: Any = None,
                 device: str | torch.device = "auto", dtype: torch.dtype = torch.float32, check_actions: bool = True,
                 autoreset_mode: Any = "NextStep", render_mode: str | None = None):
        super().__init__(num_envs, device, dtype, check_actions, autoreset_mode)
        self.demand = d = default_demand_params() if demand is None else demand
        self.config = cfg = pricing_config(d, action_type, n_price_levels, horizon, inventory)
        if cfg.initial_inventory is not None and self.dtype == torch.float32 and cfg.initial_inventory.max() > 2**24:
            raise ValueError(f"inventory: float32 counts whole units only up to 2**24, found {cfg.initial_inventory.max()}"
                             "; pass dtype=torch.float64")
        self.single_observation_space, self.single_action_space = cfg.spaces()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._n = n_products = cfg.n_products
        self._n_levels = cfg.grid.shape[1]
        self._grid_flat = self._tensor(cfg.grid.ravel())  # (N * G,): product j's level g at j * G + g
        self._col_offset = self._tensor(np.arange(n_products) * self._n_levels, torch.int64)
        self._high_np = np.full(n_products, self._n_levels)
        self._high = self._tensor(self._high_np, torch.int64)
        if cfg.bernoulli:
            self._cost = self._tensor([d.unit_cost])
            self._purchase_probs = self._tensor(d.purchase_probs)
        else:
            self._cost = self._tensor(d.unit_cost)
            self._price_low, self._price_high = self._tensor(d.price_low), self._tensor(d.price_high)
            self._single_class = d.intercepts.shape[0] == 1
            base = d.utilities_without_price()  # (C, N)
            self._base = self._tensor(base)
            self._beta = self._tensor(d.beta_price)  # (C,)
            self._class_probs = self._tensor(d.class_probs)  # (C,)
            # exp(utility) of the single class at every (product, level), flat like the grid
            self._grid_expu = self._tensor(np.exp(np.minimum(base[0][:, None] + d.beta_price[0] * cfg.grid, 50.0)).ravel())
            self._arrival_rate = float(d.arrival_rate)
        n = self.num_envs
        self._t = torch.zeros(n, dtype=torch.int64, device=self.device)
        if cfg.initial_inventory is None:
            self._initial = self._inventory = None
        else:
            self._initial = self._tensor(cfg.initial_inventory)
            self._share_scale = self._tensor(np.maximum(cfg.initial_inventory, 1.0))
            self._inventory = self._initial.repeat(n, 1)

    # -- state ----------------------------------------------------------------------------------------------------
    def _reset_envs(self, mask: torch.Tensor) -> None:
        self._t = torch.where(mask, 0, self._t)
        if self._inventory is not None:
            self._inventory = torch.where(mask[:, None], self._initial, self._inventory)

    def _observe(self) -> torch.Tensor:
        time_share = (self._t / self.config.horizon).to(torch.float32)[:, None]
        if self._inventory is None:
            return time_share
        return torch.cat([time_share, (self._inventory / self._share_scale).to(torch.float32)], dim=1)

    # -- actions --------------------------------------------------------------------------------------------------
    def _numpy_actions(self, actions: Any) -> torch.Tensor:
        shape = (self.num_envs, self._n)
        if self.config.action_type == "continuous":
            a = np.asarray(actions, dtype=np.float64)
            if a.size != self.num_envs * self._n:
                raise ValueError(f"actions: expected shape {shape}, found {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError("actions: expected finite numbers in [-1, 1]")
            return torch.as_tensor(a.reshape(shape), dtype=self.dtype, device=self.device)
        return torch.as_tensor(self._int_actions(actions, shape, self._high_np), device=self.device)

    def _tensor_actions(self, actions: torch.Tensor) -> torch.Tensor:
        shape = (self.num_envs, self._n)
        if self.config.action_type == "continuous":
            a = self._check_tensor(actions, shape, integer=False)
            if self.check_actions and not bool(torch.isfinite(a).all()):
                raise ValueError("actions: expected finite numbers in [-1, 1]")
            return a
        idx = self._check_tensor(actions, shape, integer=True)
        self._check_range(idx, self._high)
        return idx

    # -- dynamics -------------------------------------------------------------------------------------------------
    def _advance(self, actions: torch.Tensor):
        cfg = self.config
        flat = None
        if cfg.action_type == "continuous":
            span = self._price_high - self._price_low
            prices = self._price_low + (torch.clamp(actions, -1.0, 1.0) + 1.0) * 0.5 * span
        else:
            flat = self._col_offset + actions  # (n, N) index into the flat grid
            prices = self._grid_flat[flat]
        stocked = None if self._inventory is None else self._inventory > 0
        if cfg.bernoulli:
            bought = self._rand(self.num_envs) < self._purchase_probs[actions[:, 0]]
            units = bought[:, None].to(self.dtype)
        else:
            if flat is not None and self._single_class:
                expu = self._grid_expu[flat]  # (n, N)
            else:
                util = self._base + self._beta[:, None] * prices[:, None, :]  # (n, C, N)
                expu = torch.exp(torch.clamp(util, max=50.0))
            if stocked is not None:
                expu = expu * (stocked if expu.ndim == 2 else stocked[:, None, :])
            probs = expu / (1.0 + expu.sum(dim=-1, keepdim=True))
            if probs.ndim == 3:
                probs = (probs * self._class_probs[:, None]).sum(dim=1)
            units = torch.poisson(self._arrival_rate * probs, generator=self.generator)
        if self._inventory is not None:
            units = torch.minimum(units, self._inventory)
        rewards = ((prices - self._cost) * units).sum(dim=1)
        self._t = self._t + 1
        info: dict[str, Any] = {"prices": prices, "units": units}
        done_time = self._t >= cfg.horizon
        if self._inventory is None:
            terminated, truncated = torch.zeros_like(done_time), done_time
        else:
            self._inventory = self._inventory - units
            info["inventory"] = self._inventory
            terminated, truncated = done_time | ~(self._inventory > 0).any(dim=1), torch.zeros_like(done_time)
        return rewards, terminated, truncated, info

    def oracle(self) -> dict[str, Any]:
        """The benchmark for this instance; see :func:`envs.oracles.pricing_oracle`."""
        from envs.oracles import pricing_oracle

        return pricing_oracle(self.demand, horizon=self.config.horizon, inventory=self.config.initial_inventory,
                              grid=self.config.grid, action_type=self.config.action_type)
