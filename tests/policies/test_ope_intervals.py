"""Bootstrap intervals, lower bounds, overlap diagnostics and SLOPE."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from policies.ope.bandit import SwitchDR
from policies.ope.base import Estimator, RoundTerms
from policies.ope.diagnostics import weight_diagnostics
from policies.ope.intervals import (
    bernstein_lower_bound,
    bootstrap_interval,
    bootstrap_values,
    lower_bound,
    t_lower_bound,
)
from policies.ope.slope import SLOPE_C, SlopeTuned, slope_select
from policies.ope.validation import bandit_inputs


def mean_terms(values) -> RoundTerms:
    v = np.asarray(values, dtype=np.float64)
    return RoundTerms(direct=np.zeros_like(v), weighted=v)


def test_bootstrap_is_seeded():
    terms = mean_terms(np.random.default_rng(0).random(1000))
    np.testing.assert_array_equal(bootstrap_values(terms, 50, seed=7), bootstrap_values(terms, 50, seed=7))
    assert not np.array_equal(bootstrap_values(terms, 50, seed=7), bootstrap_values(terms, 50, seed=8))


def test_bootstrap_of_a_mean_matches_the_normal_width():
    rng = np.random.default_rng(1)
    values = rng.exponential(size=20_000)
    lo, hi = bootstrap_interval(mean_terms(values), confidence=0.95, n_resamples=400, seed=0)
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert lo < values.mean() < hi
    assert (hi - lo) == pytest.approx(2 * 1.959964 * se, rel=0.12)


def test_block_bootstrap_agrees_with_the_row_bootstrap():
    values = np.random.default_rng(2).binomial(1, 0.1, size=50_000) * 8.0
    rows = bootstrap_interval(mean_terms(values), n_resamples=300, seed=0)
    blocks = bootstrap_interval(mean_terms(values), n_resamples=300, seed=0, max_draws=300 * 2_000)  # 25-row blocks
    assert (blocks[1] - blocks[0]) == pytest.approx(rows[1] - rows[0], rel=0.15)
    assert blocks[0] < values.mean() < blocks[1]


def test_self_normalised_resamples_are_renormalised():
    r = np.random.default_rng(3).binomial(1, 0.3, size=500).astype(float)
    w = np.full(500, 3.0)  # constant weights: SNIPS is the plain mean in every resample
    sn = RoundTerms(direct=np.zeros(500), weighted=w * r, normaliser=w)
    np.testing.assert_allclose(bootstrap_values(sn, 40, seed=5), bootstrap_values(mean_terms(r), 40, seed=5))


def test_bootstrap_coverage_of_a_known_mean():
    rng = np.random.default_rng(4)
    covered = 0
    for rep in range(100):
        values = rng.binomial(1, 0.2, size=400) * 5.0  # true mean 1.0
        lo, hi = bootstrap_interval(mean_terms(values), n_resamples=200, seed=rep)
        covered += lo <= 1.0 <= hi
    assert 88 <= covered <= 99


def test_t_lower_bound_exact():
    # mean 2.5, sd sqrt(5/3), n 4, t_{3, 0.95} = 2.3533634
    assert t_lower_bound(mean_terms([1, 2, 3, 4]), 0.95) == pytest.approx(2.5 - 2.3533634 * np.sqrt(5 / 3) / 2, abs=1e-6)


def test_bernstein_lower_bound_exact():
    log_term = np.log(40.0)
    expected = 0.5 - np.sqrt(2 * (1 / 3) * log_term / 4) - 7 * log_term / 9
    assert bernstein_lower_bound(mean_terms([0, 1, 0, 1]), 0.95) == pytest.approx(expected)
    assert lower_bound(mean_terms([0, 1, 0, 1]), "bernstein") == pytest.approx(expected)
    with pytest.raises(ValueError, match="lower-bound method"):
        lower_bound(mean_terms([0, 1]), "hoeffding")


def test_diagnostics_exact_values():
    d = weight_diagnostics(np.array([1.6, 0.8, 2.0, 2.0]))
    assert d["ess"] == pytest.approx(6.4 ** 2 / 11.2)
    assert d["max_weight"] == 2.0
    assert d["mean_weight"] == pytest.approx(1.6)
    assert d["never_taken_share"] == 0.0


def test_diagnostics_warn_in_plain_language():
    w = np.zeros(1000)
    w[:5] = 200.0
    d = weight_diagnostics(w)
    assert d["ess"] == pytest.approx(5.0)
    assert d["never_taken_share"] == pytest.approx(0.995)
    text = " ".join(d["warnings"])
    assert "Very little overlap" in text
    assert "would never take 99.5% of the logged actions, so only 0.5% of the rows" in text
    assert "single logged row carries 20.0%" in text
    assert not weight_diagnostics(np.ones(1000))["warnings"]


@dataclass
class Fixed(Estimator):
    values: np.ndarray
    name: str = "fixed"

    def round_terms(self, inputs) -> RoundTerms:
        return mean_terms(self.values)


def test_slope_stops_before_the_biased_low_variance_candidate():
    signs = np.tile([1.0, -1.0], 200)  # n = 400, mean 0
    unbiased = Fixed(1.0 + 1.0 * signs)  # width 2 * 1.0013 / 20 ~ 0.1
    slightly = Fixed(1.02 + 0.1 * signs)  # width ~ 0.01: |1.02 - 1.0| <= 0.01 + C * 0.1 -> accepted
    biased = Fixed(1.5 + 0.01 * signs)  # |1.5 - 1.0| > 0.001 + C * 0.1 -> rejected
    idx, table = slope_select([biased, unbiased, slightly], None)
    assert idx == 2
    assert [row["accepted"] for row in table] == [False, True, True]
    assert SLOPE_C == pytest.approx(np.sqrt(6) - 1)


def test_slope_tuned_estimator_equals_the_chosen_member():
    rng = np.random.default_rng(0)
    n = 2000
    inputs = bandit_inputs(actions=rng.integers(0, 4, n), rewards=rng.binomial(1, 0.3, n).astype(float),
                           propensities=np.full(n, 0.25), action_dist=rng.dirichlet(np.ones(4) * 0.3, n)[:, :, None],
                           reward_pred=np.full((n, 4, 1), 0.3))
    tuned = SlopeTuned(make=lambda t: SwitchDR(threshold=t), param="threshold", grid=[1.0, 2.0, 3.0, np.inf])
    value = tuned.estimate(inputs)
    chosen = tuned.selected["value"]
    assert chosen in (1.0, 2.0, 3.0, np.inf)
    assert value == pytest.approx(SwitchDR(threshold=chosen).estimate(inputs))
    assert tuned.label().startswith("switch-dr(threshold=")
