"""A training run end to end on a tiny config: the run directory, same seed -> same numbers, VecNormalize
statistics saved and reloaded, the exported policy, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from agents.run_config import RunConfig
from agents.train import evaluate_model, interval95, load_run, make_eval_env, rollout_returns, run_training
from envs._torch_common import TorchVectorEnv
from policies.policy import Policy
from retailrl.cli.main import app

TINY = {"name": "tiny", "env": {"id": "retailrl/Pricing-v0", "n_envs": 4, "kwargs": {"horizon": 20}},
        "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 2}},
        "train": {"steps": 512, "checkpoint_every": 256}, "eval": {"n_seeds": 6}}


def tiny(tmp_path, **train) -> RunConfig:
    data = json.loads(json.dumps(TINY))
    data["out"] = str(tmp_path)
    data["train"].update(train)
    return RunConfig.from_dict(data)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    first = run_training(tiny(out), progress=False)
    again = run_training(tiny(out), progress=False)
    other = run_training(tiny(out, seed=1), progress=False)
    return first, again, other


def test_run_directory_holds_config_metrics_plots_and_artefacts(runs):
    result = runs[0]
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"config.json", "metrics.json", "learning_curve.png", "model.zip", "vecnormalize.pkl", "policy",
            "monitor.csv", "checkpoints", "tb"} <= names
    assert result.run_dir.name.startswith("tiny-s0-")
    assert RunConfig.from_dict(json.loads((result.run_dir / "config.json").read_text())) == result.config
    assert (result.run_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (result.run_dir / "checkpoints").glob("model_*_steps.zip")) == [
        "model_256_steps.zip", "model_512_steps.zip"]
    assert list((result.run_dir / "checkpoints").glob("model_vecnormalize_*_steps.pkl"))
    assert any((result.run_dir / "tb").rglob("events.out.tfevents.*"))
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["eval"]["seeds"] == list(range(10_000, 10_006))
    assert metrics["steps"] == 512 and metrics["train"]["episodes"] == 4 * (512 // 4 // 20)  # 4 envs, horizon 20
    mean, lo, hi = interval95(np.array(metrics["eval"]["returns"]))
    assert metrics["eval"]["mean"] == pytest.approx(mean) and metrics["eval"]["ci95"] == pytest.approx([lo, hi])
    assert lo < mean < hi


def test_same_seed_same_numbers_other_seed_other_numbers(runs):
    first, again, other = runs
    strip = lambda m: {k: v for k, v in m.items() if k != "timing"}  # noqa: E731
    assert strip(first.metrics) == strip(again.metrics)
    assert first.run_dir != again.run_dir
    assert first.metrics["eval"]["returns"] != other.metrics["eval"]["returns"]
    for a, b in zip(first.policy.weights, again.policy.weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_vecnormalize_saved_and_reloaded_gives_the_same_evaluation(runs):
    result = runs[0]
    assert result.vecnormalize.obs_rms.count > 1  # statistics were collected
    config, model, vecnormalize = load_run(result.run_dir)
    np.testing.assert_array_equal(vecnormalize.obs_rms.mean, result.vecnormalize.obs_rms.mean)
    np.testing.assert_array_equal(evaluate_model(config, model, vecnormalize), result.eval_returns)


def test_exported_policy_reproduces_the_evaluation_without_torch(runs):
    result = runs[0]
    policy = Policy.load(result.run_dir / "policy")
    returns = rollout_returns(lambda obs, masks: policy.predict(obs), lambda: make_eval_env(result.config),
                              result.config.eval.seeds)
    np.testing.assert_allclose(returns, result.eval_returns)


def test_evaluation_returns_depend_on_each_seed_only(runs):
    result = runs[0]
    policy = result.policy
    act = lambda obs, masks: policy.predict(obs)  # noqa: E731
    make = lambda: make_eval_env(result.config)  # noqa: E731
    seeds = result.config.eval.seeds
    np.testing.assert_allclose(rollout_returns(act, make, seeds[2:4]), result.eval_returns[2:4])


def test_cli_trains_with_flag_overrides(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text("""
name = "tiny-cli"
[env]
id = "retailrl/Pricing-v0"
n_envs = 2
[env.kwargs]
horizon = 10
[algo]
name = "PPO"
[algo.hyperparams]
n_steps = 16
batch_size = 32
n_epochs = 1
[train]
steps = 100_000
[eval]
n_seeds = 3
""")
    out = tmp_path / "runs"
    res = CliRunner().invoke(app, ["train", "--config", str(config), "--steps", "64", "--seed", "2",
                                   "--out", str(out), "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)
    assert (metrics["steps"], metrics["seed"], metrics["device"]) == (64, 2, "cpu")
    run_dir = next(out.iterdir())
    assert run_dir.name.startswith("tiny-cli-s2-") and (run_dir / "config.toml").read_text() == config.read_text()
    bad = CliRunner().invoke(app, ["train", "--config", str(config), "--algo", "DQN", "--steps", "64",
                                   "--out", str(out)])
    assert bad.exit_code == 2
    assert "DQN needs a Discrete action space, found MultiDiscrete" in bad.output
    missing = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_compare_runs_pairs_the_evaluation_seeds(runs, tmp_path):
    from agents.train import compare_runs

    first, again, other = runs
    rows = compare_runs([first.run_dir, other.run_dir], baseline=first.run_dir)
    assert [r["seed"] for r in rows] == [0, 1]
    assert rows[0]["diff_mean"] == 0.0 and rows[0]["diff_ci95"] == [0.0, 0.0]
    diff = np.array(other.metrics["eval"]["returns"]) - np.array(first.metrics["eval"]["returns"])
    assert rows[1]["diff_mean"] == pytest.approx(diff.mean()) and rows[1]["n_paired"] == 6
    with pytest.raises(FileNotFoundError, match="not a finished run directory"):
        compare_runs([tmp_path])


TORCH_DEVICES = ["cpu"] + (["cuda"] if __import__("torch").cuda.is_available() else [])


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_torch_backend_trains_on_the_run_s_device_and_repeats_with_the_seed(tmp_path, device):
    import torch

    config = tiny(tmp_path, device=device).with_overrides(backend="torch")
    first, again = (run_training(config, progress=False) for _ in range(2))
    stepped = first.model.get_env().unwrapped.venv  # VecNormalize -> VecMonitor -> SB3VecEnv -> the vector env
    assert isinstance(stepped, TorchVectorEnv) and stepped.device.type == torch.device(device).type
    assert first.metrics["env_backend"] == "torch" and first.metrics["device"] == device
    assert first.model.device.type == torch.device(device).type
    assert first.metrics["steps"] == 512 and first.metrics["train"]["episodes"] == 4 * (512 // 4 // 20)
    assert np.isfinite(first.metrics["eval"]["returns"]).all()
    if device == "cpu":  # CUDA kernels may reorder floating-point sums; on the CPU a seed fixes every number
        assert first.metrics["eval"]["returns"] == again.metrics["eval"]["returns"]


def test_continuous_inventory_export_serves_every_level_the_env_rounds_to(tmp_path):
    config = RunConfig.from_dict({
        "name": "inv", "out": str(tmp_path),
        "env": {"id": "retailrl/Inventory-v0", "n_envs": 2,
                "kwargs": {"action_mode": "order_up_to", "action_type": "continuous", "observation": "scaled",
                           "horizon": 20}},
        "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1}},
        "train": {"steps": 64}, "eval": {"n_seeds": 2}})
    result = run_training(config, progress=False)
    env = make_eval_env(config).unwrapped
    assert result.policy.action_grid.shape == (1, env.config.max_action + 1)  # every level, not 11 of them
    obs = np.stack([env.reset(seed=s)[0] for s in range(5)] + [env.step(np.array([a]))[0]
                                                                for a in np.linspace(-1, 1, 20)])
    mean, _ = result.model.predict(result.vecnormalize.normalize_obs(obs), deterministic=True)
    levels = env.config.integer_actions(mean).ravel()
    exported = result.policy.action_dist(obs)[:, :, 0].argmax(axis=1)
    np.testing.assert_array_equal(exported, levels)
