"""Behaviour tests of the synthetic worlds: determinism, valid tables, and that the logs follow the truth."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

from sim_data.synthetic import make_click_world, make_demand_world, make_stock_log
from sim_data.validate import validate

Z = 4.0  # tolerance in standard errors for sampling checks


# ----------------------------------------------------------------------------------------------- click world

@pytest.fixture(scope="module")
def uniform_world():
    return make_click_world(100_000, n_actions=10, n_positions=3, logging="uniform", seed=3)


@pytest.fixture(scope="module")
def softmax_world():
    return make_click_world(60_000, n_actions=6, n_positions=3, logging="softmax", temperature=2.0, seed=4)


def test_click_world_same_seed_same_tables_and_truth():
    log_a, truth_a = make_click_world(2_000, logging="softmax", seed=11)
    log_b, truth_b = make_click_world(2_000, logging="softmax", seed=11)
    pd.testing.assert_frame_equal(log_a.table, log_b.table)
    np.testing.assert_array_equal(truth_a.theta, truth_b.theta)
    np.testing.assert_array_equal(truth_a.contexts, truth_b.contexts)
    log_c, truth_c = make_click_world(2_000, logging="softmax", seed=12)
    assert not np.array_equal(truth_a.theta, truth_c.theta)
    assert not log_a.table["action"].equals(log_c.table["action"])
    assert not log_a.table["context_0"].equals(log_c.table["context_0"])


def test_click_world_logger_choice_leaves_the_world_unchanged():
    _, uniform = make_click_world(500, logging="uniform", seed=5)
    _, soft = make_click_world(500, logging="softmax", seed=5)
    np.testing.assert_array_equal(uniform.theta, soft.theta)
    np.testing.assert_array_equal(uniform.contexts, soft.contexts)
    np.testing.assert_array_equal(uniform.positions, soft.positions)


def test_click_log_is_a_valid_bandit_table(uniform_world):
    log, truth = uniform_world
    checked = validate(log.table, "bandit", n_actions=10, n_positions=3)
    assert len(checked) == 100_000 and log.n_actions == 10 and log.n_positions == 3
    assert log.context_columns == [f"context_{j}" for j in range(5)]
    np.testing.assert_array_equal(log.table[log.context_columns].to_numpy(), truth.contexts)
    np.testing.assert_array_equal(log.positions, truth.positions)
    assert log.table["event_id"].is_unique
    assert log.table["timestamp"].is_monotonic_increasing and log.table["timestamp"].is_unique
    assert set(np.unique(log.rewards)) == {0.0, 1.0}
    np.testing.assert_allclose(log.propensities, 1 / 10)
    assert log.logging_policy == "uniform" and log.provenance.source == "synthetic:click_world"


def test_position_bias_is_decreasing_from_one(uniform_world):
    _, truth = uniform_world
    assert truth.position_bias[0] == 1.0
    assert (np.diff(truth.position_bias) < 0).all()


def test_click_prob_is_position_bias_times_sigmoid_relevance(uniform_world):
    _, truth = uniform_world
    x = truth.contexts[:50]
    expected = special.expit(truth.item_bias + x @ truth.theta)[:, :, None] * truth.position_bias
    np.testing.assert_allclose(truth.click_prob(x), expected, rtol=1e-12)


def test_empirical_ctr_per_action_and_position_matches_click_prob(uniform_world):
    log, truth = uniform_world
    q = truth.click_prob()
    rows = np.arange(len(log))
    q_logged = q[rows, log.actions, log.positions]
    frame = pd.DataFrame({"a": log.actions, "k": log.positions, "r": log.rewards, "q": q_logged, "v": q_logged * (1 - q_logged)})
    cells = frame.groupby(["a", "k"]).agg(n=("r", "size"), ctr=("r", "mean"), q=("q", "mean"), v=("v", "sum"))
    assert len(cells) == 30
    z = (cells["ctr"] - cells["q"]) / (np.sqrt(cells["v"]) / cells["n"])
    assert (z.abs() < Z).all(), z[z.abs() >= Z]
    # the position effect is real: slot 0 out-clicks slot 2 for every action
    ctr = cells["ctr"].unstack()
    assert (ctr[0] > ctr[2]).all()


def test_uniform_actions_and_positions_are_uniform(uniform_world):
    log, _ = uniform_world
    n = len(log)
    for values, k in ((log.actions, 10), (log.positions, 3)):
        counts = np.bincount(values, minlength=k)
        se = np.sqrt(n * (1 / k) * (1 - 1 / k))
        assert (np.abs(counts - n / k) < Z * se).all(), counts


def test_softmax_propensities_are_exact_and_sum_to_one(softmax_world):
    log, truth = softmax_world
    dist = truth.logging_action_dist()
    assert dist.shape == (60_000, 6, 3)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-12)
    rows = np.arange(len(log))
    np.testing.assert_allclose(log.propensities, dist[rows, log.actions, log.positions], rtol=1e-12)
    # the logger depends on the context: propensities are far from uniform
    assert log.propensities.std() > 0.05


def test_softmax_actions_follow_the_logging_distribution(softmax_world):
    log, truth = softmax_world
    rows = np.arange(len(log))
    p = truth.logging_action_dist()[rows, :, log.positions]
    counts = np.bincount(log.actions, minlength=6)
    z = (counts - p.sum(axis=0)) / np.sqrt((p * (1 - p)).sum(axis=0))
    assert (np.abs(z) < Z).all(), z


def test_policy_value_of_logging_policy_is_mean_click_prob(softmax_world, uniform_world):
    log, truth = softmax_world
    value = truth.policy_value(truth.logging_action_dist())
    rows = np.arange(len(log))
    mean_q = truth.click_prob()[rows, log.actions, log.positions]
    se = np.sqrt(np.sum(mean_q * (1 - mean_q))) / len(log)
    assert abs(value - log.rewards.mean()) < Z * se + Z * mean_q.std() / np.sqrt(len(log))
    # uniform logger: the value is the context-wise mean relevance times the slot's position bias
    ulog, utruth = uniform_world
    rel = special.expit(utruth.item_bias + utruth.contexts @ utruth.theta).mean(axis=1)
    np.testing.assert_allclose(utruth.policy_value(utruth.logging_action_dist()),
                               np.mean(rel * utruth.position_bias[utruth.positions]), rtol=1e-12)


def test_ips_with_recorded_propensities_recovers_a_target_policy_value(softmax_world):
    log, truth = softmax_world
    uniform = np.full((len(log), 6, 3), 1 / 6)
    terms = log.rewards * (1 / 6) / log.propensities
    se = terms.std() / np.sqrt(len(log))
    assert abs(terms.mean() - truth.policy_value(uniform)) < Z * se


def test_policy_value_orders_policies_and_checks_input(softmax_world):
    _, truth = softmax_world
    n = truth.n_rounds
    best = truth.optimal_value()
    assert best > truth.policy_value(truth.logging_action_dist()) > 0
    for a in range(6):
        one_hot = np.zeros((n, 6, 3))
        one_hot[:, a, :] = 1.0
        value = truth.policy_value(one_hot)
        np.testing.assert_allclose(value, np.mean(truth.click_prob()[np.arange(n), a, truth.positions]), rtol=1e-12)
        assert value <= best
    with pytest.raises(ValueError, match="shape"):
        truth.policy_value(np.full((n, 6), 1 / 6))
    with pytest.raises(ValueError, match="sum to 1"):
        truth.policy_value(np.full((n, 6, 3), 0.5))
    with pytest.raises(ValueError, match="positions"):
        truth.policy_value(truth.logging_action_dist(), positions=np.full(n, 3))
    # evaluating at slot 0 everywhere gives more clicks than at the logged slots
    assert truth.policy_value(truth.best_action_dist(), positions=np.zeros(n, dtype=int)) > best


def test_best_slate_is_the_brute_force_best_distinct_slate():
    _, truth = make_click_world(50, n_actions=5, n_positions=3, seed=8)
    slate = truth.best_slate()
    q = truth.click_prob()
    assert slate.shape == (50, 3)
    np.testing.assert_array_equal(slate[:, 0], truth.best_action())
    for i in range(50):
        values = {perm: sum(q[i, a, k] for k, a in enumerate(perm)) for perm in itertools.permutations(range(5), 3)}
        assert max(values, key=values.get) == tuple(slate[i])
    with pytest.raises(ValueError, match="n_positions <= n_actions"):
        make_click_world(10, n_actions=2, n_positions=3)[1].best_slate()


def test_click_world_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_rounds"):
        make_click_world(0)
    with pytest.raises(ValueError, match="logging"):
        make_click_world(10, logging="greedy")
    with pytest.raises(ValueError, match="temperature"):
        make_click_world(10, logging="softmax", temperature=0.0)
    with pytest.raises(ValueError, match="position_bias"):
        make_click_world(10, n_positions=2, position_bias=[0.5, 1.0])
    with pytest.raises(TypeError, match="seed"):
        make_click_world(10, seed=1.5)
    log, truth = make_click_world(10, n_positions=2, position_bias=[1.0, 0.7])
    np.testing.assert_array_equal(truth.position_bias, [1.0, 0.7])


# ---------------------------------------------------------------------------------------------- demand world

@pytest.fixture(scope="module")
def demand_world():
    return make_demand_world(n_shoppers=500, n_weeks=52, n_products=3, seed=2, randomized_share=0.25)


def _arrays(table: pd.DataFrame, n_products: int) -> dict[str, np.ndarray]:
    """Per-occasion arrays (occasions, products) from a choice table sorted by occasion then product."""
    n = table["occasion_id"].nunique()
    out = {c: table[c].to_numpy().reshape(n, n_products) for c in ("price", "display", "feature", "chosen")}
    out["week"] = table["time"].to_numpy()[::n_products]
    out["y"] = np.where(out["chosen"].any(axis=1), out["chosen"].argmax(axis=1), n_products)
    return out


def _fit_logit(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conditional logit by Newton's method: ``design`` (n, alternatives, k), ``y`` (n,) -> (coef, standard errors)."""
    n, _, k = design.shape
    coef = np.zeros(k)

    def loglik(b):
        u = design @ b
        return np.sum(u[np.arange(n), y] - special.logsumexp(u, axis=1))

    for _ in range(100):
        p = special.softmax(design @ coef, axis=1)
        mean_x = np.einsum("na,nak->nk", p, design)
        grad = (design[np.arange(n), y] - mean_x).sum(axis=0)
        hess = np.einsum("na,nak,nal->kl", p, design, design) - mean_x.T @ mean_x
        step = np.linalg.solve(hess, grad)
        size, base = 1.0, loglik(coef)
        while loglik(coef + size * step) < base and size > 1e-8:
            size /= 2
        coef = coef + size * step
        if np.max(np.abs(size * step)) < 1e-10:
            break
    p = special.softmax(design @ coef, axis=1)
    mean_x = np.einsum("na,nak->nk", p, design)
    hess = np.einsum("na,nak,nal->kl", p, design, design) - mean_x.T @ mean_x
    return coef, np.sqrt(np.diag(np.linalg.inv(hess)))


def _design(arrays: dict, columns: list[np.ndarray]) -> np.ndarray:
    """Stack per-product covariates (each (n, J)) into (n, J + 1, k) with an all-zero outside option."""
    inside = np.stack(columns, axis=-1).astype(np.float64)
    return np.concatenate([inside, np.zeros((inside.shape[0], 1, inside.shape[2]))], axis=1)


def test_demand_world_same_seed_same_tables_and_truth():
    log_a, truth_a = make_demand_world(n_shoppers=30, n_weeks=10, seed=9, randomized_share=0.3)
    log_b, truth_b = make_demand_world(n_shoppers=30, n_weeks=10, seed=9, randomized_share=0.3)
    pd.testing.assert_frame_equal(log_a.table, log_b.table)
    np.testing.assert_array_equal(truth_a.xi, truth_b.xi)
    assert truth_a.alpha == truth_b.alpha
    log_c, truth_c = make_demand_world(n_shoppers=30, n_weeks=10, seed=10, randomized_share=0.3)
    assert not np.array_equal(truth_a.xi, truth_c.xi)
    assert not log_a.table["price"].equals(log_c.table["price"])


def test_demand_log_is_a_valid_choice_table(demand_world):
    log, truth = demand_world
    validate(log.table, "choice")
    t = log.table
    assert len(t) == 500 * 52 * 3
    assert (t.groupby("occasion_id")["product"].nunique() == 3).all()
    assert (t.groupby("occasion_id")["chosen"].sum() <= 1).all()
    np.testing.assert_array_equal(t["quantity"].to_numpy(), t["chosen"].to_numpy().astype(float))
    assert log.products == list(truth.products)
    assert (t.groupby("shopper_id")["time"].nunique() == 52).all()
    inst = truth.instruments
    assert list(inst.columns) == ["time", "product", "cost_shifter"] and len(inst) == 52 * 3
    np.testing.assert_array_equal(inst["cost_shifter"].to_numpy().reshape(52, 3), truth.cost_shifter)


def test_prices_follow_the_shelf_rule_except_in_randomized_weeks(demand_world):
    log, truth = demand_world
    a = _arrays(log.table, 3)
    assert truth.randomized_weeks.size == 13
    random_rows = np.isin(a["week"], truth.randomized_weeks)
    np.testing.assert_allclose(a["price"][~random_rows], truth.shelf_prices[a["week"][~random_rows]])
    np.testing.assert_allclose(truth.shelf_prices,
                               truth.base_prices * (1 + truth.cost_shifter) + truth.confounding * truth.xi)
    rel = a["price"][random_rows] / truth.base_prices
    assert rel.min() >= 0.7 and rel.max() <= 1.3
    # randomized prices vary between visitors of the same week and are unrelated to the week's shock
    week0 = a["price"][a["week"] == truth.randomized_weeks[0]]
    assert week0[:, 0].std() > 0.1
    xi_rows = truth.xi[a["week"][random_rows]]
    assert abs(np.corrcoef(rel.ravel(), xi_rows.ravel())[0, 1]) < Z / np.sqrt(rel.size)


def test_shares_match_choice_probs(demand_world):
    log, truth = demand_world
    a = _arrays(log.table, 3)
    probs = truth.choice_probs(a["price"], a["display"], a["feature"], week=a["week"])
    assert probs.shape == (len(a["y"]), 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    observed = np.bincount(a["y"], minlength=4) / len(a["y"])
    se = np.sqrt((probs * (1 - probs)).sum(axis=0)) / len(a["y"])
    assert (np.abs(observed - probs.mean(axis=0)) < Z * se).all(), (observed, probs.mean(axis=0))
    summary = log.summary()
    np.testing.assert_allclose(summary["no_purchase_share"], observed[3])
    assert abs(summary["display_rate"] - truth.display_rate) < Z * np.sqrt(0.15 * 0.85 / len(log))


def test_naive_logit_on_confounded_weeks_is_biased_and_randomized_slice_recovers_beta(demand_world):
    log, truth = demand_world
    a = _arrays(log.table, 3)
    n, j = a["price"].shape
    dummies = [np.broadcast_to(np.eye(j)[p], (n, j)) for p in range(j)]
    confounded = ~np.isin(a["week"], truth.randomized_weeks)
    naive_design = _design(a, dummies + [a["price"], a["display"], a["feature"]])
    coef, se = _fit_logit(naive_design[confounded], a["y"][confounded])
    naive_beta, naive_se = coef[j], se[j]
    assert naive_beta > truth.beta_price + 0.2 * abs(truth.beta_price)   # biased toward zero
    assert naive_beta - truth.beta_price > 10 * naive_se

    # randomized weeks, (week, product) fixed effects absorb xi exactly
    random = ~confounded
    weeks = a["week"][random]
    fe = [(weeks[:, None] == w) & (np.arange(j)[None, :] == p) for w in truth.randomized_weeks for p in range(j)]
    sub = {k: v[random] for k, v in a.items()}
    design = _design(sub, fe + [sub["price"], sub["display"], sub["feature"]])
    coef, se = _fit_logit(design, sub["y"])
    k = len(fe)
    for est, err, true in zip(coef[k:], se[k:], (truth.beta_price, truth.beta_display, truth.beta_feature), strict=True):
        assert abs(est - true) < 3 * err, (est, err, true)
    # the fixed effects are alpha_j + xi_wj - outside_utility
    fixed = coef[:k].reshape(-1, j)
    expected = truth.alpha_vector + truth.xi[truth.randomized_weeks] - truth.outside_utility
    assert np.all(np.abs(fixed - expected) < Z * se[:k].reshape(-1, j))


def test_cost_shifter_is_a_valid_instrument(demand_world):
    _, truth = demand_world
    z, xi = truth.cost_shifter.ravel(), truth.xi.ravel()
    assert abs(np.corrcoef(z, xi)[0, 1]) < Z / np.sqrt(z.size)         # exogenous
    for p in range(truth.n_products):                                   # relevant: first-stage slope is base_j
        fit = np.polynomial.polynomial.polyfit(truth.cost_shifter[:, p], truth.shelf_prices[:, p], 1)
        assert fit[1] > 0.5 * truth.base_prices[p]
    assert np.corrcoef((truth.shelf_prices - truth.base_prices).ravel(), xi)[0, 1] > 0.5   # confounded


def test_choice_probs_shapes_and_comparative_statics(demand_world):
    _, truth = demand_world
    p = truth.base_prices
    probs = truth.choice_probs(p)
    assert probs.shape == (4,) and np.isclose(probs.sum(), 1.0)
    batch = truth.choice_probs(np.tile(p, (2, 5, 1)), week=np.array([[0] * 5, [1] * 5]))
    assert batch.shape == (2, 5, 4)
    np.testing.assert_allclose(batch[1, 0], truth.choice_probs(p, week=1))
    u = truth.alpha_vector + truth.beta_price * p + truth.xi[1]
    np.testing.assert_allclose(batch[1, 0], special.softmax(np.append(u, truth.outside_utility)))
    higher = truth.choice_probs(p + np.array([0.5, 0, 0]))
    assert higher[0] < probs[0] and (higher[1:] > probs[1:]).all()
    assert truth.choice_probs(p, display=np.array([1, 0, 0]))[0] > probs[0]
    with pytest.raises(ValueError, match="prices must have shape"):
        truth.choice_probs(p[:2])
    with pytest.raises(ValueError, match="week"):
        truth.choice_probs(p, week=52)


def test_outside_utility_sets_the_no_purchase_share():
    shares = []
    for outside in (-1.0, 0.0, 1.0):
        log, truth = make_demand_world(n_shoppers=100, n_weeks=20, seed=1, outside_utility=outside)
        assert truth.outside_utility == outside
        shares.append(log.summary()["no_purchase_share"])
    assert shares[0] < shares[1] < shares[2]


def test_elasticities_match_numerical_derivatives(demand_world):
    _, truth = demand_world
    p = truth.base_prices * np.array([1.0, 1.1, 0.9])
    e = truth.elasticities(p, display=np.array([1, 0, 0]))
    h = 1e-6
    for k in range(3):
        up, down = p.copy(), p.copy()
        up[k] *= np.exp(h)
        down[k] *= np.exp(-h)
        log_up = np.log(truth.choice_probs(up, display=np.array([1, 0, 0]))[:3])
        log_down = np.log(truth.choice_probs(down, display=np.array([1, 0, 0]))[:3])
        np.testing.assert_allclose(e[:, k], (log_up - log_down) / (2 * h), rtol=1e-6, atol=1e-8)
    assert (np.diag(e) < 0).all() and (e[~np.eye(3, dtype=bool)] > 0).all()


def test_joint_optimal_prices_maximise_profit(demand_world):
    _, truth = demand_world
    costs = truth.unit_costs
    best = truth.optimal_prices(costs)
    profit = truth.expected_profit(best, costs)
    markup = best - costs
    np.testing.assert_allclose(markup, markup[0])                       # equal markups in the MNL
    np.testing.assert_allclose(markup[0], 1 / (-truth.beta_price * truth.choice_probs(best)[-1]), rtol=1e-10)
    rng = np.random.default_rng(0)
    for start in rng.uniform(1.0, 6.0, size=(5, 3)):
        res = optimize.minimize(lambda x: -truth.expected_profit(x, costs), start, method="Nelder-Mead",
                                options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000})
        assert -res.fun <= profit + 1e-9
        np.testing.assert_allclose(res.x, best, atol=1e-3)
    assert profit > truth.expected_profit(truth.base_prices, costs)


def test_single_product_and_nash_prices_satisfy_their_first_order_conditions():
    _, one = make_demand_world(n_shoppers=5, n_weeks=3, n_products=1, seed=0)
    c = one.unit_costs
    p = one.optimal_prices(c)
    s = one.choice_probs(p)[0]
    np.testing.assert_allclose(p - c, 1 / (-one.beta_price * (1 - s)), rtol=1e-10)
    _, truth = make_demand_world(n_shoppers=5, n_weeks=3, n_products=3, seed=0)
    c = truth.unit_costs
    nash = truth.optimal_prices(c, competition="nash", week=1)
    h = 1e-6
    for j in range(3):                                                   # no firm gains by moving its own price
        def own(x, j=j):
            q = nash.copy()
            q[j] = x
            return (x - c[j]) * truth.choice_probs(q, week=1)[j]
        assert abs(own(nash[j] + h) - own(nash[j] - h)) / (2 * h) < 1e-6
    joint = truth.optimal_prices(c, week=1)
    assert (nash < joint).all()                                           # competition lowers prices
    with pytest.raises(ValueError, match="competition"):
        truth.optimal_prices(c, competition="cartel")


def test_visit_prob_thins_occasions():
    log, truth = make_demand_world(n_shoppers=200, n_weeks=30, seed=3, visit_prob=0.4)
    n = log.summary()["occasions"]
    assert abs(n - 0.4 * 6000) < Z * np.sqrt(6000 * 0.4 * 0.6)
    assert truth.visit_prob == 0.4


def test_demand_world_rejects_bad_arguments():
    with pytest.raises(ValueError, match="randomized_share"):
        make_demand_world(randomized_share=1.5)
    with pytest.raises(ValueError, match="beta_price"):
        make_demand_world(beta_price=0.5)
    with pytest.raises(ValueError, match="products"):
        make_demand_world(n_products=2, products=["a", "a"])
    with pytest.raises(ValueError, match="n_shoppers"):
        make_demand_world(n_shoppers=0)


# ----------------------------------------------------------------------------------------------- stock world

def test_stock_log_follows_the_base_stock_policy():
    log, truth = make_stock_log(n_products=2, n_periods=200, seed=5, lead_time=2, base_stock=[25.0, 60.0],
                                demand_mean=[10.0, 12.0])
    validate(log.table, "stock")
    t = log.table
    shape = (200, 2)
    on_hand, ordered, received, sold, lost = (t[c].to_numpy().reshape(shape) for c in
                                              ("on_hand", "ordered", "received", "sold", "lost_sales"))
    np.testing.assert_array_equal(sold, np.minimum(truth.demand, on_hand + received))
    np.testing.assert_array_equal(lost, truth.demand - sold)
    np.testing.assert_array_equal(received[2:], ordered[:-2])
    np.testing.assert_array_equal(on_hand[1:], (on_hand + received - sold)[:-1])
    position = on_hand + received - sold + ordered + np.vstack([np.zeros((1, 2)), ordered[:-1]])
    np.testing.assert_array_equal(position, np.broadcast_to(truth.base_stock, shape))
    assert lost[:, 0].sum() > 0 and lost[:, 1].sum() == 0                # tight vs generous base stock
    demand = sold + lost
    se = np.sqrt(truth.demand_mean / 200)
    assert (np.abs(demand.mean(axis=0) - truth.demand_mean) < Z * se).all()


def test_stock_log_is_seeded():
    a, _ = make_stock_log(seed=1)
    b, _ = make_stock_log(seed=1)
    c, _ = make_stock_log(seed=2)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not a.table["sold"].equals(c.table["sold"])
    with pytest.raises(ValueError, match="lead_time"):
        make_stock_log(lead_time=0)
