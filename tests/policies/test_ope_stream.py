"""Streaming OPE: same numbers as the in-memory path, exact merges, split-invariant intervals, out-of-fold models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policies.ope.base import RoundTerms
from policies.ope.poisson import poisson_weights
from policies.ope.reward_model import cross_fit_rewards
from policies.ope.run import evaluate_log, log_contexts
from policies.ope.stream import LogRowError, evaluate_stream
from policies.ope.stream_reward import fit_fold_reward_model, sample_mask
from policies.ope.stream_stats import BlockLayout, TermStats
from policies.policy import FixedDistributionPolicy, LinearSoftmaxPolicy
from sim_data.synthetic import make_click_world

ALL = "dm,ipw,snipw,dr,sndr,switch-dr,dr-os"


def write_parts(table, directory: Path, n_files: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(table)), n_files)):
        table.iloc[rows].to_parquet(directory / f"part-{i:05d}.parquet", index=False)
    return directory


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    log, _ = make_click_world(4000, n_actions=6, n_positions=2, n_features=3, logging="softmax", seed=5)
    policy = LinearSoftmaxPolicy(np.random.default_rng(1).normal(size=(3, 6, 2)), epsilon=0.1)
    return root, log, policy, write_parts(log.table, root / "three", 3)


def assert_same_estimates(memory, streamed, rtol=1e-9):
    assert [r.label for r in memory.results] == [r.label for r in streamed.results]
    for a, b in zip(memory.results, streamed.results, strict=True):
        assert b.estimate == pytest.approx(a.estimate, rel=rtol, abs=0), a.label
        assert b.std_error == pytest.approx(a.std_error, rel=1e-7), a.label
        assert b.lower_bound == pytest.approx(a.lower_bound, rel=1e-7), a.label
        for key in ("ess", "max_weight", "mean_weight", "never_taken_share"):
            assert b.diagnostics[key] == pytest.approx(a.diagnostics[key], rel=1e-9), (a.label, key)


def test_synthetic_streaming_equals_in_memory_for_every_estimator(synthetic):
    _, log, policy, parts = synthetic
    memory = evaluate_log(log, policy, estimators=ALL, n_resamples=50)
    streamed = evaluate_stream(str(parts), policy, estimators=ALL, n_resamples=50, batch_size=700)
    assert_same_estimates(memory, streamed)
    assert streamed.run["files"] == 3 and streamed.run["reward_model"]["sample_rows"] == len(log)
    for a, b in zip(memory.results, streamed.results, strict=True):
        assert a.params == b.params  # SLOPE picked the same hyper-parameter
        assert b.ci[0] < b.estimate < b.ci[1]


def test_obd_streaming_equals_in_memory(tmp_path):
    from sim_data.sources.obd import load_obd

    log = load_obd(policy="random", campaign="men")
    dist = np.random.default_rng(0).dirichlet(np.ones(log.n_actions), size=log.n_positions).T
    parts = write_parts(log.table, tmp_path / "obd", 4)
    memory = evaluate_log(log, dist, estimators=ALL, n_resamples=20)
    streamed = evaluate_stream(str(parts), FixedDistributionPolicy(dist), estimators=ALL, n_resamples=20,
                               batch_size=1024)
    assert_same_estimates(memory, streamed)


def test_estimates_and_intervals_do_not_depend_on_files_batches_or_units(synthetic, tmp_path):
    root, log, policy, parts = synthetic
    one = write_parts(log.table, tmp_path / "one", 1)
    seven = write_parts(log.table, tmp_path / "seven", 7)
    runs = [evaluate_stream(str(p), policy, estimators="ipw,snipw,dr", n_resamples=200, seed=3, batch_size=b,
                            unit_rows=u, workers=w)
            for p, b, u, w in ((one, 4000, 10**6, 1), (seven, 131, 250, 2), (parts, 999, 10**6, 1))]
    first = runs[0]
    for other in runs[1:]:
        for a, b in zip(first.results, other.results, strict=True):
            assert b.estimate == pytest.approx(a.estimate, rel=1e-12)
            np.testing.assert_allclose(b.ci, a.ci, rtol=1e-10)
    again = evaluate_stream(str(one), policy, estimators="ipw", n_resamples=200, seed=4)
    assert again.results[0].ci != first.results[0].ci  # another seed, another interval


def test_term_stats_merge_equals_one_pass_and_round_terms():
    rng = np.random.default_rng(0)
    n = 5000
    terms = RoundTerms(direct=rng.random(n), weighted=rng.exponential(size=n) * (rng.random(n) < 0.1),
                       normaliser=rng.exponential(size=n))
    whole = TermStats(True, 64)
    whole.update(terms, BlockLayout.for_rows(0, n, 7, 64, seed=1))
    merged = TermStats(True, 64)
    cuts = [0, 13, 1000, 1001, 3777, n]
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        part = RoundTerms(terms.direct[lo:hi], terms.weighted[lo:hi], terms.normaliser[lo:hi])
        merged.update(part, BlockLayout.for_rows(lo, hi - lo, 7, 64, seed=1))
    assert merged.value() == pytest.approx(terms.value(), rel=1e-12)
    assert merged.std_error() == pytest.approx(terms.std_error(), rel=1e-10)
    assert whole.std_error() == pytest.approx(terms.std_error(), rel=1e-10)
    np.testing.assert_allclose(merged.boot, whole.boot, rtol=1e-12)
    np.testing.assert_allclose(merged.bootstrap_values(), whole.bootstrap_values(), rtol=1e-12)


def test_poisson_bootstrap_spread_matches_the_standard_error(synthetic):
    _, _, policy, parts = synthetic
    ev = evaluate_stream(str(parts), policy, estimators="ipw,snipw", n_resamples=2000, seed=0)
    for r in ev.results:
        width = r.ci[1] - r.ci[0]
        assert width / (2 * 1.96 * r.std_error) == pytest.approx(1.0, abs=0.12), r.name


def test_poisson_weights_are_keyed_on_seed_and_block():
    w = poisson_weights(7, np.arange(20_000), 50)
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.var() == pytest.approx(1.0, abs=0.02)
    np.testing.assert_array_equal(poisson_weights(7, np.arange(15_000, 15_010), 50), w[15_000:15_010])
    assert not np.array_equal(poisson_weights(8, np.arange(100), 50), w[:100])
    with pytest.raises(ValueError, match="seed"):
        poisson_weights(-1, np.arange(3), 5)


def test_reward_model_on_the_whole_log_is_the_in_memory_cross_fit(synthetic):
    _, log, _, _ = synthetic
    rows = np.arange(len(log))
    model = fit_fold_reward_model(log.table, rows, len(log), log.n_actions, log.n_positions, n_folds=3, seed=2)
    memory = cross_fit_rewards(log_contexts(log), log.actions, log.positions, log.rewards, log.n_actions,
                               log.n_positions, n_folds=3, seed=2)
    streamed = model.slot_predictions(log.table, log.positions, rows)
    np.testing.assert_allclose(streamed, memory[rows, :, log.positions], rtol=1e-10)


def test_sampled_reward_model_predicts_every_row_out_of_its_fold(synthetic):
    from sklearn.linear_model import LogisticRegression

    from policies.ope.reward_model import _design

    _, log, _, _ = synthetic
    n = len(log)
    rows = np.arange(n)
    mask = sample_mask(rows, n, 1500, seed=0)
    assert 1200 < mask.sum() < 1800  # a bounded sample, not the log
    sample = log.table[mask].reset_index(drop=True)
    model = fit_fold_reward_model(sample, rows[mask], n, log.n_actions, log.n_positions, n_folds=3, seed=0)
    folds = model.folds.of(rows)
    for m, train in enumerate(model.train_rows):
        assert np.all(folds[train] != m)  # model m never saw a row it predicts
        assert set(train) == set(rows[mask][folds[mask] != m])
    # each prediction comes from the model fitted on exactly train_rows[fold]: refit it independently
    m = 1
    x = model.features(log.table)
    train = model.train_rows[m]
    ref = LogisticRegression(C=1.0, max_iter=1000).fit(
        _design(x[train], log.actions[train], log.positions[train], log.n_actions, log.n_positions,
                model.interactions), log.rewards[train].astype(np.int64))
    test = np.flatnonzero(folds == m)
    pred = model.slot_predictions(log.table.iloc[test], log.positions[test], test)
    a = log.actions[test]
    expected = ref.predict_proba(_design(x[test], a, log.positions[test], log.n_actions, log.n_positions,
                                         model.interactions))[:, 1]
    np.testing.assert_allclose(pred[np.arange(test.size), a], expected, rtol=1e-6)


def test_a_bad_file_stops_the_run_naming_file_row_and_column(synthetic, tmp_path):
    _, log, policy, _ = synthetic
    parts = write_parts(log.table, tmp_path / "bad", 3)
    bad = log.table.iloc[:500].copy()
    bad.loc[bad.index[7], "propensity"] = 1.7
    bad.to_parquet(parts / "part-00003.parquet", index=False)
    with pytest.raises(LogRowError, match=r"part-00003\.parquet: row 7: column 'propensity'"):
        evaluate_stream(str(parts), policy, estimators="ipw")
    (parts / "part-00003.parquet").unlink()
    log.table.drop(columns=["reward"]).iloc[:10].to_parquet(parts / "part-00004.parquet", index=False)
    with pytest.raises(LogRowError, match=r"part-00004\.parquet: missing required column\(s\) \['reward'\]"):
        evaluate_stream(str(parts), policy, estimators="ipw")


def test_glob_and_single_file_logs(synthetic):
    _, log, policy, parts = synthetic
    first_two = evaluate_stream(str(parts / "part-0000[01].parquet"), policy, estimators="ipw")
    n = sum(len(t) for t in np.array_split(np.arange(len(log)), 3)[:2])
    assert first_two.n_rounds == n
    memory = evaluate_log(type(log).from_frame(log.table.iloc[:n], n_actions=6, n_positions=2), policy,
                          estimators="ipw")
    assert first_two.results[0].estimate == pytest.approx(memory.results[0].estimate, rel=1e-9)
    with pytest.raises(FileNotFoundError, match="matches no file"):
        evaluate_stream(str(parts / "nothing-*.parquet"), policy, estimators="ipw")
    with pytest.raises(ValueError, match="cannot stream"):
        evaluate_stream(str(parts), np.ones((4000, 6, 2)) / 6, estimators="ipw")
