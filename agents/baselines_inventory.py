"""Inventory baselines tuned by exact computation: base-stock, (s, S), and the myopic and optimal lost-sales rules.

Every policy is a callable ``act(obs) -> actions`` on a batch of :class:`envs.inventory.InventoryEnv` observations
``(n, N * max(L, 1))`` (net inventory per product, then each product's pipeline ``o_1..o_{L-1}``, ``o_i`` arriving
in i periods), so :func:`agents.evaluate.evaluate_policy` runs it on the vector env.

Exact tuning:

* **Base-stock with backorders**: :func:`envs.oracles.base_stock_backorders` (lead-time demand over L + 1 periods).
* **(s, S) with backorders** and a fixed ordering cost K (Zheng & Federgruen 1991): with renewal masses
  ``m(0) = 1 / (1 - p_0)``, ``m(j) = sum_{i=1..j} p_i m(j - i) / (1 - p_0)`` of one period's demand pmf ``p``,
  the average cost is ``(K + sum_{j<S-s} m(j) G(S - j)) / sum_{j<S-s} m(j) + c * mean`` where
  ``G(y) = h E(y - D_{L+1})^+ + b E(D_{L+1} - y)^+``; :func:`tune_s_S` enumerates (s, S).
* **Lost sales** (one product, lead time 1..4): the optimal policy and the best base-stock level by relative
  value iteration (:func:`envs.lost_sales.lost_sales_optimal`), and the *myopic* policy (Zipkin 2008: order the
  quantity that minimises the expected cost of the period in which it arrives), whose exact average cost is found
  by evaluating it on the same Markov chain (:func:`myopic_lost_sales`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from envs import lost_sales as _ls
from envs.oracles import base_stock_backorders
from envs.params import InventoryParams

# ----------------------------------------------------------------------------------------------- helpers


def _check_layout(n_products: int, lead_time: int) -> tuple[int, int]:
    if int(n_products) != n_products or n_products < 1:
        raise ValueError(f"n_products: expected a whole number >= 1, found {n_products}")
    if int(lead_time) != lead_time or lead_time < 0:
        raise ValueError(f"lead_time: expected a whole number >= 0, found {lead_time}")
    return int(n_products), int(lead_time)


def inventory_position(obs: np.ndarray, n_products: int, lead_time: int) -> np.ndarray:
    """Inventory position (net inventory + pipeline) per product from a batch of observations.

    :param obs: ``(n, N * max(L, 1))`` observations of :class:`envs.inventory.InventoryEnv`.
    :return: ``(n, N)``.
    """
    n_products, lead_time = _check_layout(n_products, lead_time)
    obs = np.asarray(obs, dtype=np.float64)
    if obs.ndim == 1:
        obs = obs[None, :]
    width = n_products * max(lead_time, 1)
    if obs.ndim != 2 or obs.shape[1] != width:
        raise ValueError(f"obs: expected shape (n, {width}) for {n_products} product(s) with lead time {lead_time}, "
                         f"found {obs.shape}")
    position = obs[:, :n_products].copy()
    if lead_time > 1:
        position += obs[:, n_products:].reshape(obs.shape[0], n_products, lead_time - 1).sum(axis=2)
    return position


# ----------------------------------------------------------------------------------------------- policies


class BaseStockPolicy:
    """Order up to level ``S_j`` of each product every period.

    :param levels: scalar or ``(N,)`` base-stock levels.
    :param n_products: N.
    :param lead_time: L (to read the pipeline out of the observation).
    :param action_mode: the env's ``"order_up_to"`` (the action is the level) or ``"quantity"`` (the action is
        ``max(S - position, 0)``, capped at ``max_action``).
    :param max_action: the env's largest action.
    """

    def __init__(self, levels: Any, n_products: int = 1, lead_time: int = 0, action_mode: str = "order_up_to",
                 max_action: int | None = None):
        self.n_products, self.lead_time = _check_layout(n_products, lead_time)
        levels = np.broadcast_to(np.asarray(levels, dtype=np.float64), (self.n_products,))
        if np.any(levels < 0) or np.any(levels != np.floor(levels)):
            raise ValueError(f"levels: expected whole numbers >= 0, found {levels.tolist()}")
        if action_mode not in ("order_up_to", "quantity"):
            raise ValueError(f"action_mode: expected 'order_up_to' or 'quantity', found {action_mode!r}")
        if max_action is not None and np.any(levels > max_action) and action_mode == "order_up_to":
            raise ValueError(f"levels: {levels.tolist()} exceed the env's max_action {max_action}")
        self.levels = levels.astype(np.int64)
        self.action_mode = action_mode
        self.max_action = max_action

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """``(n,)`` (one product) or ``(n, N)`` actions."""
        obs = np.asarray(obs)
        n = obs.shape[0] if obs.ndim == 2 else 1
        if self.action_mode == "order_up_to":
            actions = np.tile(self.levels, (n, 1))
        else:
            position = inventory_position(obs, self.n_products, self.lead_time)
            actions = np.maximum(self.levels - position, 0).astype(np.int64)
            if self.max_action is not None:
                actions = np.minimum(actions, self.max_action)
        return actions[:, 0] if self.n_products == 1 else actions


class SSPolicy:
    """(s, S): when the inventory position is at or below ``s``, order up to ``S``; else order nothing.
    For the env's ``action_mode="quantity"`` (an order-up-to action cannot say "order nothing" with a backlog).

    :param s: scalar or ``(N,)`` reorder points.
    :param S: scalar or ``(N,)`` order-up-to levels, > s.
    :param n_products: N.
    :param lead_time: L.
    :param max_action: the env's largest order (orders are capped at it).
    """

    def __init__(self, s: Any, S: Any, n_products: int = 1, lead_time: int = 0, max_action: int | None = None):
        self.n_products, self.lead_time = _check_layout(n_products, lead_time)
        self.s = np.broadcast_to(np.asarray(s, dtype=np.float64), (self.n_products,)).copy()
        self.S = np.broadcast_to(np.asarray(S, dtype=np.float64), (self.n_products,)).copy()
        if np.any(self.S <= self.s):
            raise ValueError(f"S: expected S > s for every product, found s={self.s.tolist()}, S={self.S.tolist()}")
        self.max_action = max_action

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        position = inventory_position(obs, self.n_products, self.lead_time)
        orders = np.where(position <= self.s, self.S - position, 0.0).astype(np.int64)
        if self.max_action is not None:
            orders = np.minimum(orders, self.max_action)
        return orders[:, 0] if self.n_products == 1 else orders


class LostSalesTablePolicy:
    """A lost-sales policy given as an order per state, e.g. the optimal or the myopic policy.

    :param table: ``(max_on_hand + 1, [max_order + 1] * (L - 1))`` orders indexed by (on hand, o_1, ..., o_{L-1})
        (the layout of :class:`envs.lost_sales.LostSalesSolution`); observations beyond the table are clipped
        to its edge.
    :param max_action: the env's largest order (orders are capped at it).
    """

    def __init__(self, table: np.ndarray, max_action: int | None = None):
        table = np.asarray(table)
        if table.ndim < 1 or table.dtype.kind not in "iu" or (table < 0).any():
            raise ValueError("table: expected an array of whole-number orders >= 0 indexed by state")
        self.table = table.astype(np.int64)
        self.lead_time = max(table.ndim, 1)
        self.max_action = max_action

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim == 1:
            obs = obs[None, :]
        if obs.shape[1] != self.table.ndim:
            raise ValueError(f"obs: expected {self.table.ndim} entries (on hand, then the pipeline), found {obs.shape[1]}")
        idx = tuple(np.clip(np.rint(obs[:, i]).astype(np.int64), 0, self.table.shape[i] - 1)
                    for i in range(self.table.ndim))
        orders = self.table[idx]
        return np.minimum(orders, self.max_action) if self.max_action is not None else orders


# ----------------------------------------------------------------------------------------------- (s, S)


def lead_time_cost(levels: np.ndarray, mean: float, lead_time: int, holding: float, backorder: float) -> np.ndarray:
    """``G(y) = h E(y - D)^+ + b E(D - y)^+`` with D ~ Poisson((L + 1) * mean), for whole ``levels`` (any sign)."""
    levels = np.asarray(levels, dtype=np.int64)
    lead_mean = (lead_time + 1) * mean
    top = int(max(stats.poisson.ppf(1 - 1e-12, lead_mean), levels.max(initial=0))) + 2
    d = np.arange(top + 1)
    pmf = stats.poisson.pmf(d, lead_mean)
    short = (np.maximum(d[None, :] - levels[:, None], 0) * pmf).sum(axis=1)
    over = levels - lead_mean + short
    return holding * over + backorder * short


def renewal_masses(mean: float, n: int) -> np.ndarray:
    """``m(0..n-1)``: expected periods the inventory position spends j units below S before falling to s or lower."""
    pmf = stats.poisson.pmf(np.arange(n), mean)
    m = np.zeros(n)
    m[0] = 1.0 / (1.0 - pmf[0])
    for j in range(1, n):
        m[j] = float(pmf[1 : j + 1] @ m[j - 1 :: -1][:j]) / (1.0 - pmf[0])
    return m


def s_S_cost(s: int, S: int, mean: float, lead_time: int, holding: float, backorder: float,
             fixed_order_cost: float = 0.0, unit_order_cost: float = 0.0) -> float:
    """Exact long-run average cost per period of (s, S) with Poisson(mean) demand and backorders."""
    if int(s) != s or int(S) != S or S <= s:
        raise ValueError(f"s, S: expected whole numbers with S > s, found s={s}, S={S}")
    span = int(S - s)
    m = renewal_masses(mean, span)
    g = lead_time_cost(S - np.arange(span), mean, lead_time, holding, backorder)
    return float((fixed_order_cost + m @ g) / m.sum() + unit_order_cost * mean)


def tune_s_S(mean: float, lead_time: int, holding: float, backorder: float, fixed_order_cost: float = 0.0,
             unit_order_cost: float = 0.0, max_level: int | None = None,
             max_span: int | None = None) -> tuple[int, int, float]:
    """The optimal (s, S) by enumeration of the exact cost (:func:`s_S_cost`).

    :param max_level: largest S searched (default: the 1 - 1e-9 quantile of lead-time demand plus the span).
    :param max_span: largest S - s searched (default ``ceil(sqrt(2 K mean / h)) * 3 + 10``, well past the EOQ).
    :return: ``(s, S, average cost per period)``.
    """
    if mean <= 0 or holding <= 0 or backorder <= 0 or fixed_order_cost < 0 or unit_order_cost < 0:
        raise ValueError("mean, holding, backorder: expected > 0; fixed_order_cost, unit_order_cost: expected >= 0")
    span_max = int(max_span or math.ceil(math.sqrt(2 * fixed_order_cost * mean / holding)) * 3 + 10)
    lead_mean = (lead_time + 1) * mean
    level_max = int(max_level or stats.poisson.ppf(1 - 1e-9, lead_mean) + span_max)
    m = renewal_masses(mean, span_max)
    cum_m = np.cumsum(m)
    best = (0, 0, np.inf)
    for S in range(0, level_max + 1):
        g = lead_time_cost(S - np.arange(span_max), mean, lead_time, holding, backorder)
        costs = (fixed_order_cost + np.cumsum(m * g)) / cum_m  # index span - 1
        k = int(np.argmin(costs))
        if costs[k] < best[2] - 1e-12:
            best = (S - (k + 1), S, float(costs[k]))
    return best[0], best[1], best[2] + unit_order_cost * mean


def tune_base_stock(params: InventoryParams) -> tuple[np.ndarray, float]:
    """Exact optimal base-stock levels ``(N,)`` and their total cost per period.

    Backorders: :func:`envs.oracles.base_stock_backorders` per product. Lost sales (one product, L in 1..4): the
    best level searched by value iteration (:func:`envs.lost_sales.lost_sales_optimal`).
    """
    if params.backorders:
        res = [base_stock_backorders(m, params.lead_time, h, b) for m, h, b in
               zip(params.demand_mean, params.holding_cost, params.backorder_cost, strict=True)]
        return np.array([s for s, _ in res]), float(sum(c for _, c in res))
    if params.n_products != 1:
        raise ValueError("params: the lost-sales base-stock search is for one product")
    sol = _ls.lost_sales_optimal(float(params.demand_mean[0]), params.lead_time, float(params.holding_cost[0]),
                                 float(params.lost_sale_cost[0]))
    return np.array([sol.base_stock_level]), sol.base_stock_cost


# ----------------------------------------------------------------------------------------------- lost sales


@dataclass
class MyopicSolution:
    """The myopic lost-sales policy and its exact average cost.

    :param policy: orders ``(max_on_hand + 1, [max_order + 1] * (L - 1))`` (the layout of the VI policy).
    :param average_cost: its long-run average cost per period.
    """

    policy: np.ndarray
    average_cost: float


def myopic_lost_sales(mean: float, lead_time: int, holding: float = 1.0, penalty: float = 4.0,
                      max_on_hand: int | None = None, max_order: int | None = None,
                      tol: float = 1e-4) -> MyopicSolution:
    """Zipkin's myopic policy: order ``q`` minimising ``E c(X + q)``, the expected holding and lost-sale cost of the
    period in which the order arrives (X: on hand then, before the order, found by propagating the on-hand
    distribution through L periods of demand and the pipeline's arrivals). Evaluated exactly by relative value
    iteration on the truncated chain of :func:`envs.lost_sales.lost_sales_optimal` (same caps by default).

    :param mean: Poisson demand mean per period.
    :param lead_time: L in 1..4.
    :param holding: h per unit on hand at the end of a period.
    :param penalty: p per lost sale.
    """
    if mean <= 0 or holding < 0 or penalty < 0:
        raise ValueError(f"mean: expected > 0, holding, penalty: >= 0; found {mean}, {holding}, {penalty}")
    if int(lead_time) != lead_time or not 1 <= lead_time <= 4:
        raise ValueError(f"lead_time: expected a whole number in 1..4, found {lead_time}")
    cap = int(max_on_hand or math.ceil(3 * mean + 6 * math.sqrt(mean)))
    max_q = int(max_order or math.ceil(mean + 4 * math.sqrt(mean)))
    trans, cost = _ls._setup(mean, cap, holding, penalty)
    shape = (cap + 1,) + (max_q + 1,) * (lead_time - 1)
    states = np.indices(shape).reshape(len(shape), -1).T  # (n_states, L): on hand, o_1..o_{L-1}
    n_states = states.shape[0]
    dist = np.zeros((n_states, cap + 1))
    dist[np.arange(n_states), states[:, 0]] = 1.0
    arrivals = [states[:, i] for i in range(1, lead_time)] + [np.zeros(n_states, dtype=np.int64)]
    for arrive in arrivals:  # L periods of demand; o_i arrives after the i-th
        dist = dist @ trans
        shifted = np.zeros_like(dist)
        for a in np.unique(arrive):
            rows = arrive == a
            target = np.minimum(np.arange(cap + 1) + a, cap)
            block = np.zeros((int(rows.sum()), cap + 1))
            np.add.at(block.T, target, dist[rows].T)
            shifted[rows] = block
        dist = shifted
    cost_after = cost[np.minimum(np.arange(cap + 1)[:, None] + np.arange(max_q + 1)[None, :], cap)]  # (y, q)
    orders = np.argmin(dist @ cost_after, axis=1).reshape(shape)
    shift_index = np.minimum(np.arange(cap + 1)[:, None] + np.arange(max_q + 1)[None, :], cap)
    average = _ls._policy_cost(orders, trans, cost, shift_index, tol, np.zeros(shape))
    return MyopicSolution(policy=orders, average_cost=average)
