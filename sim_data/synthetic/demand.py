"""A multinomial-logit demand world with confounded prices, an instrument and a randomized slice.

Shopper ``i`` visits in week ``t`` with probability ``visit_prob``; each visit is one purchase occasion on which
every product ``j`` is offered. The utility of product ``j`` is::

    u_ijt = alpha_j + beta_price * price_ijt + beta_display * display_ijt + beta_feature * feature_ijt
            + xi_jt + eps_ijt

and the outside option (no purchase: every row of the occasion has ``chosen = 0``) has utility
``outside_utility + eps_i0t``, with ``eps`` i.i.d. Gumbel, so the choice probabilities are a softmax (MNL).
``xi_jt ~ N(0, xi_sd^2)`` is a weekly demand shock the log does not show. Display and feature flags are
independent Bernoulli draws per offered row with rates ``display_rate`` and ``feature_rate``.

**Prices are confounded.** In an ordinary week all visitors see the shelf price::

    price_jt = base_j * (1 + cost_shifter_jt) + confounding * xi_jt        (floored at 5% of base_j)

with ``cost_shifter_jt ~ N(0, cost_shock_sd^2)`` independent of ``xi``: the shop raises prices when demand
is high, so a logit that ignores ``xi`` estimates a ``beta_price`` biased toward zero. Two ways out are built in:

(a) **Instrument.** ``truth.instruments`` (columns ``time, product, cost_shifter``) is observed, moves prices
    and is independent of ``xi``: use it for 2SLS on log-shares, or as a control function (regress price on
    the cost shifter per product; the residual is ``confounding * xi`` up to first-stage error; add it to the
    logit). Its identifying variation is weekly, so standard errors must account for the first stage.
(b) **Randomized slice.** In the weeks ``truth.randomized_weeks`` (a share ``randomized_share`` of weeks) the
    shop runs a price test: every visit sees its own prices ``base_j * U(1 - r, 1 + r)``,
    ``r = randomized_price_range``, independent of ``xi``. A conditional logit on those weeks with
    (week, product) fixed effects absorbs ``xi`` exactly and recovers ``beta_price``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize

from sim_data.logs import ChoiceLog, Provenance
from sim_data.synthetic._common import check_float, check_int, make_rng, sample_categorical, softmax

PRICE_FLOOR_SHARE = 0.05


@dataclass
class DemandTruth:
    """The known parameters of a demand world and the MNL oracle quantities computed from them.

    Arrays indexed by product follow the order of ``products``; the no-purchase option comes last.

    :param products: product names, length ``J``.
    :param alpha: brand intercept per product name.
    :param beta_price: price coefficient (< 0).
    :param beta_display: display coefficient.
    :param beta_feature: feature-ad coefficient.
    :param outside_utility: utility of not buying.
    :param xi: weekly demand shocks, shape ``(n_weeks, J)`` (unobserved in the log).
    :param base_prices: list prices, shape ``(J,)``.
    :param unit_costs: unit costs at zero cost shock, shape ``(J,)``.
    :param cost_shifter: observed cost shocks, shape ``(n_weeks, J)`` (the instrument).
    :param shelf_prices: the confounded shelf prices of every week, shape ``(n_weeks, J)``; in randomized
        weeks the log shows per-visit random prices instead.
    :param randomized_weeks: sorted week indices with randomized prices.
    :param confounding: weight of ``xi`` in the shelf price.
    :param randomized_price_range: ``r`` of the randomized prices ``base * U(1 - r, 1 + r)``.
    :param display_rate: probability a row is on display.
    :param feature_rate: probability a row is in a feature ad.
    :param visit_prob: probability a shopper visits in a given week.
    :param seed: the seed the world was drawn from.
    """

    products: tuple[str, ...]
    alpha: dict[str, float]
    beta_price: float
    beta_display: float
    beta_feature: float
    outside_utility: float
    xi: np.ndarray
    base_prices: np.ndarray
    unit_costs: np.ndarray
    cost_shifter: np.ndarray
    shelf_prices: np.ndarray
    randomized_weeks: np.ndarray
    confounding: float
    randomized_price_range: float
    display_rate: float
    feature_rate: float
    visit_prob: float
    seed: int = 0
    details: dict = field(default_factory=dict)

    @property
    def n_products(self) -> int:
        return len(self.products)

    @property
    def n_weeks(self) -> int:
        return int(self.xi.shape[0])

    @property
    def alpha_vector(self) -> np.ndarray:
        """The intercepts as an array in ``products`` order, shape ``(J,)``."""
        return np.array([self.alpha[p] for p in self.products], dtype=np.float64)

    @property
    def weekly_costs(self) -> np.ndarray:
        """Marginal cost per week and product, ``unit_costs * (1 + cost_shifter)``, shape ``(n_weeks, J)``."""
        return self.unit_costs[None, :] * (1.0 + self.cost_shifter)

    @property
    def instruments(self) -> pd.DataFrame:
        """The observed cost shifter per (week, product): columns ``time, product, cost_shifter``."""
        weeks, prods = np.meshgrid(np.arange(self.n_weeks), np.arange(self.n_products), indexing="ij")
        return pd.DataFrame({
            "time": weeks.ravel().astype(np.int64),
            "product": np.asarray(self.products, dtype=object)[prods.ravel()],
            "cost_shifter": self.cost_shifter.ravel(),
        })

    def utilities(self, prices, display=0, feature=0, week=None) -> np.ndarray:
        """Mean utilities of the products (no Gumbel term), shape ``(..., J)``.

        :param prices: shape ``(..., J)``.
        :param display: 0/1 flags broadcastable to ``prices``.
        :param feature: 0/1 flags broadcastable to ``prices``.
        :param week: ``None`` (no demand shock, the mean week) or week indices broadcastable to ``prices.shape[:-1]``;
            adds ``xi[week]``.
        """
        p = np.asarray(prices, dtype=np.float64)
        if p.ndim == 0 or p.shape[-1] != self.n_products:
            raise ValueError(f"prices must have shape (..., {self.n_products}) (one price per product), got {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError("prices must be finite")
        d = np.broadcast_to(np.asarray(display, dtype=np.float64), p.shape)
        f = np.broadcast_to(np.asarray(feature, dtype=np.float64), p.shape)
        u = self.alpha_vector + self.beta_price * p + self.beta_display * d + self.beta_feature * f
        if week is not None:
            w = np.asarray(week)
            if not np.issubdtype(w.dtype, np.integer) or ((w < 0) | (w >= self.n_weeks)).any():
                raise ValueError(f"week must be integer week indices in [0, {self.n_weeks}), got {week!r}")
            u = u + self.xi[w]
        return u

    def choice_probs(self, prices, display=0, feature=0, week=None) -> np.ndarray:
        """MNL choice probabilities, shape ``(..., J + 1)``; the last entry is the no-purchase share.

        Arguments as in :meth:`utilities`.
        """
        u = self.utilities(prices, display, feature, week)
        outside = np.full(u.shape[:-1] + (1,), self.outside_utility)
        return softmax(np.concatenate([u, outside], axis=-1), axis=-1)

    def elasticities(self, prices, display=0, feature=0, week=None) -> np.ndarray:
        """Price elasticities ``E[j, k] = d log s_j / d log p_k``, shape ``(J, J)``.

        Own: ``beta_price * p_j * (1 - s_j)``; cross: ``-beta_price * p_k * s_k``.

        :param prices: one price vector, shape ``(J,)``; other arguments as in :meth:`utilities` (scalar week).
        """
        p = np.asarray(prices, dtype=np.float64)
        if p.shape != (self.n_products,):
            raise ValueError(f"prices must have shape ({self.n_products},) for elasticities, got {p.shape}")
        s = self.choice_probs(p, display, feature, week)[: self.n_products]
        cross = -self.beta_price * (p * s)[None, :] * np.ones((self.n_products, 1))
        return cross + np.diag(self.beta_price * p)

    def expected_profit(self, prices, costs, display=0, feature=0, week=None) -> np.ndarray:
        """Expected profit per occasion ``sum_j (p_j - c_j) s_j``, shape ``prices.shape[:-1]``.

        :param costs: marginal costs broadcastable to ``prices``; other arguments as in :meth:`utilities`.
        """
        p = np.asarray(prices, dtype=np.float64)
        s = self.choice_probs(p, display, feature, week)[..., : self.n_products]
        return np.sum((p - np.asarray(costs, dtype=np.float64)) * s, axis=-1)

    def optimal_prices(self, costs, display=0, feature=0, week=None,
                       competition: Literal["joint", "nash"] = "joint") -> np.ndarray:
        """Profit-maximising prices of the MNL, shape ``(J,)``.

        ``"joint"``: one shop prices every product (for ``J = 1``, the single-product monopoly). The optimum has
        one markup for all products, ``p_j - c_j = m`` with ``m = 1 / (-beta_price * s_0(p))`` (``s_0`` the
        no-purchase share), solved with :func:`scipy.optimize.brentq`.
        ``"nash"``: each product is its own single-product firm; the Bertrand-Nash prices solve
        ``p_j - c_j = 1 / (-beta_price * (1 - s_j(p)))`` for every ``j`` (:func:`scipy.optimize.root`).

        :param costs: marginal costs, shape ``(J,)`` (or a scalar for all products).
        :param display: flags, shape ``(J,)`` or scalar; ``feature`` likewise.
        :param week: ``None`` (mean week) or one week index whose ``xi`` shifts demand.
        :param competition: ``"joint"`` or ``"nash"``.
        """
        if self.beta_price >= 0:
            raise ValueError(f"optimal prices need beta_price < 0, got {self.beta_price}")
        c = np.broadcast_to(np.asarray(costs, dtype=np.float64), (self.n_products,)).copy()
        if not np.all(np.isfinite(c)):
            raise ValueError("costs must be finite")
        b = -self.beta_price
        if competition == "joint":
            def gap(m: float) -> float:
                return m * b * self.choice_probs(c + m, display, feature, week)[-1] - 1.0

            upper = 1.0 / (b * self.choice_probs(c, display, feature, week)[-1])
            return c + optimize.brentq(gap, 0.0, upper, xtol=1e-14, rtol=1e-14)
        if competition == "nash":
            def foc(m: np.ndarray) -> np.ndarray:
                s = self.choice_probs(c + m, display, feature, week)[: self.n_products]
                return m * b * (1.0 - s) - 1.0

            sol = optimize.root(foc, np.full(self.n_products, 1.0 / b), tol=1e-13)
            if not sol.success:
                raise RuntimeError(f"Bertrand-Nash prices did not converge: {sol.message}")
            return c + sol.x
        raise ValueError(f"competition must be 'joint' or 'nash', got {competition!r}")


def make_demand_world(
    n_shoppers: int = 500,
    n_weeks: int = 52,
    n_products: int = 3,
    seed: int = 0,
    confounding: float = 1.0,
    randomized_share: float = 0.0,
    outside_utility: float = 0.0,
    *,
    beta_price: float = -1.5,
    beta_display: float = 0.8,
    beta_feature: float = 1.0,
    xi_sd: float = 0.3,
    cost_shock_sd: float = 0.1,
    randomized_price_range: float = 0.3,
    display_rate: float = 0.15,
    feature_rate: float = 0.1,
    visit_prob: float = 1.0,
    cost_share: float = 0.6,
    products: Sequence[str] | None = None,
) -> tuple[ChoiceLog, DemandTruth]:
    """Draw an MNL demand world and log every visit as one occasion (see the module docstring).

    Drawn in this order from one seeded generator: base prices ``U(2, 4)``, intercepts
    ``alpha_j = -beta_price * base_j + N(0, 0.3^2)`` (so no product dominates at list prices), ``xi``, the cost
    shifter, the order of weeks (its first ``round(randomized_share * n_weeks)`` are randomized), visits,
    display and feature flags, per-visit test prices, and the choices.

    :param n_shoppers: number of shoppers.
    :param n_weeks: number of weeks (``time`` is the week index ``0 .. n_weeks-1``).
    :param n_products: number of products ``J``.
    :param seed: seed of the one generator everything is drawn from.
    :param confounding: weight of ``xi`` in the shelf price (0 = exogenous prices).
    :param randomized_share: share of weeks with randomized per-visit prices, in [0, 1].
    :param outside_utility: utility of not buying.
    :param beta_price: price coefficient (< 0).
    :param beta_display: display coefficient.
    :param beta_feature: feature-ad coefficient.
    :param xi_sd: standard deviation of the weekly demand shock.
    :param cost_shock_sd: standard deviation of the cost shifter.
    :param randomized_price_range: ``r`` in the randomized prices ``base * U(1 - r, 1 + r)``, in [0, 1).
    :param display_rate: probability a row is on display.
    :param feature_rate: probability a row is in a feature ad.
    :param visit_prob: probability a shopper visits in a given week, in (0, 1].
    :param cost_share: unit cost as a share of the base price.
    :param products: product names (default ``product_0 ..``).
    :return: the validated :class:`~sim_data.logs.ChoiceLog` and the :class:`DemandTruth`.
    """
    n_shoppers = check_int("n_shoppers", n_shoppers)
    n_weeks = check_int("n_weeks", n_weeks)
    n_products = check_int("n_products", n_products)
    confounding = check_float("confounding", confounding)
    randomized_share = check_float("randomized_share", randomized_share, lower=0.0, upper=1.0)
    outside_utility = check_float("outside_utility", outside_utility)
    beta_price = check_float("beta_price", beta_price, upper=0.0, upper_open=True)
    beta_display = check_float("beta_display", beta_display)
    beta_feature = check_float("beta_feature", beta_feature)
    xi_sd = check_float("xi_sd", xi_sd, lower=0.0)
    cost_shock_sd = check_float("cost_shock_sd", cost_shock_sd, lower=0.0)
    randomized_price_range = check_float("randomized_price_range", randomized_price_range, lower=0.0, upper=1.0,
                                         upper_open=True)
    display_rate = check_float("display_rate", display_rate, lower=0.0, upper=1.0)
    feature_rate = check_float("feature_rate", feature_rate, lower=0.0, upper=1.0)
    visit_prob = check_float("visit_prob", visit_prob, lower=0.0, upper=1.0, lower_open=True)
    cost_share = check_float("cost_share", cost_share, lower=0.0)
    names = tuple(f"product_{j}" for j in range(n_products)) if products is None else tuple(str(p) for p in products)
    if len(names) != n_products or len(set(names)) != n_products:
        raise ValueError(f"products must be {n_products} distinct names, got {list(names)}")
    rng = make_rng(seed)

    base = rng.uniform(2.0, 4.0, size=n_products)
    alpha = -beta_price * base + rng.normal(0.0, 0.3, size=n_products)
    xi = rng.normal(0.0, xi_sd, size=(n_weeks, n_products))
    cost_shifter = rng.normal(0.0, cost_shock_sd, size=(n_weeks, n_products))
    shelf = np.maximum(base * (1.0 + cost_shifter) + confounding * xi, PRICE_FLOOR_SHARE * base)
    n_randomized = int(round(randomized_share * n_weeks))
    if randomized_share > 0:
        n_randomized = max(n_randomized, 1)
    randomized_weeks = np.sort(rng.permutation(n_weeks)[:n_randomized])
    truth = DemandTruth(
        products=names, alpha={n: float(a) for n, a in zip(names, alpha, strict=True)},
        beta_price=beta_price, beta_display=beta_display, beta_feature=beta_feature,
        outside_utility=outside_utility, xi=xi, base_prices=base, unit_costs=cost_share * base,
        cost_shifter=cost_shifter, shelf_prices=shelf, randomized_weeks=randomized_weeks,
        confounding=confounding, randomized_price_range=randomized_price_range, display_rate=display_rate,
        feature_rate=feature_rate, visit_prob=visit_prob, seed=int(seed),
    )

    visits = rng.random((n_shoppers, n_weeks)) < visit_prob          # shopper-major: rows sorted by shopper, week
    shape = (n_shoppers, n_weeks, n_products)
    display = (rng.random(shape) < display_rate).astype(np.int64)
    feature = (rng.random(shape) < feature_rate).astype(np.int64)
    test_prices = base * rng.uniform(1.0 - randomized_price_range, 1.0 + randomized_price_range, size=shape)
    is_random_week = np.zeros(n_weeks, dtype=bool)
    is_random_week[randomized_weeks] = True
    prices = np.where(is_random_week[None, :, None], test_prices, shelf[None, :, :])
    shopper_idx, week_idx = np.nonzero(visits)
    n_occ = shopper_idx.size
    if n_occ == 0:
        raise ValueError(f"no shopper visited (visit_prob={visit_prob}); raise n_shoppers, n_weeks or visit_prob")
    occ_prices = prices[shopper_idx, week_idx]
    occ_display = display[shopper_idx, week_idx]
    occ_feature = feature[shopper_idx, week_idx]
    probs = truth.choice_probs(occ_prices, occ_display, occ_feature, week=week_idx)
    choice = sample_categorical(rng, probs)                          # n_products = no purchase

    chosen = (choice[:, None] == np.arange(n_products)[None, :]).astype(np.int64)
    table = pd.DataFrame({
        "shopper_id": np.repeat(pd.Series(shopper_idx).map("shopper_{:05d}".format).to_numpy(), n_products),
        "occasion_id": np.repeat(np.arange(n_occ, dtype=np.int64), n_products),
        "time": np.repeat(week_idx.astype(np.int64), n_products),
        "product": np.tile(np.asarray(names, dtype=object), n_occ),
        "price": occ_prices.ravel(),
        "display": occ_display.ravel(),
        "feature": occ_feature.ravel(),
        "chosen": chosen.ravel(),
        "quantity": chosen.ravel().astype(np.float64),
    })
    truth.details = {"n_shoppers": n_shoppers, "n_weeks": n_weeks, "n_products": n_products, "seed": int(seed),
                     "confounding": confounding, "randomized_share": randomized_share,
                     "outside_utility": outside_utility, "beta_price": beta_price, "beta_display": beta_display,
                     "beta_feature": beta_feature, "xi_sd": xi_sd, "cost_shock_sd": cost_shock_sd,
                     "randomized_price_range": randomized_price_range, "display_rate": display_rate,
                     "feature_rate": feature_rate, "visit_prob": visit_prob, "cost_share": cost_share}
    log = ChoiceLog.from_frame(table, provenance=Provenance("synthetic:demand_world", licence="generated",
                                                           details=dict(truth.details)))
    return log, truth
