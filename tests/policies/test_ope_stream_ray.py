"""The Ray engine on a local Ray cluster with 2 workers gives exactly the local engine's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from policies.ope.stream import LogRowError, evaluate_stream
from policies.policy import LinearSoftmaxPolicy
from sim_data.synthetic import make_click_world

ray = pytest.importorskip("ray", reason="the ray extra (ray[data]) is part of make setup")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_engine_equals_local_engine_exactly(cluster, tmp_path):
    log, _ = make_click_world(3000, n_actions=5, n_positions=2, n_features=2, logging="softmax", seed=9)
    for i, rows in enumerate(np.array_split(np.arange(len(log)), 4)):
        log.table.iloc[rows].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    policy = LinearSoftmaxPolicy(np.random.default_rng(2).normal(size=(2, 5, 2)), epsilon=0.05)
    options = dict(estimators="ipw,snipw,dr,switch-dr", n_resamples=100, seed=1, batch_size=500, workers=2)
    local = evaluate_stream(str(tmp_path), policy, **options)
    on_ray = evaluate_stream(str(tmp_path), policy, engine="ray", **options)
    assert on_ray.run["engine"] == "ray" and on_ray.run["units"] == 4
    for a, b in zip(local.results, on_ray.results, strict=True):
        assert (a.label, a.estimate, a.ci, a.std_error, a.lower_bound) == (b.label, b.estimate, b.ci, b.std_error,
                                                                           b.lower_bound)
    bad = log.table.iloc[:100].copy()
    bad.loc[bad.index[42], "action"] = 99
    bad.to_parquet(tmp_path / "part-9.parquet", index=False)
    with pytest.raises(LogRowError, match=r"part-9\.parquet: row 42: column 'action'"):
        evaluate_stream(str(tmp_path), policy, engine="ray", **options)
