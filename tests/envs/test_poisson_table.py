"""The table-inversion Poisson sampler draws from the Poisson distribution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from envs._poisson import PoissonTable


@pytest.mark.parametrize("rate", [0.0, 0.4, 3.0, 12.5, 60.0])
def test_draws_pass_a_chi_square_test(rate):
    table = PoissonTable(np.array([1.0, rate, 7.0]))
    draws = table.sample(np.random.default_rng(0), np.full(100_000, 1))
    if rate == 0.0:
        assert (draws == 0).all()
        return
    k = np.arange(draws.max() + 1)
    observed = np.bincount(draws, minlength=k.size)
    expected = stats.poisson.pmf(k, rate) * draws.size
    keep = expected > 5
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3


def test_rows_are_addressed_by_flat_index_and_seeded():
    table = PoissonTable(np.array([[0.0, 50.0], [5.0, 0.0]]))
    idx = np.tile([0, 1, 2, 3], 1000)
    a = table.sample(np.random.default_rng(1), idx).reshape(-1, 4)
    b = table.sample(np.random.default_rng(1), idx).reshape(-1, 4)
    np.testing.assert_array_equal(a, b)
    assert a[:, 0].max() == 0 and a[:, 3].max() == 0
    assert a[:, 1].mean() == pytest.approx(50.0, abs=1.0) and a[:, 2].mean() == pytest.approx(5.0, abs=0.3)
