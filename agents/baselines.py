"""Baselines for the Bernoulli pricing instance: uniform random, fixed price, myopic greedy price.

Each baseline has the :class:`agents.pricing_ts.PricingAgent` interface (``act`` / ``update``, vectorised over
``n_runs``), so :func:`agents.pricing_ts.simulate_pricing` runs it exactly like Thompson sampling.
:func:`best_fixed_price` tunes the fixed price with the true purchase probabilities (an oracle-tuned baseline).
For contextual bandits the uniform-random baseline is :class:`policies.policy.UniformPolicy`.
"""

from __future__ import annotations

import numpy as np

from agents.pricing_ts import BernoulliPricingInstance, BetaPosterior, check_n_runs


class UniformRandomPricing:
    """Offer each of the K prices with probability 1/K, every period.

    :param n_prices: K.
    :param n_runs: independent runs.
    """

    def __init__(self, n_prices: int, n_runs: int = 1):
        if isinstance(n_prices, bool) or int(n_prices) != n_prices or n_prices < 1:
            raise ValueError(f"n_prices: expected a whole number >= 1, got {n_prices!r}")
        self.n_prices = int(n_prices)
        self.n_runs = check_n_runs(n_runs)

    def act(self, rng: np.random.Generator, inventory: np.ndarray, periods_left: int) -> np.ndarray:
        """``(n_runs,)`` uniform price indices."""
        return rng.integers(0, self.n_prices, size=self.n_runs)

    def update(self, offered: np.ndarray, purchased: np.ndarray) -> None:
        """Learns nothing."""


class FixedPricePricing:
    """Offer the same price index every period.

    :param price_index: the price point offered, ``0..K-1``.
    :param n_prices: K (to check ``price_index``).
    :param n_runs: independent runs.
    """

    def __init__(self, price_index: int, n_prices: int, n_runs: int = 1):
        if isinstance(price_index, bool) or int(price_index) != price_index or not 0 <= price_index < n_prices:
            raise ValueError(f"price_index: expected a whole number in [0, {n_prices - 1}], got {price_index!r}")
        self.price_index = int(price_index)
        self.n_runs = check_n_runs(n_runs)

    def act(self, rng: np.random.Generator, inventory: np.ndarray, periods_left: int) -> np.ndarray:
        """``(n_runs,)`` copies of ``price_index``."""
        return np.full(self.n_runs, self.price_index, dtype=np.int64)

    def update(self, offered: np.ndarray, purchased: np.ndarray) -> None:
        """Learns nothing."""


class MyopicGreedyPricing:
    """Offer the price with the highest *estimated* revenue ``p_k * mean_k`` now, with no exploration and no
    regard for the stock (certainty equivalence, myopic). ``mean_k`` is the Beta posterior mean, so untried
    prices start at the prior mean (0.5 for the default ``Beta(1, 1)``).

    :param prices: ``(K,)`` price points.
    :param n_runs: independent runs.
    :param prior: the Beta prior ``(a, b)``.
    """

    def __init__(self, prices: np.ndarray, n_runs: int = 1, prior: tuple[float, float] = (1.0, 1.0)):
        self.prices = np.asarray(prices, dtype=np.float64)
        if self.prices.ndim != 1 or self.prices.size < 1:
            raise ValueError(f"prices: expected a 1-d array of prices, got {prices!r}")
        self.posterior = BetaPosterior(self.prices.size, n_runs, prior)
        self.n_runs = self.posterior.n_runs

    def act(self, rng: np.random.Generator, inventory: np.ndarray, periods_left: int) -> np.ndarray:
        """``(n_runs,)`` the argmax of estimated revenue (first index on ties)."""
        return np.argmax(self.prices * self.posterior.mean(), axis=1)

    def update(self, offered: np.ndarray, purchased: np.ndarray) -> None:
        self.posterior.update(offered, purchased)


def fixed_price_revenue(instance: BernoulliPricingInstance) -> np.ndarray:
    """Exact expected season revenue of each fixed price: ``p_k * E[min(Binomial(T, q_k), I0)]``, shape ``(K,)``."""
    from scipy import stats

    sold = np.arange(instance.inventory + 1)
    out = np.empty(instance.n_prices)
    for k, (price, prob) in enumerate(zip(instance.prices, instance.purchase_probs, strict=True)):
        pmf = stats.binom.pmf(sold[:-1], instance.horizon, prob)
        expected_sold = float((sold[:-1] * pmf).sum() + instance.inventory * (1.0 - pmf.sum()))
        out[k] = price * expected_sold
    return out


def best_fixed_price(instance: BernoulliPricingInstance) -> tuple[int, float]:
    """The fixed price with the highest exact expected revenue under the true probabilities.

    :return: ``(price_index, expected_revenue)``.
    """
    revenue = fixed_price_revenue(instance)
    k = int(np.argmax(revenue))
    return k, float(revenue[k])
