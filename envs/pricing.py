"""Dynamic pricing of N products under a multinomial-logit choice model, or the Bernoulli single-product instance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.defaults import default_demand_params
from envs.params import BernoulliDemandParams, DemandParams

ACTION_TYPES = ("discrete", "continuous")


@dataclass
class PricingConfig:
    """The validated arguments shared by the scalar and the vector pricing environments.

    :param bernoulli: True for the Bernoulli single-product mode.
    :param n_products: N (1 in Bernoulli mode).
    :param grid: ``(N, G)`` the price grid (discrete actions; the K price points in Bernoulli mode).
    :param initial_inventory: ``(N,)`` season inventory, or ``None`` for unlimited stock.
    """

    bernoulli: bool
    n_products: int
    grid: np.ndarray
    initial_inventory: np.ndarray | None
    action_type: str
    horizon: int

    def spaces(self) -> tuple[spaces.Box, spaces.Space]:
        """The (single) observation and action spaces."""
        n_obs = 1 + (self.n_products if self.initial_inventory is not None else 0)
        observation_space = spaces.Box(0.0, 1.0, shape=(n_obs,), dtype=np.float32)
        if self.action_type == "continuous":
            action_space: spaces.Space = spaces.Box(-1.0, 1.0, shape=(self.n_products,), dtype=np.float32)
        elif self.n_products == 1:
            action_space = spaces.Discrete(self.grid.shape[1])
        else:
            action_space = spaces.MultiDiscrete(np.full(self.n_products, self.grid.shape[1], dtype=np.int64))
        return observation_space, action_space


def pricing_config(demand: DemandParams | BernoulliDemandParams, action_type: str, n_price_levels: int,
                   horizon: int, inventory: Any) -> PricingConfig:
    """Validate the pricing environments' arguments; raises ``ValueError`` naming the argument."""
    if action_type not in ACTION_TYPES:
        raise ValueError(f"action_type: expected one of {ACTION_TYPES}, found {action_type!r}")
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon: expected a whole number >= 1, found {horizon}")
    if isinstance(demand, BernoulliDemandParams):
        if action_type == "continuous":
            raise ValueError("action_type: the Bernoulli mode has only its K price points; use 'discrete'")
        bernoulli, n, grid = True, 1, demand.prices[None, :]
    elif isinstance(demand, DemandParams):
        bernoulli, n, grid = False, demand.n_products, demand.price_grid(int(n_price_levels))
    else:
        raise ValueError(f"demand: expected DemandParams or BernoulliDemandParams, found {type(demand).__name__}")
    initial = None
    if inventory is not None:
        initial = np.broadcast_to(np.asarray(inventory, dtype=np.float64), (n,)).copy()
        if np.any(initial < 0) or np.any(initial != np.floor(initial)) or not np.any(initial > 0):
            raise ValueError(f"inventory: expected whole numbers >= 0 (not all 0), one per product, found {inventory}")
    return PricingConfig(bernoulli, n, grid, initial, action_type, int(horizon))


class PricingEnv(gym.Env):
    """Set the prices of N products each period; shoppers arrive and choose by a multinomial logit.

    ## Description
    MNL mode (``demand`` is a :class:`DemandParams`): each period shoppers arrive as Poisson(``arrival_rate``)
    and each buys at most one unit, product j with the MNL probability ``P_j(prices, offered)`` (latent classes
    mixed by ``class_probs``). Units demanded of product j are therefore Poisson(``arrival_rate * P_j``),
    independent across products. With a finite season ``inventory`` (Ferreira, Simchi-Levi & Wang 2018), a product
    whose stock is 0 at the start of a period is left out of the choice set (its shoppers substitute as the MNL
    says) and sales are capped at the stock left: ``units = min(demand, stock)``.

    Bernoulli mode (``demand`` is a :class:`BernoulliDemandParams`, e.g. :func:`envs.defaults.ferreira_demand_params`):
    one shopper per period buys one unit with probability ``purchase_probs[k]`` at price point k, while stock lasts.

    ## Action space
    ``action_type="discrete"``: the index of each product's price on its grid of ``n_price_levels`` equally spaced
    prices from ``price_low`` to ``price_high`` (the K price points in Bernoulli mode): ``Discrete(G)`` for one
    product, else ``MultiDiscrete([G] * N)``. ``action_type="continuous"``: ``Box(-1, 1, (N,))``, mapped linearly
    to ``[price_low, price_high]`` (values outside are clipped).

    ## Observation space
    ``Box(0, 1, float32)``: ``t / horizon``, then (with finite inventory only) each product's remaining stock as a
    share of its initial stock: shape ``(1,)`` or ``(1 + N,)``.

    ## Rewards
    Profit ``sum_j (price_j - unit_cost_j) * units_j``.

    ## Episode end
    With finite inventory the season ends: terminated at t = ``horizon`` or when every product is sold out.
    Without inventory the problem is stationary: truncated at t = ``horizon``.

    ## Info
    ``prices`` ``(N,)``, ``units`` ``(N,)``, ``inventory`` ``(N,)`` (finite inventory only).

    ## Arguments
    :param demand: the choice model; default :func:`envs.defaults.default_demand_params` (calibrated on the
        Cracker scanner panel; another fit: ``DemandParams.from_fit_dir``).
    :param action_type: ``"discrete"`` or ``"continuous"``.
    :param n_price_levels: G, grid size for discrete actions in MNL mode (>= 2).
    :param horizon: T, periods per episode.
    :param inventory: ``None`` (unlimited), or a whole number or ``(N,)`` whole numbers: stock for the season.
    :param render_mode: unused.
    """

    metadata = {"render_modes": []}

    def __init__(self, demand: DemandParams | BernoulliDemandParams | None = None, action_type: str = "discrete",
                 n_price_levels: int = 5, horizon: int = 100, inventory: Any = None, render_mode: str | None = None):
        self.demand = default_demand_params() if demand is None else demand
        self.config = pricing_config(self.demand, action_type, n_price_levels, horizon, inventory)
        self.render_mode = render_mode
        self.observation_space, self.action_space = self.config.spaces()
        cfg = self.config
        self._n = cfg.n_products
        if cfg.bernoulli:
            self._cost = np.array([self.demand.unit_cost])
        else:
            d = self.demand
            self._cost = d.unit_cost
            self._base = d.utilities_without_price()  # (C, N)
            self._beta = d.beta_price[:, None]  # (C, 1)
            self._class_probs = d.class_probs
            self._single_class = d.intercepts.shape[0] == 1
        self._cols = np.arange(self._n)
        self._t = 0
        self._inventory = None if cfg.initial_inventory is None else cfg.initial_inventory.copy()

    def _obs(self) -> np.ndarray:
        if self._inventory is None:
            return np.array([self._t / self.config.horizon], dtype=np.float32)
        share = self._inventory / np.maximum(self.config.initial_inventory, 1.0)
        return np.concatenate([[self._t / self.config.horizon], share]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._t = 0
        if self.config.initial_inventory is not None:
            self._inventory = self.config.initial_inventory.copy()
        return self._obs(), {}

    def prices_of(self, action: Any) -> np.ndarray:
        """``(N,)`` the prices an action sets; raises ``ValueError`` for an action outside the action space."""
        cfg = self.config
        if cfg.action_type == "continuous":
            a = np.asarray(action, dtype=np.float64).reshape(-1)
            if a.shape != (self._n,) or not np.all(np.isfinite(a)):
                raise ValueError(f"action: expected {self._n} finite numbers in [-1, 1], found {action!r}")
            low, high = self.demand.price_low, self.demand.price_high
            return low + (np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
        idx = np.asarray(action).reshape(-1)
        if idx.shape != (self._n,) or idx.min() < 0 or idx.max() >= cfg.grid.shape[1]:
            raise ValueError(f"action: expected {self._n} price index(es) in [0, {cfg.grid.shape[1] - 1}], found {action!r}")
        return cfg.grid[self._cols, idx.astype(np.int64)]

    def step(self, action: Any):
        prices = self.prices_of(action)
        in_stock = None if self._inventory is None else self._inventory > 0
        if self.config.bernoulli:
            k = int(np.asarray(action).reshape(-1)[0])
            bought = self.np_random.random() < self.demand.purchase_probs[k]
            units = np.array([1.0 if bought and (in_stock is None or in_stock[0]) else 0.0])
        else:
            if self._single_class:
                expu = np.exp(np.minimum(self._base[0] + self._beta[0, 0] * prices, 50.0))  # (N,)
                if in_stock is not None:
                    expu = expu * in_stock
                probs = expu / (1.0 + expu.sum())
            else:
                expu = np.exp(np.minimum(self._base + self._beta * prices, 50.0))  # (C, N)
                if in_stock is not None:
                    expu = expu * in_stock
                probs = self._class_probs @ (expu / (1.0 + expu.sum(axis=1, keepdims=True)))
            units = self.np_random.poisson(self.demand.arrival_rate * probs).astype(np.float64)
            if self._inventory is not None:
                units = np.minimum(units, self._inventory)
        reward = float(((prices - self._cost) * units).sum())
        self._t += 1
        info: dict[str, Any] = {"prices": prices, "units": units}
        if self._inventory is None:
            terminated, truncated = False, self._t >= self.config.horizon
        else:
            self._inventory = self._inventory - units
            info["inventory"] = self._inventory.copy()
            terminated, truncated = self._t >= self.config.horizon or not np.any(self._inventory > 0), False
        return self._obs(), reward, terminated, truncated, info

    def oracle(self) -> dict[str, Any]:
        """The benchmark for this instance; see :func:`envs.oracles.pricing_oracle`."""
        from envs.oracles import pricing_oracle

        return pricing_oracle(self.demand, horizon=self.config.horizon,
                              inventory=self.config.initial_inventory, grid=self.config.grid,
                              action_type=self.config.action_type)
