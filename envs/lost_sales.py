"""Exact average-cost optimum of the lost-sales inventory system by relative value iteration (Zipkin 2008).

Single product, Poisson(mean) demand, lead time L >= 1 (the timing of :class:`envs.inventory.InventoryEnv`), holding
cost h per unit on hand at the end of a period, penalty p per lost sale, no ordering costs.
State at an ordering epoch: on-hand x (after this period's arrival) and the pipeline ``(o_1, ..., o_{L-1})``
(o_i arrives in i periods). Truncation: on hand is capped at ``max_on_hand`` (stock beyond the cap is dropped, a
choice the optimal policy never needs when the cap is large enough), orders at ``max_order``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class LostSalesSolution:
    """Result of :func:`lost_sales_optimal`.

    :param average_cost: optimal long-run average cost per period (midpoint of the bounds).
    :param lower: lower bound on the optimal average cost (min of the last value-iteration difference).
    :param upper: upper bound (max of it).
    :param policy: optimal order per state, shape ``(max_on_hand + 1, [max_order + 1] * (L - 1))``.
    :param iterations: value-iteration sweeps done.
    :param base_stock_level: the best base-stock level S (order up to S in inventory position); -1 if not searched.
    :param base_stock_cost: its average cost (within the same truncated chain); NaN if not searched.
    """

    average_cost: float
    lower: float
    upper: float
    policy: np.ndarray
    iterations: int
    base_stock_level: int
    base_stock_cost: float


def _setup(mean: float, max_on_hand: int, holding: float, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Transition of on-hand over a period ``M[x, y] = P((x - D)^+ = y)`` and the expected period cost ``c(x)``."""
    xs = np.arange(max_on_hand + 1)
    pmf = stats.poisson.pmf(xs, mean)
    trans = np.zeros((max_on_hand + 1, max_on_hand + 1))
    for x in xs:
        trans[x, 1 : x + 1] = pmf[: x][::-1]  # D = x - y for y >= 1
        trans[x, 0] = 1.0 - trans[x, 1 : x + 1].sum()  # D >= x
    # E(x - D)^+ and E(D - x)^+
    expected_left = np.array([(np.maximum(x - xs[: x + 1], 0) * pmf[: x + 1]).sum() for x in xs])
    expected_lost = expected_left - (xs - mean)
    return trans, holding * expected_left + penalty * expected_lost


def _backup(values: np.ndarray, trans: np.ndarray, cost: np.ndarray, shift_index: np.ndarray) -> np.ndarray:
    """Expected next-state value for every (state, order): shape ``values.shape + (max_order + 1,)``."""
    shifted = values[shift_index]  # (y, o_1, o_2, ..., o_{L-1}, q): next on-hand = min(y + o_1, cap)
    expected = np.tensordot(trans, shifted, axes=(1, 0))
    return cost.reshape((-1,) + (1,) * (expected.ndim - 1)) + expected


def lost_sales_optimal(mean: float, lead_time: int, holding: float = 1.0, penalty: float = 4.0,
                       max_on_hand: int | None = None, max_order: int | None = None, tol: float = 1e-4,
                       max_iter: int = 5000, with_base_stock: bool = True) -> LostSalesSolution:
    """Optimal average cost of the lost-sales system by relative value iteration.

    :param mean: Poisson demand mean per period, > 0.
    :param lead_time: L >= 1 (states grow as ``(max_order + 1) ** (L - 1)``; L <= 4 is quick for mean 5).
    :param max_on_hand: cap on on-hand stock (default ``ceil(3 * mean + 6 * sqrt(mean))``).
    :param max_order: largest order (default ``ceil(mean + 4 * sqrt(mean))``).
    :param tol: stop when the bounds on the average cost are within ``tol``.
    :param with_base_stock: also search the best base-stock level (several policy evaluations; slower).
    :raises ValueError: on bad arguments or if ``max_iter`` sweeps do not reach ``tol``.
    """
    if mean <= 0:
        raise ValueError(f"mean: expected > 0, found {mean}")
    if int(lead_time) != lead_time or lead_time < 1:
        raise ValueError(f"lead_time: expected a whole number >= 1, found {lead_time}")
    cap = int(max_on_hand or math.ceil(3 * mean + 6 * math.sqrt(mean)))
    max_q = int(max_order or math.ceil(mean + 4 * math.sqrt(mean)))
    trans, cost = _setup(mean, cap, holding, penalty)
    # shift index: next on-hand for (y, o_1), with o_1 the oldest pipeline order (or, for L = 1, the order itself)
    shift_index = np.minimum(np.arange(cap + 1)[:, None] + np.arange(max_q + 1)[None, :], cap)
    shape = (cap + 1,) + (max_q + 1,) * (lead_time - 1)
    values = np.zeros(shape)
    lower, upper = -np.inf, np.inf
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        q_values = _backup(values, trans, cost, shift_index)
        new = q_values.min(axis=-1)
        diff = new - values
        lower, upper = float(diff.min()), float(diff.max())
        values = new - new.flat[0]
        if upper - lower < tol:
            break
    else:
        raise ValueError(f"relative value iteration did not converge to tol={tol} in {max_iter} sweeps "
                         f"(bounds {lower:.4f}..{upper:.4f})")
    policy = q_values.argmin(axis=-1)
    level, level_cost = -1, float("nan")
    if with_base_stock:
        start = int(stats.poisson.ppf(penalty / (penalty + holding), (lead_time + 1) * mean))
        level, level_cost = _best_base_stock(trans, cost, shift_index, shape, max_q, tol, start, values)
    return LostSalesSolution((lower + upper) / 2, lower, upper, policy, iterations, level, level_cost)


def _policy_cost(orders: np.ndarray, trans: np.ndarray, cost: np.ndarray, shift_index: np.ndarray, tol: float,
                 values: np.ndarray, max_iter: int = 20000) -> float:
    """Average cost of the stationary policy ``orders`` (one order per state) by relative value iteration
    started from ``values``."""
    take = orders[..., None]
    for _ in range(max_iter):
        q_values = _backup(values, trans, cost, shift_index)
        new = np.take_along_axis(q_values, take, axis=-1)[..., 0]
        diff = new - values
        if diff.max() - diff.min() < tol:
            return float((diff.max() + diff.min()) / 2)
        values = new - new.flat[0]
    raise ValueError("policy evaluation did not converge")


def _best_base_stock(trans: np.ndarray, cost: np.ndarray, shift_index: np.ndarray, shape: tuple[int, ...],
                     max_q: int, tol: float, start: int, values: np.ndarray) -> tuple[int, float]:
    """The best order-up-to level S (on inventory position) and its average cost, searched from ``start``."""
    position = np.indices(shape).sum(axis=0)
    start = min(int(position.max()), start)
    best = (start, _policy_cost(np.clip(start - position, 0, max_q), trans, cost, shift_index, tol, values))
    for step in (-1, 1):  # walk down, then up, while the cost improves (it is unimodal in S)
        level = best[0] + step
        while 0 <= level <= int(position.max()):
            c = _policy_cost(np.clip(level - position, 0, max_q), trans, cost, shift_index, tol, values)
            if c >= best[1]:
                break
            best = (level, c)
            level += step
    return best
