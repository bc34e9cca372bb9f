"""Thompson-sampling pricing (Ferreira et al. 2018) and the pricing baselines on tiny instances with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from agents.baselines import (
    FixedPricePricing,
    MyopicGreedyPricing,
    UniformRandomPricing,
    best_fixed_price,
    fixed_price_revenue,
)
from agents.pricing_ts import (
    SHUT_OFF,
    BernoulliPricingInstance,
    ThompsonPricing,
    draw_offer,
    pricing_lp_value,
    ratio_summary,
    simulate_pricing,
    solve_pricing_lp,
)

FERREIRA_P = np.array([29.90, 34.90, 39.90, 44.90])


def _linprog_value(prices, theta, c):
    res = linprog(-(prices * theta), A_ub=np.vstack([theta, np.ones_like(theta)]), b_ub=[c, 1.0],
                  bounds=[(0, None)] * theta.size, method="highs")
    assert res.status == 0
    return -res.fun


def test_lp_matches_linprog_on_random_instances():
    rng = np.random.default_rng(7)
    for _ in range(300):
        k = int(rng.integers(1, 7))
        prices = rng.uniform(0, 50, size=k)
        theta = rng.random(k)
        c = float(rng.choice([0.0, 0.05, 0.3, 1.0, 3.0]) * rng.random())
        x = solve_pricing_lp(prices, theta, c)
        assert (x >= -1e-12).all() and x.sum() <= 1 + 1e-9 and theta @ x <= c + 1e-9  # feasible
        assert pricing_lp_value(prices, theta, c) == pytest.approx(_linprog_value(prices, theta, c), abs=1e-8)


def test_lp_is_vectorised_over_runs():
    rng = np.random.default_rng(3)
    theta = rng.random((50, 4))
    c = rng.random(50) * 0.6
    batch = pricing_lp_value(FERREIRA_P, theta, c)
    single = [float(pricing_lp_value(FERREIRA_P, theta[i], c[i])) for i in range(50)]
    np.testing.assert_allclose(batch, single)


def test_ferreira_lp_bound_is_hand_computed():
    # c = 0.25: mixing 39.90 (theta .3) and 44.90 (theta .1) with x = (.75, .25) makes both constraints tight:
    # revenue per period = 39.90 * .3 * .75 + 44.90 * .1 * .25 = 10.1.
    inst = BernoulliPricingInstance.ferreira(horizon=40, alpha=0.25)
    assert inst.inventory == 10
    np.testing.assert_allclose(solve_pricing_lp(inst.price_array, inst.prob_array, 0.25), [0, 0, 0.75, 0.25])
    assert inst.lp_bound() == pytest.approx(40 * 10.1)


def test_ratio_is_mean_revenue_over_hand_computed_bound():
    inst = BernoulliPricingInstance.ferreira(horizon=40, alpha=0.25)
    revenues = np.array([404.0, 202.0, 303.0])
    out = ratio_summary(revenues, inst.lp_bound())
    assert out["ratio"] == pytest.approx(0.75)
    assert out["value"] == pytest.approx(303.0)
    # t-interval by hand: sd of ratios (1, .5, .75) = .25, t_{.975, 2} = 4.302653
    half = 4.302653 * 0.25 / np.sqrt(3)
    assert out["ci"] == pytest.approx([0.75 - half, 0.75 + half], abs=1e-5)


def test_draw_offer_follows_the_lp_probabilities_and_shuts_off():
    rng = np.random.default_rng(0)
    x = np.tile([0.0, 0.5, 0.0, 0.25], (40000, 1))
    k = draw_offer(rng, x)
    shares = [(k == j).mean() for j in (0, 1, 2, 3, SHUT_OFF)]
    np.testing.assert_allclose(shares, [0, 0.5, 0, 0.25, 0.25], atol=0.01)


def test_ts_update_with_huge_inventory_converges_to_the_revenue_maximising_price():
    # inventory never binds: the best price is argmax p_k q_k = 29.90 (23.92 per shopper)
    inst = BernoulliPricingInstance.ferreira(horizon=1500, alpha=5.0)
    agent = ThompsonPricing(inst.price_array, "update", inventory=inst.inventory, horizon=inst.horizon, n_runs=20)
    runs = simulate_pricing(inst, agent, seed=11)
    last = agent.offer_probs(np.random.default_rng(0), np.full(20, inst.inventory), 1)
    assert np.median(runs.offer_counts[:, 0] / inst.horizon) > 0.9
    assert (last.argmax(axis=1) == 0).mean() >= 0.85


@pytest.mark.parametrize("mode", ["update", "fixed", "blind"])
def test_tight_inventory_is_never_oversold(mode):
    inst = BernoulliPricingInstance.ferreira(horizon=200, alpha=0.05)
    agent = ThompsonPricing(inst.price_array, mode, inventory=inst.inventory, horizon=inst.horizon, n_runs=30)
    runs = simulate_pricing(inst, agent, seed=5)
    assert inst.inventory == 10
    assert runs.units_sold.max() <= inst.inventory
    assert runs.revenue.max() <= inst.inventory * FERREIRA_P.max()
    np.testing.assert_array_equal(runs.offer_counts.sum(axis=1), inst.horizon)


def test_seeded_runs_reproduce_and_seeds_differ():
    inst = BernoulliPricingInstance.ferreira(horizon=300)

    def run(seed):
        agent = ThompsonPricing(inst.price_array, "update", inventory=inst.inventory, horizon=inst.horizon, n_runs=8)
        return simulate_pricing(inst, agent, seed=seed).revenue

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_ts_update_beats_inventory_blind_and_stays_below_the_bound():
    inst = BernoulliPricingInstance.ferreira(horizon=400)
    bound = inst.lp_bound()
    ratios = {}
    for mode in ("update", "blind"):
        agent = ThompsonPricing(inst.price_array, mode, inventory=inst.inventory, horizon=inst.horizon, n_runs=40)
        ratios[mode] = ratio_summary(simulate_pricing(inst, agent, seed=0).revenue, bound)
    # blind TS mostly sells out at 29.90 early: close to 29.90 * I0 / bound = 0.74 of the bound
    assert 29.90 * inst.inventory / bound - 0.01 < ratios["blind"]["ratio"] < 0.85
    assert ratios["update"]["ci"][0] > ratios["blind"]["ci"][1]
    assert ratios["update"]["ci"][0] < 1.0  # the LP bound is an upper bound on expected revenue


def test_fixed_price_revenue_is_exact():
    inst = BernoulliPricingInstance.ferreira(horizon=3, alpha=1 / 3)  # one unit: revenue p_k * P(any of 3 buys)
    expected = FERREIRA_P * (1 - (1 - np.array([0.8, 0.6, 0.3, 0.1])) ** 3)
    np.testing.assert_allclose(fixed_price_revenue(inst), expected)
    assert best_fixed_price(inst)[0] == int(np.argmax(expected))


def test_baselines_run_and_rank_as_expected():
    inst = BernoulliPricingInstance.ferreira(horizon=2000, alpha=5.0)  # unconstrained: 29.90 is best
    n = 10
    uniform = simulate_pricing(inst, UniformRandomPricing(4, n), seed=0).revenue.mean()
    fixed = simulate_pricing(inst, FixedPricePricing(0, 4, n), seed=0).revenue.mean()
    greedy_agent = MyopicGreedyPricing(inst.price_array, n)
    greedy = simulate_pricing(inst, greedy_agent, seed=0).revenue.mean()
    assert fixed == pytest.approx(29.90 * 0.8 * 2000, rel=0.02)
    assert uniform == pytest.approx(2000 * (FERREIRA_P * [0.8, 0.6, 0.3, 0.1]).mean(), rel=0.03)
    assert greedy > uniform


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "greedy"}, "mode"),
    ({"inventory": -1}, "inventory"),
    ({"horizon": 0}, "horizon"),
    ({"n_runs": 0}, "n_runs"),
    ({"prior": (0, 1)}, "prior"),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = {"mode": "update", "inventory": 10, "horizon": 40, **kwargs}
    with pytest.raises(ValueError, match=match):
        ThompsonPricing(FERREIRA_P, **args)


def test_bad_instances_are_refused():
    with pytest.raises(ValueError, match="purchase_probs"):
        BernoulliPricingInstance((1.0, 2.0), (0.5, 1.5), 10)
    with pytest.raises(ValueError, match="horizon"):
        BernoulliPricingInstance((1.0,), (0.5,), 0)
    with pytest.raises(ValueError, match="theta"):
        solve_pricing_lp(FERREIRA_P, np.array([0.1, 0.2]), 0.3)


@pytest.mark.parametrize("horizon, alpha", [(1000, 0.25), (10000, 0.25), (500, 0.5), (200, 0.05)])
def test_lp_bound_agrees_with_the_pricing_env_oracle(horizon, alpha):
    from envs.defaults import ferreira_demand_params
    from envs.oracles import ferreira_lp_bound

    inst = BernoulliPricingInstance.ferreira(horizon, alpha)
    env_bound = ferreira_lp_bound(ferreira_demand_params(), float(inst.inventory), horizon)["value"]
    assert inst.lp_bound() == pytest.approx(env_bound, rel=1e-9)
