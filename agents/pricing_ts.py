"""Thompson-sampling pricing with a finite season inventory (Ferreira, Simchi-Levi & Wang 2018).

The single-product network-revenue-management problem: K price points ``p_k``, one shopper per period who buys
one unit at price k with an unknown probability ``theta_k``, a season of ``T`` periods and ``I0`` units of stock.
Every period the seller offers one price or the *shut-off price* (no sale possible).

Algorithms (each a class vectorised over ``n_runs`` independent runs that share one seeded generator):

* **TS-fixed**: sample ``theta_k ~ Beta(a_k, b_k)`` (the posterior), solve the LP
  ``max_x sum_k p_k theta_k x_k  s.t.  sum_k theta_k x_k <= c,  sum_k x_k <= 1,  x >= 0`` with the fixed
  ``c = I0 / T``, offer price k with probability ``x_k`` and the shut-off price with ``1 - sum_k x_k``.
* **TS-update**: the same with ``c = remaining inventory / remaining periods`` re-computed every period.
* **Inventory-blind TS**: plain Thompson sampling on revenue, ``argmax_k p_k theta_k``, ignoring the stock.

The benchmark (oracle) is the LP bound ``T * LP(true theta, c = I0 / T)``, an upper bound on the expected revenue
of any policy (Ferreira et al., Prop. 1 / Gallego & van Ryzin 1994).

The algorithms take observations (remaining stock, periods left) and return price indices, independent of any
environment class; :func:`simulate_pricing` is a seeded Bernoulli simulation loop for benchmarks and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from envs.defaults import FERREIRA_PRICES, FERREIRA_PURCHASE_PROBS

SHUT_OFF = -1
"""The action index of the shut-off price: nothing is offered (no sale is possible)."""

TSMode = Literal["update", "fixed", "blind"]
TS_MODES = ("update", "fixed", "blind")


# ----------------------------------------------------------------------------------------------- the LP


def _candidate_allocations(theta: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Every vertex candidate of the pricing LP, shape ``(..., M, K)``, NaN rows for infeasible candidates.

    With two constraints besides ``x >= 0`` a vertex has at most two non-zero entries: ``x = 0``; one price
    ``x_k = min(1, c / theta_k)``; or two prices ``j < k`` with both constraints tight
    (``x_j + x_k = 1``, ``theta_j x_j + theta_k x_k = c``). ``M = 1 + K + K (K - 1) / 2``.
    """
    *batch, k = theta.shape
    c = capacity[..., None]
    singles = np.zeros(tuple(batch) + (k, k))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(theta > 0, np.minimum(1.0, c / theta), 1.0)
    idx = np.arange(k)
    singles[..., idx, idx] = share
    pairs_j, pairs_k = np.triu_indices(k, 1)
    tj, tk = theta[..., pairs_j], theta[..., pairs_k]
    with np.errstate(divide="ignore", invalid="ignore"):
        xj = (c - tk) / (tj - tk)
    ok = (tj != tk) & (xj >= 0.0) & (xj <= 1.0)
    pairs = np.full(tuple(batch) + (pairs_j.size, k), np.nan)
    pairs[..., :, :] = np.where(ok[..., None], 0.0, np.nan)
    rows = np.arange(pairs_j.size)
    pairs[..., rows, pairs_j] = np.where(ok, xj, np.nan)
    pairs[..., rows, pairs_k] = np.where(ok, 1.0 - xj, np.nan)
    zero = np.zeros(tuple(batch) + (1, k))
    return np.concatenate([zero, singles, pairs], axis=-2)


def solve_pricing_lp(prices: np.ndarray, theta: np.ndarray, capacity: np.ndarray | float) -> np.ndarray:
    """Solve ``max_x sum_k p_k theta_k x_k`` s.t. ``sum_k theta_k x_k <= c``, ``sum_k x_k <= 1``, ``x >= 0``.

    Exact, by enumerating the LP's vertices (at most two adjacent prices mix at the optimum); vectorised over
    any leading batch dimensions. Ties go to the first candidate in a fixed order (deterministic).

    :param prices: ``(K,)`` non-negative prices.
    :param theta: ``(..., K)`` purchase probabilities in [0, 1].
    :param capacity: ``(...)`` or a scalar: ``c >= 0``, the stock per period that may be sold.
    :return: ``(..., K)`` the optimal offer probabilities ``x`` (``1 - x.sum(-1)`` is the shut-off share).
    """
    prices = np.asarray(prices, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if prices.ndim != 1 or theta.shape[-1:] != prices.shape:
        raise ValueError(f"theta: expected shape (..., {prices.shape[0] if prices.ndim == 1 else '?'}) "
                         f"matching prices {prices.shape}, got {theta.shape}")
    if (prices < 0).any() or not np.isfinite(prices).all():
        raise ValueError("prices: expected finite non-negative prices")
    if not np.isfinite(theta).all() or (theta < 0).any() or (theta > 1).any():
        raise ValueError("theta: expected purchase probabilities in [0, 1]")
    capacity = np.broadcast_to(np.asarray(capacity, dtype=np.float64), theta.shape[:-1])
    if not np.isfinite(capacity).all() or (capacity < 0).any():
        raise ValueError("capacity: expected finite numbers >= 0")
    candidates = _candidate_allocations(theta, capacity)  # (..., M, K)
    objective = np.nansum(candidates * (prices * theta)[..., None, :], axis=-1)
    objective = np.where(np.isnan(candidates).any(axis=-1), -np.inf, objective)
    best = np.argmax(objective, axis=-1)
    return np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]


def pricing_lp_value(prices: np.ndarray, theta: np.ndarray, capacity: np.ndarray | float) -> np.ndarray:
    """The optimal value of :func:`solve_pricing_lp`'s LP (revenue per period), shape ``theta.shape[:-1]``."""
    x = solve_pricing_lp(prices, theta, capacity)
    return (x * np.asarray(prices, dtype=np.float64) * np.asarray(theta, dtype=np.float64)).sum(axis=-1)


# ----------------------------------------------------------------------------------------------- the instance


@dataclass(frozen=True)
class BernoulliPricingInstance:
    """A single-product Bernoulli pricing instance with a season inventory ``I0 = floor(alpha * T)``.

    :param prices: ``(K,)`` price points.
    :param purchase_probs: ``(K,)`` the true P(purchase | price k).
    :param horizon: T, periods (one shopper each).
    :param alpha: inventory per period; ``inventory = floor(alpha * horizon)``.
    """

    prices: tuple[float, ...]
    purchase_probs: tuple[float, ...]
    horizon: int
    alpha: float = 0.25
    details: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        p = np.asarray(self.prices, dtype=np.float64)
        q = np.asarray(self.purchase_probs, dtype=np.float64)
        if p.ndim != 1 or p.size < 1 or not np.isfinite(p).all() or (p < 0).any():
            raise ValueError(f"prices: expected a non-empty list of finite prices >= 0, got {self.prices!r}")
        if q.shape != p.shape or not np.isfinite(q).all() or (q < 0).any() or (q > 1).any():
            raise ValueError(f"purchase_probs: expected {p.size} probabilities in [0, 1], got {self.purchase_probs!r}")
        if isinstance(self.horizon, bool) or int(self.horizon) != self.horizon or self.horizon < 1:
            raise ValueError(f"horizon: expected a whole number >= 1, got {self.horizon!r}")
        if not (np.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"alpha: expected a number > 0 (inventory per period), got {self.alpha!r}")
        object.__setattr__(self, "prices", tuple(float(v) for v in p))
        object.__setattr__(self, "purchase_probs", tuple(float(v) for v in q))
        object.__setattr__(self, "horizon", int(self.horizon))
        object.__setattr__(self, "alpha", float(self.alpha))

    @classmethod
    def ferreira(cls, horizon: int, alpha: float = 0.25) -> BernoulliPricingInstance:
        """Ferreira et al.'s instance: prices 29.90, 34.90, 39.90, 44.90; probabilities 0.8, 0.6, 0.3, 0.1."""
        return cls(FERREIRA_PRICES, FERREIRA_PURCHASE_PROBS, horizon, alpha)

    @property
    def n_prices(self) -> int:
        return len(self.prices)

    @property
    def price_array(self) -> np.ndarray:
        return np.asarray(self.prices, dtype=np.float64)

    @property
    def prob_array(self) -> np.ndarray:
        return np.asarray(self.purchase_probs, dtype=np.float64)

    @property
    def inventory(self) -> int:
        """``I0 = floor(alpha * T)`` (with a 1e-9 guard against float round-off)."""
        return int(np.floor(self.alpha * self.horizon + 1e-9))

    @property
    def capacity(self) -> float:
        """``c = I0 / T``, the stock per period."""
        return self.inventory / self.horizon

    def lp_bound(self) -> float:
        """The oracle: ``T * LP(true purchase probabilities, c = I0 / T)``."""
        return float(self.horizon * pricing_lp_value(self.price_array, self.prob_array, self.capacity))

    def record(self) -> dict:
        """The instance's parameters for a benchmark record."""
        return {"prices": list(self.prices), "purchase_probs": list(self.purchase_probs), "horizon": self.horizon,
                "alpha": self.alpha, "inventory": self.inventory}


# ----------------------------------------------------------------------------------------------- the agents


class PricingAgent(Protocol):
    """What :func:`simulate_pricing` needs: a price per run each period, and the outcome afterwards."""

    n_runs: int

    def act(self, rng: np.random.Generator, inventory: np.ndarray, periods_left: int) -> np.ndarray:
        """``(n_runs,)`` price indices in ``0..K-1``, or :data:`SHUT_OFF`."""

    def update(self, offered: np.ndarray, purchased: np.ndarray) -> None:
        """Learn from ``offered`` ``(n_runs,)`` price indices (or SHUT_OFF) and ``purchased`` ``(n_runs,)`` bools."""


def check_n_runs(n_runs: int) -> int:
    """``n_runs`` as an int >= 1; raises ``ValueError`` naming it."""
    if isinstance(n_runs, bool) or int(n_runs) != n_runs or n_runs < 1:
        raise ValueError(f"n_runs: expected a whole number >= 1, got {n_runs!r}")
    return int(n_runs)


class BetaPosterior:
    """Independent ``Beta(a_k, b_k)`` posteriors of each price's purchase probability, per run.

    :param n_prices: K.
    :param n_runs: independent runs.
    :param prior: ``(a, b)`` of the Beta prior shared by every price (default the uniform ``Beta(1, 1)``).
    """

    def __init__(self, n_prices: int, n_runs: int = 1, prior: tuple[float, float] = (1.0, 1.0)):
        if len(prior) != 2 or not all(np.isfinite(v) and v > 0 for v in prior):
            raise ValueError(f"prior: expected (a, b) with a, b > 0, got {prior!r}")
        self.n_runs = check_n_runs(n_runs)
        self.successes = np.full((self.n_runs, int(n_prices)), float(prior[0]))  # a, (n_runs, K)
        self.failures = np.full((self.n_runs, int(n_prices)), float(prior[1]))  # b, (n_runs, K)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One posterior draw ``theta`` per run and price, shape ``(n_runs, K)``."""
        return rng.beta(self.successes, self.failures)

    def mean(self) -> np.ndarray:
        """Posterior means, shape ``(n_runs, K)``."""
        return self.successes / (self.successes + self.failures)

    def update(self, offered: np.ndarray, purchased: np.ndarray) -> None:
        """Add one Bernoulli observation for each run that offered a price (``offered >= 0``)."""
        offered = np.asarray(offered, dtype=np.int64)
        purchased = np.asarray(purchased, dtype=bool)
        if offered.shape != (self.n_runs,) or purchased.shape != (self.n_runs,):
            raise ValueError(f"offered, purchased: expected shape ({self.n_runs},), got {offered.shape}, {purchased.shape}")
        rows = np.flatnonzero(offered >= 0)
        np.add.at(self.successes, (rows, offered[rows]), purchased[rows].astype(np.float64))
        np.add.at(self.failures, (rows, offered[rows]), (~purchased[rows]).astype(np.float64))


def draw_offer(rng: np.random.Generator, offer_probs: np.ndarray) -> np.ndarray:
    """Draw a price index per run from ``offer_probs`` ``(n_runs, K)``; the rest ``1 - sum`` is the shut-off price.

    :return: ``(n_runs,)`` indices in ``0..K-1`` or :data:`SHUT_OFF`.
    """
    cdf = np.cumsum(offer_probs, axis=1)
    u = rng.random(offer_probs.shape[0])
    k = (cdf <= u[:, None]).sum(axis=1)
    return np.where(k >= offer_probs.shape[1], SHUT_OFF, k).astype(np.int64)


class ThompsonPricing:
    """Thompson-sampling pricing: TS-update, TS-fixed or inventory-blind TS (see the module docstring).

    :param prices: ``(K,)`` price points.
    :param mode: ``"update"`` (c = remaining stock / remaining periods), ``"fixed"`` (c = I0 / T) or ``"blind"``
        (ignore the stock: offer ``argmax_k p_k theta_k``).
    :param inventory: I0, the season's stock (used by ``"fixed"``; ``"update"`` reads the stock each period).
    :param horizon: T.
    :param n_runs: independent runs simulated side by side (1 for one live seller).
    :param prior: the Beta prior ``(a, b)`` of every price's purchase probability.
    """

    def __init__(self, prices: np.ndarray, mode: TSMode = "update", *, inventory: float, horizon: int,
                 n_runs: int = 1, prior: tuple[float, float] = (1.0, 1.0)):
        if mode not in TS_MODES:
            raise ValueError(f"mode: expected one of {TS_MODES}, got {mode!r}")
        self.prices = np.asarray(prices, dtype=np.float64)
        if self.prices.ndim != 1 or self.prices.size < 1 or (self.prices < 0).any():
            raise ValueError(f"prices: expected a 1-d array of prices >= 0, got {prices!r}")
        if not (np.isfinite(inventory) and inventory >= 0):
            raise ValueError(f"inventory: expected a number >= 0, got {inventory!r}")
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon: expected a whole number >= 1, got {horizon!r}")
        self.mode = mode
        self.initial_inventory = float(inventory)
        self.horizon = int(horizon)
        self.posterior = BetaPosterior(self.prices.size, n_runs, prior)
        self.n_runs = self.posterior.n_runs

    def capacity(self, inventory: np.ndarray, periods_left: int) -> np.ndarray:
        """The LP's ``c`` per run: ``I0 / T`` (fixed) or ``inventory / periods_left`` (update)."""
        if self.mode == "fixed":
            return np.full(self.n_runs, self.initial_inventory / self.horizon)
        return np.maximum(np.asarray(inventory, dtype=np.float64), 0.0) / max(int(periods_left), 1)

    def offer_probs(self, rng: np.random.Generator, inventory: np.ndarray, periods_left: int) -> np.ndarray:
        """Sample ``theta`` and return the offer probabilities ``x``, shape ``(n_runs, K)`` (rest = shut-off)."""
        theta = self.posterior.sample(rng)
        if self.mode == "blind":
            x = np.zeros_like(theta)
            x[np.arange(self.n_runs), np.argmax(self.prices * theta, axis=1)] = 1.0
            return x
        return solve_pricing_lp(self.prices, theta, self.capacity(inventory, periods_left))

    def act(self, rng: np.random.Generator, inventory: np.ndarray, periods_left: int) -> np.ndarray:
        """The price index to offer per run, ``(n_runs,)`` (:data:`SHUT_OFF` = no offer).

        :param rng: the seeded generator.
        :param inventory: ``(n_runs,)`` units left at the start of this period.
        :param periods_left: periods left including this one (``T - t`` for period ``t = 0..T-1``).
        """
        inventory = np.broadcast_to(np.asarray(inventory, dtype=np.float64), (self.n_runs,))
        return draw_offer(rng, self.offer_probs(rng, inventory, periods_left))

    def update(self, offered: np.ndarray, purchased: np.ndarray) -> None:
        """Update the Beta posteriors with this period's outcome (runs that shut off learn nothing)."""
        self.posterior.update(offered, purchased)


# ----------------------------------------------------------------------------------------------- simulation


@dataclass
class PricingRuns:
    """Outcome of :func:`simulate_pricing`: per-run revenue and units sold, plus the offers' counts.

    :param revenue: ``(n_runs,)`` season revenue.
    :param units_sold: ``(n_runs,)`` units sold (never above the inventory).
    :param offer_counts: ``(n_runs, K + 1)`` periods each price was offered; the last column is the shut-off price.
    """

    revenue: np.ndarray
    units_sold: np.ndarray
    offer_counts: np.ndarray


def simulate_pricing(instance: BernoulliPricingInstance, agent: PricingAgent, seed: int) -> PricingRuns:
    """Run ``agent.n_runs`` independent seasons of ``instance`` side by side, from one seeded generator.

    Each period ``t = 0..T-1``: the agent offers a price per run (runs out of stock are shut off), one shopper
    buys with the true probability of the offered price, the agent observes whether they bought.
    Same seed and same ``n_runs`` give the same numbers.

    :param instance: the pricing problem.
    :param agent: a :class:`PricingAgent` (e.g. :class:`ThompsonPricing`) for ``len(instance.prices)`` prices.
    :param seed: seed of the one generator the agent and the shoppers draw from.
    """
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed: expected a whole number >= 0, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    n, k_prices = agent.n_runs, instance.n_prices
    prices, probs = instance.price_array, instance.prob_array
    inventory = np.full(n, float(instance.inventory))
    revenue = np.zeros(n)
    counts = np.zeros((n, k_prices + 1), dtype=np.int64)
    rows = np.arange(n)
    for t in range(instance.horizon):
        offered = np.asarray(agent.act(rng, inventory.copy(), instance.horizon - t), dtype=np.int64)
        if offered.shape != (n,) or (offered < SHUT_OFF).any() or (offered >= k_prices).any():
            raise ValueError(f"agent.act: expected ({n},) price indices in [-1, {k_prices - 1}], got {offered!r}")
        offered = np.where(inventory > 0, offered, SHUT_OFF)
        on = offered >= 0
        safe = np.where(on, offered, 0)
        purchased = on & (rng.random(n) < probs[safe])
        revenue += np.where(purchased, prices[safe], 0.0)
        inventory -= purchased
        counts[rows, np.where(on, offered, k_prices)] += 1
        agent.update(offered, purchased)
    return PricingRuns(revenue=revenue, units_sold=instance.inventory - inventory, offer_counts=counts)


def ratio_summary(values: np.ndarray, oracle: float, confidence: float = 0.95) -> dict:
    """Mean of ``values / oracle`` with a t-interval over runs.

    :param values: ``(n_runs,)`` per-run revenue.
    :param oracle: the benchmark's value (> 0).
    :return: ``{"value": mean, "ratio": mean / oracle, "ci": [lo, hi], "n_seeds": n_runs}``.
    """
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"values: expected at least 2 runs, got shape {values.shape}")
    if not oracle > 0:
        raise ValueError(f"oracle: expected a value > 0, got {oracle!r}")
    ratios = values / oracle
    mean = float(ratios.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, ratios.size - 1) * ratios.std(ddof=1) / np.sqrt(ratios.size))
    return {"value": float(values.mean()), "ratio": mean, "ci": [mean - half, mean + half], "n_seeds": int(values.size)}
