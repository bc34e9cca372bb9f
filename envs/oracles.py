"""Oracles: the best a policy could do under the true parameters, for benchmarks and regret.

- :func:`mnl_equal_markup_prices`: closed-form optimal prices of a one-class MNL (Lambert W).
- :func:`optimal_static_prices`: optimal static prices of any MNL (latent classes too), numerically.
- :func:`best_grid_prices`: the best price vector on a discrete grid.
- :func:`price_mixture_lp`: the fluid LP over price mixtures under inventory (Ferreira, Simchi-Levi & Wang 2018).
- :func:`base_stock_backorders`: the exact optimal base-stock level with backorders.
- :func:`envs.lost_sales.lost_sales_optimal`: value iteration for small lost-sales systems.
- :func:`best_slates`: the best slate per context when the ad budget does not bind.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from envs.lost_sales import lost_sales_optimal
from envs.params import BernoulliDemandParams, ClickParams, DemandParams, InventoryParams

MAX_GRID_VECTORS = 200_000


def expected_profit(demand: DemandParams, prices: np.ndarray) -> np.ndarray:
    """Expected profit per period ``arrival_rate * sum_j (p_j - c_j) P_j(p)``; prices ``(..., N)`` -> ``(...)``."""
    prices = np.asarray(prices, dtype=np.float64)
    return demand.arrival_rate * ((prices - demand.unit_cost) * demand.choice_probs(prices)).sum(axis=-1)


def mnl_equal_markup_prices(demand: DemandParams) -> np.ndarray:
    """Unconstrained optimal prices ``(N,)`` of a one-class MNL: every product gets the same markup
    ``m = (1 + W(sum_j exp(v_j + beta c_j - 1))) / -beta`` (v_j: utility without price, W: Lambert W).

    :raises ValueError: for latent classes (no closed form; use :func:`optimal_static_prices`).
    """
    if demand.intercepts.shape[0] != 1:
        raise ValueError("demand: the closed form needs one shopper class; use optimal_static_prices")
    v = demand.utilities_without_price()[0]
    beta = demand.beta_price[0]
    markup = (1.0 + special.lambertw(np.exp(v + beta * demand.unit_cost - 1.0).sum()).real) / -beta
    return demand.unit_cost + markup


def optimal_static_prices(demand: DemandParams, bounded: bool = True) -> tuple[np.ndarray, float]:
    """Prices maximising expected profit per period, by L-BFGS-B from several starts.

    :param bounded: keep prices within ``[price_low, price_high]`` (what the environment can set).
    :return: prices ``(N,)`` and expected profit per period.
    """
    n = demand.n_products
    low, high = demand.price_low, demand.price_high
    bounds = list(zip(low, high, strict=True)) if bounded else [(c, None) for c in demand.unit_cost]
    pooled = DemandParams(demand.product_names, demand.class_probs @ demand.intercepts,
                          float(demand.class_probs @ demand.beta_price), demand.unit_cost, low, high,
                          demand.arrival_rate, demand.outside_utility, demand.display_coef, demand.feature_coef,
                          demand.display, demand.feature)
    starts = [mnl_equal_markup_prices(pooled), (low + high) / 2, low.copy(), high.copy()]
    best_p, best_v = None, -np.inf
    for x0 in starts:
        x0 = np.clip(x0, low, high) if bounded else np.maximum(x0, demand.unit_cost)
        res = optimize.minimize(lambda p: -float(expected_profit(demand, p)), x0, method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-12, "gtol": 1e-9})
        if -res.fun > best_v:
            best_p, best_v = res.x, -float(res.fun)
    return np.asarray(best_p).reshape(n), best_v


def best_grid_prices(demand: DemandParams, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The best price vector on a grid, by enumeration.

    :param grid: ``(N, G)`` price levels per product.
    :return: grid indexes ``(N,)``, prices ``(N,)``, expected profit per period.
    """
    vectors = _grid_vectors(grid)
    profit = expected_profit(demand, grid[np.arange(grid.shape[0]), vectors])
    best = int(np.argmax(profit))
    return vectors[best], grid[np.arange(grid.shape[0]), vectors[best]], float(profit[best])


def _grid_vectors(grid: np.ndarray) -> np.ndarray:
    n, g = grid.shape
    if g**n > MAX_GRID_VECTORS:
        raise ValueError(f"grid: {g}^{n} price vectors is more than {MAX_GRID_VECTORS}; use fewer levels")
    return np.array(list(itertools.product(range(g), repeat=n)), dtype=np.int64).reshape(-1, n)


def price_mixture_lp(revenue: np.ndarray, consumption: np.ndarray, capacity: np.ndarray) -> tuple[float, np.ndarray]:
    """The fluid LP: ``max sum_v r_v x_v`` s.t. ``sum_v a_vj x_v <= b_j`` for each product, ``sum_v x_v <= 1``, x >= 0.

    :param revenue: ``(V,)`` expected revenue per period of price vector v.
    :param consumption: ``(V, N)`` expected units of each product sold per period at v.
    :param capacity: ``(N,)`` inventory per period (initial inventory / horizon).
    :return: the optimal value per period and the mixture ``x`` ``(V,)`` (the share of periods at each v).
    """
    consumption = np.asarray(consumption, dtype=np.float64).reshape(len(revenue), -1)
    a_ub = np.vstack([consumption.T, np.ones((1, len(revenue)))])
    b_ub = np.append(np.asarray(capacity, dtype=np.float64), 1.0)
    res = optimize.linprog(-np.asarray(revenue, dtype=np.float64), A_ub=a_ub, b_ub=b_ub, bounds=(0, None),
                           method="highs")
    if not res.success:
        raise ValueError(f"the price-mixture LP failed: {res.message}")
    return -float(res.fun), res.x


def ferreira_lp_bound(demand: BernoulliDemandParams, inventory: float, horizon: int) -> dict[str, Any]:
    """Ferreira et al.'s LP upper bound on expected revenue over a season of ``horizon`` periods.

    ``T * max sum_k p_k d_k x_k  s.t. sum_k d_k x_k <= inventory / T, sum_k x_k <= 1, x >= 0``.
    """
    per_period, mixture = price_mixture_lp((demand.prices - demand.unit_cost) * demand.purchase_probs,
                                           demand.purchase_probs[:, None], np.array([inventory / horizon]))
    return {"kind": "lp_bound", "value": per_period * horizon, "per_period": per_period,
            "price_mixture": mixture.tolist(), "prices": demand.prices.tolist()}


def pricing_oracle(demand: DemandParams | BernoulliDemandParams, horizon: int, inventory: np.ndarray | None,
                   grid: np.ndarray, action_type: str = "discrete") -> dict[str, Any]:
    """The benchmark of a pricing environment: static optimal prices, or the LP bound with finite inventory.

    ``value`` is the expected profit (or its upper bound) over one episode of ``horizon`` periods.
    """
    if isinstance(demand, BernoulliDemandParams):
        if inventory is not None:
            return ferreira_lp_bound(demand, float(inventory[0]), horizon)
        per_price = (demand.prices - demand.unit_cost) * demand.purchase_probs
        k = int(np.argmax(per_price))
        return {"kind": "static_prices", "price_index": k, "prices": [float(demand.prices[k])],
                "per_period": float(per_price[k]), "value": float(per_price[k]) * horizon}
    if inventory is None:
        if action_type == "continuous":
            prices, per_period = optimal_static_prices(demand)
            out = {"kind": "static_prices", "prices": prices.tolist(), "per_period": per_period}
        else:
            idx, prices, per_period = best_grid_prices(demand, grid)
            out = {"kind": "static_prices", "price_index": idx.tolist(), "prices": prices.tolist(),
                   "per_period": per_period}
        out["value"] = out["per_period"] * horizon
        return out
    if action_type == "continuous":
        grid = np.linspace(demand.price_low, demand.price_high, 11, axis=1) if demand.n_products <= 4 else grid
    vectors = _grid_vectors(grid)
    prices = grid[np.arange(grid.shape[0]), vectors]
    units = demand.arrival_rate * demand.choice_probs(prices)
    per_period, mixture = price_mixture_lp(((prices - demand.unit_cost) * units).sum(axis=1), units,
                                           np.asarray(inventory) / horizon)
    used = mixture > 1e-9
    return {"kind": "lp_bound", "value": per_period * horizon, "per_period": per_period,
            "price_vectors": prices[used].tolist(), "price_mixture": mixture[used].tolist(),
            "note": "LP over the price grid" + (" (11 levels; a grid bound for the continuous action)"
                                                 if action_type == "continuous" else "")}


def base_stock_backorders(mean: float, lead_time: int, holding: float, backorder: float) -> tuple[int, float]:
    """Exact optimal base-stock level with backorders and its expected cost per period.

    Lead-time demand D ~ Poisson((L + 1) * mean); cost(S) = h E(S - D)^+ + b E(D - S)^+, minimised over whole S.
    """
    if mean <= 0 or holding <= 0 or backorder <= 0:
        raise ValueError(f"mean, holding, backorder: expected > 0, found {mean}, {holding}, {backorder}")
    lead_mean = (lead_time + 1) * mean
    top = int(stats.poisson.ppf(1 - 1e-12, lead_mean)) + 2
    d = np.arange(top + 1)
    pmf = stats.poisson.pmf(d, lead_mean)
    levels = np.arange(top + 1)
    short = np.maximum(d[None, :] - levels[:, None], 0)
    expected_short = (short * pmf).sum(axis=1)  # the tail beyond ``top`` has mass < 1e-12
    expected_over = levels - lead_mean + expected_short
    cost = holding * expected_over + backorder * expected_short
    best = int(np.argmin(cost))
    return best, float(cost[best])


def inventory_oracle(params: InventoryParams) -> dict[str, Any]:
    """The benchmark of an inventory environment with Poisson demand and no ordering costs.

    Backorders: the exact optimal base-stock level of each product. Lost sales (one product, lead time 1..4):
    the optimal average cost by relative value iteration and the best base-stock level.
    """
    if np.any(params.fixed_order_cost > 0) or np.any(params.unit_order_cost > 0):
        raise ValueError("params: the oracles assume no ordering costs (fixed_order_cost = unit_order_cost = 0)")
    if params.backorders:
        results = [base_stock_backorders(m, params.lead_time, h, b) for m, h, b in
                   zip(params.demand_mean, params.holding_cost, params.backorder_cost, strict=True)]
        return {"kind": "base_stock", "levels": [s for s, _ in results],
                "cost_per_period": float(sum(c for _, c in results))}
    if params.n_products != 1 or not 1 <= params.lead_time <= 4:
        raise ValueError("params: the lost-sales oracle is for one product with lead time 1..4")
    sol = lost_sales_optimal(float(params.demand_mean[0]), params.lead_time, float(params.holding_cost[0]),
                             float(params.lost_sale_cost[0]))
    return {"kind": "lost_sales_optimal", "cost_per_period": sol.average_cost,
            "base_stock_level": sol.base_stock_level, "base_stock_cost_per_period": sol.base_stock_cost}


def best_slates(params: ClickParams, include_purchases: bool = False) -> dict[str, Any]:
    """Best slate per context when the budget does not bind: the top-K items by expected reward per
    examination, the best in the slot with the largest position bias.

    :return: ``slates`` ``(n_contexts, K)`` item ids, ``expected_reward`` ``(n_contexts,)`` per arrival, and
        ``expected_reward_per_arrival`` averaged over the day's context distribution (day parts weighted equally).
    """
    score = params.relevance * (1.0 + (params.conversion_prob * params.purchase_value if include_purchases else 0.0))
    k = params.n_positions
    slot_order = np.argsort(-params.position_bias, kind="stable")
    top = np.argsort(-score, axis=1, kind="stable")[:, :k]  # (C, K), best first
    slates = np.empty_like(top)
    slates[:, slot_order] = top
    expected = (score[np.arange(params.n_contexts)[:, None], top] * params.position_bias[slot_order]).sum(axis=1)
    mix = params.context_probs.mean(axis=0)
    return {"kind": "best_slates", "slates": slates.tolist(), "expected_reward": expected.tolist(),
            "expected_reward_per_arrival": float(mix @ expected)}


def check_slates(params: ClickParams, slates: Any) -> np.ndarray:
    """``slates`` (default: :func:`best_slates`) as an int64 ``(n_contexts, K)`` array of item ids; raises
    ``ValueError`` naming ``slates`` otherwise."""
    slates = np.asarray(best_slates(params)["slates"] if slates is None else slates)
    if slates.shape != (params.n_contexts, params.n_positions) or slates.dtype.kind not in "iu":
        raise ValueError(f"slates: expected whole-number item ids of shape ({params.n_contexts}, {params.n_positions}), "
                         f"found {slates.shape}")
    if slates.min() < 0 or slates.max() >= params.n_items:
        raise ValueError(f"slates: expected item ids in [0, {params.n_items - 1}]")
    return slates.astype(np.int64)


def slate_costs(params: ClickParams, slates: np.ndarray) -> np.ndarray:
    """Worst-case cost of each context's slate (every impression and every click paid), shape ``(n_contexts,)``."""
    return (params.cost_per_impression[slates] + params.cost_per_click[slates]).sum(axis=1)


def slate_ctr(params: ClickParams, slates: np.ndarray) -> np.ndarray:
    """Expected clicks of each context's slate, shape ``(n_contexts,)``."""
    rel = params.relevance[np.arange(params.n_contexts)[:, None], slates]
    return (rel * params.position_bias[None, :]).sum(axis=1)


def slate_expected_costs(params: ClickParams, slates: np.ndarray) -> np.ndarray:
    """Expected cost of each context's slate (impressions plus expected clicks' cost), shape ``(n_contexts,)``."""
    rel = params.relevance[np.arange(params.n_contexts)[:, None], slates] * params.position_bias[None, :]
    return (params.cost_per_impression[slates] + rel * params.cost_per_click[slates]).sum(axis=1)


def budget_fluid_bound(params: ClickParams, budget: float, arrivals_per_day: int, slates: Any = None,
                       values: Any = None) -> dict[str, Any]:
    """Fluid upper bound on the expected reward per day of any policy that shows each context ``slates`` (default
    the best slates) or nothing, under a daily budget: serve the (day part, context) pairs in decreasing order of
    reward per unit of expected cost until the expected spend reaches the budget (a fractional knapsack, which
    solves the LP; every such policy's expected reward and spend fit in it).

    :param values: reward of each context's slate, ``(n_contexts,)`` (default: its expected clicks).
    :return: ``reward`` (the bound per day; expected clicks when ``values`` is the default), ``serve_share`` ``(n_day_parts, n_contexts)`` (the LP's share served), ``binding`` (serving every arrival
        would spend more than the budget), ``worst_case_slate_cost`` per context.
    """
    slates = check_slates(params, slates)
    value_c = slate_ctr(params, slates) if values is None else np.asarray(values, dtype=np.float64)
    exp_cost = slate_expected_costs(params, slates)
    arrivals = params.context_probs * (arrivals_per_day / params.n_day_parts)  # (D, C)
    value = np.broadcast_to(value_c, arrivals.shape).ravel()
    spend = np.broadcast_to(exp_cost, arrivals.shape).ravel()
    mass = arrivals.ravel()
    order = np.argsort(-(value / np.maximum(spend, 1e-300)), kind="stable")
    share = np.zeros_like(mass)
    left = float(budget)
    for i in order:
        need = mass[i] * spend[i]
        take = 1.0 if need <= left else max(left / need, 0.0)
        share[i] = take
        left -= take * need
        if left <= 0:
            break
    return {"reward": float((share * mass * value).sum()), "serve_share": share.reshape(arrivals.shape).tolist(),
            "binding": bool((mass * spend).sum() > budget), "worst_case_slate_cost": slate_costs(params, slates).tolist()}


def ad_allocation_oracle(params: ClickParams, budget: float, arrivals_per_day: int,
                         include_purchases: bool = False) -> dict[str, Any]:
    """The AdAllocation env's oracle: :func:`best_slates` (optimal per arrival when the budget does not bind) and,
    under ``budget_bound``, :func:`budget_fluid_bound` of those slates (an upper bound on the reward per day of
    serving them or nothing; when ``binding``, pacing decides how close a policy gets)."""
    best = best_slates(params, include_purchases=include_purchases)
    bound = budget_fluid_bound(params, budget, arrivals_per_day, best["slates"], values=best["expected_reward"])
    return {**best, "budget_bound": {**bound, "reward_per_day_unconstrained":
                                     best["expected_reward_per_arrival"] * arrivals_per_day}}
