"""Sweeps on Ray Tune: settings drawn reproducibly, every setting trained with every seed, on a local Ray."""

from __future__ import annotations

import json

import pytest

from agents.run_config import RunConfig, TuneConfig
from agents.train import run_training
from agents.tune import run_sweep, sample_settings


def test_settings_are_reproducible_and_cross_grids():
    tune = TuneConfig(num_samples=3, search={"learning_rate": {"loguniform": [1e-4, 1e-2]},
                                             "n_epochs": {"choice": [1, 2, 3]}, "gamma": {"grid": [0.9, 0.99]},
                                             "batch_size": {"randint": [16, 64]}})
    tune.validate()
    first, again, other = sample_settings(tune, 0), sample_settings(tune, 0), sample_settings(tune, 1)
    assert first == again and first != other
    assert len(first) == 6  # 3 draws x 2 grid values
    assert [s["gamma"] for s in first] == [0.9, 0.99] * 3
    assert first[0]["learning_rate"] == first[1]["learning_rate"]  # the grid is crossed with each draw
    assert all(1e-4 <= s["learning_rate"] <= 1e-2 and s["n_epochs"] in (1, 2, 3) and 16 <= s["batch_size"] < 64
               for s in first)
    assert sample_settings(TuneConfig(num_samples=2), 0) == [{}, {}]


@pytest.mark.timeout(600)
def test_two_trials_on_a_local_ray(tmp_path):
    config = RunConfig.from_dict({
        "name": "sweep", "out": str(tmp_path),
        "env": {"id": "retailrl/Pricing-v0", "n_envs": 2, "kwargs": {"horizon": 10}},
        "algo": {"name": "PPO", "hyperparams": {"n_steps": 16, "batch_size": 32, "n_epochs": 1}},
        "train": {"steps": 64}, "eval": {"n_seeds": 3},
        "tune": {"num_samples": 1, "seeds": [0, 1], "search": {"learning_rate": {"loguniform": [1e-4, 1e-3]}}}})
    result = run_sweep(config, num_cpus=2, sweep_dir=tmp_path / "sweep", verbose=0)
    assert [(t["sample"], t["seed"]) for t in result.trials] == [(0, 0), (0, 1)]
    setting = sample_settings(config.tune, config.seed)[0]
    assert all(t["hyperparams"] == setting for t in result.trials)
    assert len(result.summary) == 1 and result.best["seeds"] == [0, 1]
    assert result.best["eval_means"] == [t["eval_mean"] for t in result.trials]
    saved = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert saved["best"] == result.best
    # each trial is an ordinary run: the same run outside Ray gives the same numbers
    direct = run_training(config.with_overrides(seed=1, hyperparams=setting), progress=False,
                          run_dir=tmp_path / "direct")
    assert direct.metrics["eval"]["mean"] == result.trials[1]["eval_mean"]
    trial_metrics = json.loads((tmp_path / "sweep" / "sample000-s1" / "metrics.json").read_text())
    assert trial_metrics["eval"]["returns"] == direct.metrics["eval"]["returns"]
