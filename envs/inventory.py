"""Inventory replenishment with a lead time, lost sales or backorders, and an optional joint price decision."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from scipy import stats

from envs.defaults import default_inventory_params
from envs.params import DemandParams, InventoryParams

ACTION_MODES = ("quantity", "order_up_to")
OBSERVATIONS = ("raw", "scaled")
ACTION_TYPES = ("discrete", "continuous")


@dataclass
class InventoryConfig:
    """The validated arguments shared by the scalar and the vector inventory environments."""

    params: InventoryParams
    demand: DemandParams | None
    action_mode: str
    max_action: int
    price_grid: np.ndarray | None  # (N, G) with joint pricing
    fixed_prices: np.ndarray | None  # (N,) with choice-model demand and no joint pricing
    initial_on_hand: np.ndarray  # (N,)
    horizon: int
    observation: str = "raw"
    action_type: str = "discrete"

    @property
    def n_entries(self) -> int:
        """Action entries: N orders, then N price indexes with joint pricing."""
        return self.n_products * (2 if self.price_grid is not None else 1)

    def integer_actions(self, actions: Any) -> np.ndarray:
        """Continuous actions ``(..., n_entries)`` in [-1, 1] (clipped) as the whole numbers they stand for:
        orders (levels) ``round((a + 1) / 2 * max_action)``, price indexes ``round((a + 1) / 2 * (G - 1))``;
        raises ``ValueError`` for a wrong size or a non-finite entry."""
        a = np.asarray(actions, dtype=np.float64)
        if a.size % self.n_entries or not np.all(np.isfinite(a)):
            raise ValueError(f"action: expected {self.n_entries} finite numbers in [-1, 1] per environment, "
                             f"found {actions!r}")
        a = a.reshape(-1, self.n_entries)
        top = np.full(self.n_entries, float(self.max_action))
        if self.price_grid is not None:
            top[self.n_products:] = self.price_grid.shape[1] - 1
        return np.rint((np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * top).astype(np.int64)

    @property
    def n_products(self) -> int:
        return self.params.n_products

    @property
    def mean_demand(self) -> np.ndarray:
        """``(N,)`` expected demand per period at the fixed (or middle grid) prices."""
        if self.demand is None:
            return self.params.demand_mean
        prices = self.fixed_prices if self.fixed_prices is not None else self.price_grid[:, self.price_grid.shape[1] // 2]
        return self.demand.arrival_rate * self.demand.choice_probs(prices)

    def observation_bound(self) -> float:
        """A finite bound on |net inventory| and on pipeline entries within an episode: the initial stock plus
        ``horizon`` periods of the largest order and of demand at its 1 - 1e-12 quantile."""
        top = self.demand.arrival_rate if self.demand is not None else float(self.params.demand_mean.max())
        demand_top = float(stats.poisson.ppf(1 - 1e-12, top)) + 1.0
        return float(self.initial_on_hand.max() + self.horizon * (self.max_action + demand_top))

    def _scales(self) -> tuple[np.ndarray, np.ndarray]:
        """``(N,)`` mean demand per period and per L + 1 periods, floored at 1e-9 (the ``scaled`` units)."""
        mean = np.maximum(np.asarray(self.mean_demand, dtype=np.float64), 1e-9)
        return mean, mean * (self.params.lead_time + 1)

    def scale(self, raw: np.ndarray) -> np.ndarray:
        """The ``scaled`` observation of raw observations ``(..., N * max(L, 1))``: every entry divided by its
        product's mean demand per period, then per product the inventory position (net inventory + pipeline)
        minus L + 1 periods of mean demand, divided by that lead-time mean; ``(..., N * max(L, 1) + N)`` float32."""
        n, lead = self.n_products, self.params.lead_time
        mean, lead_mean = self._scales()
        raw = np.asarray(raw, dtype=np.float64)
        net, pipe = raw[..., :n], raw[..., n:].reshape(*raw.shape[:-1], n, max(lead - 1, 0))
        position = net + pipe.sum(axis=-1)
        per_entry = np.concatenate([np.arange(n), np.repeat(np.arange(n), max(lead - 1, 0))])  # product of each entry
        out = np.concatenate([raw / mean[per_entry], (position - lead_mean) / lead_mean], axis=-1)
        return out.astype(np.float32)

    def spaces(self) -> tuple[spaces.Box, spaces.Space]:
        """The (single) observation and action spaces."""
        n, lead = self.n_products, self.params.lead_time
        n_obs = n * max(lead, 1)
        bound = self.observation_bound()
        low = np.zeros(n_obs, dtype=np.float32)
        if self.params.backorders:
            low[:n] = -bound
        high = np.full(n_obs, bound, dtype=np.float32)
        if self.observation == "scaled":
            mean, lead_mean = self._scales()
            top = bound * max(lead, 1) / lead_mean  # |position| <= net + pipeline entries
            low = np.concatenate([low.astype(np.float64) / mean.min(), -1.0 - top])
            high = np.concatenate([high.astype(np.float64) / mean.min(), top])
            low, high = low.astype(np.float32), high.astype(np.float32)
        observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        nvec = [self.max_action + 1] * n
        if self.price_grid is not None:
            nvec += [self.price_grid.shape[1]] * n
        if self.action_type == "continuous":
            action_space = spaces.Box(-1.0, 1.0, (len(nvec),), dtype=np.float32)
        elif len(nvec) == 1:
            action_space = spaces.Discrete(nvec[0])
        else:
            action_space = spaces.MultiDiscrete(np.array(nvec, dtype=np.int64))
        return observation_space, action_space


def inventory_config(params: InventoryParams | None, demand: DemandParams | None, action_mode: str,
                     max_action: int | None, prices: Any, n_price_levels: int | None, horizon: int,
                     initial_on_hand: Any, observation: str = "raw", action_type: str = "discrete") -> InventoryConfig:
    """Validate the inventory environments' arguments; raises ``ValueError`` naming the argument."""
    params = default_inventory_params() if params is None else params
    if not isinstance(params, InventoryParams):
        raise ValueError(f"params: expected InventoryParams, found {type(params).__name__}")
    if action_mode not in ACTION_MODES:
        raise ValueError(f"action_mode: expected one of {ACTION_MODES}, found {action_mode!r}")
    if observation not in OBSERVATIONS:
        raise ValueError(f"observation: expected one of {OBSERVATIONS}, found {observation!r}")
    if action_type not in ACTION_TYPES:
        raise ValueError(f"action_type: expected one of {ACTION_TYPES}, found {action_type!r}")
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon: expected a whole number >= 1, found {horizon}")
    price_grid = fixed_prices = None
    if demand is not None:
        if not isinstance(demand, DemandParams):
            raise ValueError(f"demand: expected DemandParams or None, found {type(demand).__name__}")
        if demand.n_products != params.n_products:
            raise ValueError(f"demand: expected {params.n_products} products (params.n_products), "
                             f"found {demand.n_products}; build InventoryParams(n_products={demand.n_products}, ...)")
        if n_price_levels is not None:
            if prices is not None:
                raise ValueError("prices: give fixed prices or n_price_levels (joint pricing), not both")
            price_grid = demand.price_grid(int(n_price_levels))
        else:
            fixed = (demand.price_low + demand.price_high) / 2 if prices is None else prices
            fixed_prices = np.broadcast_to(np.asarray(fixed, dtype=np.float64), (params.n_products,)).copy()
    elif prices is not None or n_price_levels is not None:
        raise ValueError("prices/n_price_levels: pricing needs a choice model; pass demand=DemandParams(...)")
    cfg = InventoryConfig(params, demand, action_mode, 0, price_grid, fixed_prices, np.zeros(params.n_products),
                          int(horizon), observation, action_type)
    mean = float(cfg.mean_demand.max())
    lead_mean = (params.lead_time + 1) * mean
    if max_action is None:
        if action_mode == "quantity":
            max_action = math.ceil(mean + 5 * math.sqrt(mean) + 1)
        else:
            max_action = math.ceil(lead_mean + 5 * math.sqrt(lead_mean) + 1)
    if int(max_action) != max_action or max_action < 1:
        raise ValueError(f"max_action: expected a whole number >= 1, found {max_action}")
    cfg.max_action = int(max_action)
    if initial_on_hand is None:
        initial_on_hand = np.round(cfg.mean_demand * (params.lead_time + 1))
    initial = np.broadcast_to(np.asarray(initial_on_hand, dtype=np.float64), (params.n_products,)).copy()
    if np.any(initial < 0) or np.any(initial != np.floor(initial)):
        raise ValueError(f"initial_on_hand: expected whole numbers >= 0, found {initial_on_hand}")
    cfg.initial_on_hand = initial
    return cfg


class InventoryEnv(gym.Env):
    """Periodic-review replenishment of N products with lead time L.

    ## Description
    Each period: (1) the policy orders q_j >= 0 units of each product (and, with joint pricing, sets prices);
    (2) the order is paid, ``fixed_order_cost * [q > 0] + unit_order_cost * q``, and joins the pipeline (with
    L = 0 it is on hand at once); (3) demand arrives: Poisson(``demand_mean``), or, with a choice model
    ``demand``, Poisson(``arrival_rate * P_j(prices, offered)``) where in lost-sales mode a product with nothing
    on hand at the start of the period is not offered, so its shoppers substitute as the MNL says (with
    backorders every product stays offered); (4) with backorders unmet demand waits (net inventory goes
    negative), else it is lost; (5) costs: ``holding_cost`` per unit on hand, ``backorder_cost`` per unit
    backlogged, ``lost_sale_cost`` per unit lost; (6) the order placed L periods ago arrives.
    So an order placed now is first usable L periods later, and with backorders the net inventory L periods
    after ordering up to S is S minus L + 1 periods of demand (the base-stock oracle's lead-time demand).

    ## Action space
    ``action_mode="quantity"``: order quantities 0..``max_action``; ``"order_up_to"``: target inventory positions
    0..``max_action`` (order ``max(0, S - (net inventory + pipeline))``). ``Discrete(max_action + 1)`` for one
    product without pricing, else ``MultiDiscrete``: N order entries, then (joint pricing) N price-grid indices.
    ``action_type="continuous"``: ``Box(-1, 1, (entries,))``, each entry mapped linearly onto its range and
    rounded (``InventoryConfig.integer_actions``), for learners with a Gaussian head that use the order of levels.

    ## Observation space
    ``observation="raw"``: ``Box(float32, (N * max(L, 1),))``: net inventory per product (negative = backlog),
    then the pipeline: for each product, the units arriving in 1, ..., L - 1 periods (product-major). Raw units;
    the bounds (``InventoryConfig.observation_bound``) are loose finite bounds that hold within an episode.
    ``observation="scaled"`` (what learners train best on): ``Box(float32, (N * max(L, 1) + N,))``: the same
    entries divided by the product's mean demand per period, then per product the inventory position (net +
    pipeline) minus L + 1 periods of mean demand, divided by that lead-time mean (0: a base-stock policy's
    natural level; see ``InventoryConfig.scale``).

    ## Rewards
    Sales revenue (choice-model demand only: price x units sold, backordered units counted when demanded) minus
    ordering, holding and backorder/lost-sale costs. Pure Poisson demand gives minus the period's cost.

    ## Starting state
    ``initial_on_hand`` on hand (default: round((L + 1) x mean demand)), an empty pipeline.

    ## Episode end
    A stationary problem: truncated after ``horizon`` periods; never terminated.

    ## Info
    ``order`` ``(N,)``, ``demand`` ``(N,)``, ``sales`` ``(N,)``, ``lost`` ``(N,)``, ``cost`` (this period's cost),
    ``prices`` ``(N,)`` (choice-model demand only).

    ## Arguments
    :param params: costs, lead time, Poisson demand; default :func:`envs.defaults.default_inventory_params`.
    :param demand: a choice model for the N products (``params.n_products`` must match); ``None``: Poisson.
    :param action_mode: ``"quantity"`` or ``"order_up_to"``.
    :param max_action: largest order (or level); default: mean + 5 sd of one period's (L+1 periods') demand.
    :param prices: fixed prices ``(N,)`` with a choice model (default: the middle of each price range).
    :param n_price_levels: with a choice model, make the price a decision on this many grid levels (joint pricing).
    :param horizon: periods per episode.
    :param initial_on_hand: scalar or ``(N,)`` starting stock.
    :param observation: ``"raw"`` (units) or ``"scaled"`` (in mean demands, with the inventory position).
    :param action_type: ``"discrete"`` (whole numbers) or ``"continuous"`` (``[-1, 1]`` per entry, rounded).
    :param render_mode: unused.
    """

    metadata = {"render_modes": []}

    def __init__(self, params: InventoryParams | None = None, demand: DemandParams | None = None,
                 action_mode: str = "quantity", max_action: int | None = None, prices: Any = None,
                 n_price_levels: int | None = None, horizon: int = 200, initial_on_hand: Any = None,
                 observation: str = "raw", action_type: str = "discrete", render_mode: str | None = None):
        self.config = inventory_config(params, demand, action_mode, max_action, prices, n_price_levels, horizon,
                                       initial_on_hand, observation, action_type)
        self.params = self.config.params
        self.demand = demand
        self.render_mode = render_mode
        self.observation_space, self.action_space = self.config.spaces()
        self._n = self.params.n_products
        self._lead = self.params.lead_time
        self._t = 0
        self._on_hand = self.config.initial_on_hand.copy()
        self._pipeline = np.zeros((self._n, self._lead))  # column i arrives after i + 1 more periods
        self._order_costs = bool(self.params.fixed_order_cost.any() or self.params.unit_order_cost.any())

    def _obs(self) -> np.ndarray:
        raw = np.concatenate([self._on_hand, self._pipeline[:, : max(self._lead - 1, 0)].ravel()])
        return self.config.scale(raw) if self.config.observation == "scaled" else raw.astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._on_hand = self.config.initial_on_hand.copy()
        self._pipeline[:] = 0.0
        return self._obs(), {}

    def _decode(self, action: Any) -> tuple[np.ndarray, np.ndarray | None]:
        cfg = self.config
        n_entries = cfg.n_entries
        if cfg.action_type == "continuous":
            if np.size(action) != n_entries:
                raise ValueError(f"action: expected {n_entries} finite numbers in [-1, 1], found {action!r}")
            a = cfg.integer_actions(action)[0]
        else:
            a = np.asarray(action).reshape(-1)
        if a.shape != (n_entries,) or a.min() < 0 or a[: self._n].max() > cfg.max_action:
            raise ValueError(f"action: expected {n_entries} whole numbers (orders in [0, {cfg.max_action}]"
                             f"{', then price indexes' if cfg.price_grid is not None else ''}), found {action!r}")
        orders = a[: self._n].astype(np.float64)
        if cfg.action_mode == "order_up_to":
            orders = np.maximum(orders - self._on_hand - self._pipeline.sum(axis=1), 0.0)
        prices = cfg.fixed_prices
        if cfg.price_grid is not None:
            idx = a[self._n :].astype(np.int64)
            if np.any(idx >= cfg.price_grid.shape[1]):
                raise ValueError(f"action: price indexes must be < {cfg.price_grid.shape[1]}, found {idx.tolist()}")
            prices = cfg.price_grid[np.arange(self._n), idx]
        return orders, prices

    def step(self, action: Any):
        p = self.params
        orders, prices = self._decode(action)
        cost = float(p.fixed_order_cost @ (orders > 0) + p.unit_order_cost @ orders) if self._order_costs else 0.0
        if self._lead == 0:
            self._on_hand = self._on_hand + orders
        else:
            self._pipeline[:, self._lead - 1] = orders
        if self.demand is None:
            demand = self.np_random.poisson(p.demand_mean).astype(np.float64)
        else:
            offered = None if p.backorders else self._on_hand > 0
            demand = self.np_random.poisson(self.demand.arrival_rate * self.demand.choice_probs(prices, offered))
            demand = demand.astype(np.float64)
        if p.backorders:
            sales = demand
            lost = np.zeros(self._n)
            self._on_hand = self._on_hand - demand
            cost += float(p.holding_cost @ np.maximum(self._on_hand, 0) + p.backorder_cost @ np.maximum(-self._on_hand, 0))
        else:
            sales = np.minimum(demand, self._on_hand)
            lost = demand - sales
            self._on_hand = self._on_hand - sales
            cost += float((p.holding_cost * self._on_hand + p.lost_sale_cost * lost).sum())
        if self._lead > 0:
            self._on_hand = self._on_hand + self._pipeline[:, 0]
            self._pipeline[:, :-1] = self._pipeline[:, 1:]
            self._pipeline[:, -1] = 0.0
        revenue = 0.0 if prices is None else float((prices * sales).sum())
        self._t += 1
        info: dict[str, Any] = {"order": orders, "demand": demand, "sales": sales, "lost": lost, "cost": cost}
        if prices is not None:
            info["prices"] = prices
        return self._obs(), revenue - cost, False, self._t >= self.config.horizon, info

    def oracle(self) -> dict[str, Any]:
        """The benchmark for this instance; see :func:`envs.oracles.inventory_oracle`."""
        from envs.oracles import inventory_oracle

        return inventory_oracle(self.params)
