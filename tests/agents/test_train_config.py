"""The run config: TOML layout, validation errors that name the field, CLI overrides, the shipped configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.run_config import TORCH_ENV_IDS, RunConfig
from agents.train import env_kwargs, make_eval_env, resolve_device
from envs.params import BernoulliDemandParams, InventoryParams

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = {"name": "x", "env": {"id": "retailrl/Pricing-v0"}, "algo": {"name": "PPO"}}


def with_(base: dict, section: str | None, **values) -> dict:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    if section is None:
        data.update(values)
    else:
        data[section] = {**data.get(section, {}), **values}
    return data


def test_minimal_config_has_sensible_defaults_and_round_trips():
    cfg = RunConfig.from_dict(MINIMAL)
    assert (cfg.algo, cfg.device, cfg.env.n_envs, cfg.eval.n_seeds) == ("PPO", "auto", 8, 30)
    assert cfg.eval.seeds[0] == 10_000 and len(cfg.eval.seeds) == 30
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(("data", "message"), [
    (with_(MINIMAL, "train", steps=0), r"train.steps: expected >= 1, found 0"),
    (with_(MINIMAL, "train", stepz=10), r"train: unknown key\(s\) \['stepz'\]"),
    (with_(MINIMAL, None, extra=1), r"config: unknown key\(s\) \['extra'\]"),
    (with_(MINIMAL, "train", device="tpu"), r"train.device: expected one of \('auto', 'cpu', 'cuda'\)"),
    (with_(MINIMAL, "train", seed=10_005), r"eval.first_seed: .* hold the training seed 10005; .*held-out"),
    (with_(MINIMAL, "eval", n_seeds=1), r"eval.n_seeds: expected >= 2, found 1"),
    (with_(MINIMAL, "env", id="CartPole-v1"), r"env.id: expected one of \['retailrl/AdAllocation-v0'"),
    (with_(MINIMAL, "env", n_envs=0), r"env.n_envs: expected >= 1, found 0"),
    (with_(MINIMAL, "env", params={"click": {}}), r"env.params: unknown key\(s\) \['click'\]"),
    (with_(MINIMAL, "env", params={"demand": {}, "bernoulli_demand": {}}), r"set the same env argument"),
    (with_(MINIMAL, "algo", name="DDPG"), r"algo: expected one of .*found 'DDPG'"),
    (with_(MINIMAL, "register", enabled=True), r"register: enabled needs decision_point and policy"),
    (with_(MINIMAL, "tune", seeds=[1, 1]), r"tune.seeds: expected distinct seeds"),
    (with_(MINIMAL, "tune", search={"learning_rate": {"loguniform": [0, 1]}}), r"loguniform: expected low > 0"),
    (with_(MINIMAL, "tune", search={"n_steps": {"pick": [1]}}), r"tune.search.n_steps: expected one of"),
    (with_(MINIMAL, "train", normalize_obs="yes"), r"train.normalize_obs: expected true or false"),
    (with_(MINIMAL, "env", backend="jax"), r"env.backend: expected one of \('numpy', 'torch'\), found 'jax'"),
    (with_(MINIMAL, "env", id="retailrl/Inventory-v0", backend="torch"),
     r"env.backend: 'torch' exists for .* not 'retailrl/Inventory-v0'; use backend = \"numpy\""),
    ({"name": "x", "env": {"id": "retailrl/Pricing-v0"}}, r"missing section \[algo\]"),
])
def test_invalid_configs_name_the_field(data, message):
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict(data)


def test_toml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[env]\nid = "retailrl/Pricing-v0"\n[algo]\nname = "PPO"\n[train]\nsteps = -5\n')
    with pytest.raises(ValueError, match=r"bad.toml: train.steps: expected >= 1, found -5"):
        RunConfig.from_toml(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(ValueError, match="broken.toml: not valid TOML"):
        RunConfig.from_toml(broken)
    with pytest.raises(FileNotFoundError, match="no such file"):
        RunConfig.from_toml(tmp_path / "missing.toml")


def test_overrides_replace_fields_and_revalidate():
    cfg = RunConfig.from_dict(with_(MINIMAL, "algo", hyperparams={"n_steps": 64}))
    new = cfg.with_overrides(steps=500, seed=3, device="cpu", out="elsewhere", register=False)
    assert (new.steps, new.seed, new.device, new.out, new.register.enabled) == (500, 3, "cpu", "elsewhere", False)
    assert new.hyperparams == {"n_steps": 64} and cfg.steps == 100_000  # the original is untouched
    assert cfg.with_overrides(algo="A2C").hyperparams == {}  # PPO's hyperparameters do not carry over
    with pytest.raises(ValueError, match="train.steps"):
        cfg.with_overrides(steps=0)
    with pytest.raises(ValueError, match="register: enabled needs decision_point"):
        cfg.with_overrides(register=True)


def test_params_sections_and_sim_dir_build_the_env(tmp_path):
    InventoryParams(demand_mean=5.0, lead_time=4, lost_sale_cost=4.0, backorders=False).to_json(tmp_path)
    cfg = RunConfig.from_dict({"name": "x", "env": {"id": "retailrl/Inventory-v0", "sim_dir": str(tmp_path)},
                               "algo": {"name": "PPO"}})
    params = env_kwargs(cfg)["params"]
    assert (params.lead_time, params.backorders, float(params.demand_mean[0])) == (4, False, 5.0)
    explicit = RunConfig.from_dict({"name": "x", "algo": {"name": "PPO"}, "env": {
        "id": "retailrl/Pricing-v0", "params": {"bernoulli_demand": {"prices": [1, 2], "purchase_probs": [.5, .1]}}}})
    assert isinstance(env_kwargs(explicit)["demand"], BernoulliDemandParams)
    wrong = RunConfig.from_dict({"name": "x", "env": {"id": "retailrl/Pricing-v0", "sim_dir": str(tmp_path)},
                                 "algo": {"name": "PPO"}})
    with pytest.raises(ValueError, match=r"env.sim_dir: .* has sections \['inventory'\], none of which"):
        env_kwargs(wrong)
    with pytest.raises(FileNotFoundError, match="env.sim_dir: no params.json"):
        env_kwargs(RunConfig.from_dict({"name": "x", "env": {"id": "retailrl/Pricing-v0",
                                                             "sim_dir": str(tmp_path / "nope")},
                                        "algo": {"name": "PPO"}}))


def test_device_auto_is_the_cpu_and_cuda_needs_a_gpu():
    import torch

    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(ValueError, match="needs a GPU, but torch sees none"):
            resolve_device("cuda")


SHIPPED = sorted((ROOT / "configs").glob("*.toml"))


def test_every_benchmark_has_a_config():
    names = {p.stem for p in SHIPPED}
    assert {"pricing_ppo", "pricing_sac", "inventory_backorder_ppo", "inventory_lostsales_ppo", "ads_pacing_ppo",
            "ads_bandit_ppo", "demo_quick_ppo"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_configs_load_and_build_their_env(path):
    from agents.sb3_algos import check_action_space, get_algorithm

    cfg = RunConfig.from_toml(path)
    env = make_eval_env(cfg)
    check_action_space(get_algorithm(cfg.algo), env.action_space)
    assert cfg.name == path.stem


def test_benchmark_instances_are_the_issue_s():
    backorder = env_kwargs(RunConfig.from_toml(ROOT / "configs/inventory_backorder_ppo.toml"))
    p = backorder["params"]
    assert (float(p.demand_mean[0]), p.lead_time, float(p.holding_cost[0]), float(p.backorder_cost[0]),
            p.backorders, backorder["action_mode"]) == (10.0, 2, 1.0, 9.0, True, "order_up_to")
    lost = env_kwargs(RunConfig.from_toml(ROOT / "configs/inventory_lostsales_ppo.toml"))["params"]
    assert (float(lost.demand_mean[0]), lost.lead_time, float(lost.holding_cost[0]), float(lost.lost_sale_cost[0]),
            lost.backorders) == (5.0, 4, 1.0, 4.0, False)
    assert RunConfig.from_toml(ROOT / "configs/ads_pacing_ppo.toml").algo == "MaskablePPO"
    assert RunConfig.from_toml(ROOT / "configs/pricing_sac.toml").env.kwargs["action_type"] == "continuous"


def test_torch_backend_ids_are_the_torch_factory_s():
    from envs.torch_factory import TORCH_ENV_CLASSES

    assert TORCH_ENV_IDS == set(TORCH_ENV_CLASSES)
