"""Default parameters for the environments, and the textbook instances the oracles are tested on.

The default ad-allocation and pricing parameters are placeholders of a plausible size and shape, generated from
a fixed seed. They will be replaced by parameters calibrated on the shipped real data (the Open Bandit Dataset
for clicks, the scanner panels for the choice model) when the fitting code (``envs/models/``) lands; until then
build calibrated environments from a fit directory with ``ClickParams.from_fit_dir(path)`` and friends.
"""

from __future__ import annotations

import numpy as np

from envs.params import BernoulliDemandParams, ClickParams, DemandParams, InventoryParams

DEFAULT_SEED = 20240611

# Ferreira, Simchi-Levi & Wang (2018), single-product instance.
FERREIRA_PRICES = (29.90, 34.90, 39.90, 44.90)
FERREIRA_PURCHASE_PROBS = (0.8, 0.6, 0.3, 0.1)


def default_click_params(n_items: int = 80, n_positions: int = 3, n_contexts: int = 8,
                         n_day_parts: int = 4) -> ClickParams:
    """Placeholder click model of the Open Bandit Dataset's shape: 80 items, 3 slots, 8 context segments.

    Item quality ~ Beta(2, 60) (CTR of a few percent), a log-normal context affinity per (context, item), a
    context mix that shifts across ``n_day_parts`` parts of the day, costs per click in [0.5, 1.5].
    """
    rng = np.random.default_rng(DEFAULT_SEED)
    quality = rng.beta(2.0, 60.0, size=n_items)
    affinity = np.exp(0.5 * rng.standard_normal((n_contexts, n_items)))
    relevance = np.clip(quality[None, :] * affinity, 0.0, 1.0)
    position_bias = 0.7 ** np.arange(n_positions)
    context_probs = rng.dirichlet(np.full(n_contexts, 2.0), size=n_day_parts)
    return ClickParams(
        relevance=relevance,
        position_bias=position_bias,
        context_probs=context_probs,
        cost_per_click=np.round(rng.uniform(0.5, 1.5, size=n_items), 2),
        conversion_prob=0.05,
        purchase_value=np.round(rng.uniform(10.0, 50.0, size=n_items), 2),
    )


def default_demand_params() -> DemandParams:
    """Placeholder choice model: four products priced between 1 and 4, one shopper class, 50 shoppers a period."""
    return DemandParams(
        product_names=["product_a", "product_b", "product_c", "product_d"],
        intercepts=[2.0, 1.6, 1.2, 0.8],
        beta_price=-1.5,
        unit_cost=[0.8, 0.7, 0.6, 0.5],
        price_low=1.0,
        price_high=4.0,
        arrival_rate=50.0,
    )


def ferreira_demand_params() -> BernoulliDemandParams:
    """The single-product Bernoulli instance of Ferreira, Simchi-Levi & Wang (2018)."""
    return BernoulliDemandParams(prices=FERREIRA_PRICES, purchase_probs=FERREIRA_PURCHASE_PROBS, unit_cost=0.0)


def default_inventory_params() -> InventoryParams:
    """Poisson(10) demand, lead time 2, holding 1, backorder 9: the base-stock optimum is S* = 37."""
    return InventoryParams(demand_mean=10.0, lead_time=2, holding_cost=1.0, backorder_cost=9.0, backorders=True)


def zipkin_lost_sales_params(lead_time: int = 4, lost_sale_cost: float = 4.0) -> InventoryParams:
    """Zipkin (2008): Poisson(5) demand, holding 1, lost-sale penalty 4 (optimal average cost 4.73 at L=4)."""
    return InventoryParams(demand_mean=5.0, lead_time=lead_time, holding_cost=1.0, lost_sale_cost=lost_sale_cost,
                           backorders=False)
