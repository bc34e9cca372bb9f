"""A training run: environment(s) from a :class:`~agents.run_config.RunConfig`, an SB3 model, evaluation, artefacts.

:func:`run_training` is the stable entry point (the CLI ``retailrl train``, the sweeps and the decision-quality
benchmarks call it). A run directory holds::

    config.json            the resolved config (config.toml too when the run started from a file)
    model.zip              the SB3 model            vecnormalize.pkl   its VecNormalize statistics
    policy/                the exported numpy policy (policies.mlp_policy.MLPPolicy; Policy.load reads it)
    metrics.json           evaluation on held-out seeds (returns, mean, 95% interval), training summary
    learning_curve.png     training episode returns against env steps, and the evaluation interval
    monitor.csv            every training episode (VecMonitor)
    checkpoints/           model_<steps>_steps.zip (+ VecNormalize) every ``checkpoint_every`` env steps
    tb/                    TensorBoard logs (tensorboard --logdir runs/)
    registration.json      the registry version, when the run was registered

Training uses the environment's native vector env (``gymnasium.make_vec(..., vectorization_mode=
"vector_entry_point")``) through :class:`envs.sb3_vec_env.SB3VecEnv`, then ``VecMonitor`` and ``VecNormalize``.
Evaluation runs one fresh scalar environment per held-out seed (episode i: ``reset(seed=first_seed + i)``), all
stepped together with batched predictions, and reports raw (unnormalised) episode returns. Same config and
seed give the same numbers (``metrics.json`` apart from its ``timing`` section).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from scipy import stats

import envs
from agents.run_config import PARAM_SECTIONS, RunConfig
from agents.sb3_algos import get_algorithm, make_model
from envs.params import PARAMS_FILE, BernoulliDemandParams, ClickParams, DemandParams, InventoryParams
from sim_data.io import atomic_write

PARAM_CLASSES = {"demand": DemandParams, "bernoulli_demand": BernoulliDemandParams, "inventory": InventoryParams,
                 "click": ClickParams}
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.zip"
VECNORMALIZE_FILE = "vecnormalize.pkl"
POLICY_DIR = "policy"
CURVE_FILE = "learning_curve.png"


@dataclass
class RunResult:
    """What a training run produced.

    :param config: the run's config.
    :param run_dir: the run directory.
    :param model: the trained SB3 model.
    :param vecnormalize: its ``VecNormalize`` wrapper (``training=False``), or ``None``.
    :param eval_returns: ``(n_eval_seeds,)`` raw episode returns on the held-out seeds, in seed order.
    :param metrics: what ``metrics.json`` holds.
    :param policy: the exported numpy policy (``policies.mlp_policy.MLPPolicy``).
    :param registered: the registry's ``VersionRecord`` when the run was registered, else ``None``.
    """

    config: RunConfig
    run_dir: Path
    model: Any
    vecnormalize: Any
    eval_returns: np.ndarray
    metrics: dict[str, Any]
    policy: Any
    registered: Any = None

    @property
    def policy_dir(self) -> Path:
        return self.run_dir / POLICY_DIR


# ---------------------------------------------------------------------- environments


def resolve_device(device: str, policy: str = "MlpPolicy") -> str:
    """The torch device for a run.

    ``auto``: the CPU for MLP policies (SB3's advice: small networks run faster there), else CUDA when present.
    ``cuda``/``cuda:N`` need a GPU that torch sees; raises ``ValueError`` saying what to use otherwise.
    """
    import torch

    if device == "auto":
        return "cuda" if policy != "MlpPolicy" and torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} needs a GPU, but torch sees none (torch.cuda.is_available() is False); "
                         "use --device auto or cpu")
    return device


def env_kwargs(config: RunConfig) -> dict[str, Any]:
    """The environment's keyword arguments: ``[env.kwargs]`` plus parameter objects built from ``[env.params]``
    and, for sections it lacks, from the fitted simulator ``sim_dir`` (``XParams.from_fit_dir``)."""
    env_cfg = config.env
    kwargs = dict(env_cfg.kwargs)
    sections = PARAM_SECTIONS[env_cfg.id]
    for section, table in env_cfg.params.items():
        kwargs[sections[section]] = PARAM_CLASSES[section].from_dict(dict(table))
    if env_cfg.sim_dir is not None:
        path = Path(env_cfg.sim_dir)
        file = path / PARAMS_FILE if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"env.sim_dir: no {PARAMS_FILE} at {file}: run `retailrl sim fit ... --out DIR`")
        available = json.loads(file.read_text())
        used = [s for s in sections if s in available and sections[s] not in kwargs]
        for section in used:
            if sections[section] not in kwargs:
                kwargs[sections[section]] = PARAM_CLASSES[section].from_fit_dir(path)
        if not any(s in available for s in sections):
            raise ValueError(f"env.sim_dir: {file} has sections {sorted(available)}, none of which "
                             f"{env_cfg.id} uses ({sorted(sections)})")
    return kwargs


def make_vec_env(config: RunConfig, n_envs: int | None = None, kwargs: dict[str, Any] | None = None,
                 monitor_file: str | Path | None = None, device: str = "cpu") -> Any:
    """The training ``VecEnv``: native (numpy or torch) vector env -> SB3VecEnv -> VecMonitor (no VecNormalize).

    :param monitor_file: where VecMonitor writes one row per finished episode (``None``: nowhere).
    :param device: where a ``backend = "torch"`` env keeps its state and steps (ignored by numpy envs).
    """
    from stable_baselines3.common.vec_env import VecMonitor

    from envs.sb3_vec_env import SB3VecEnv

    kwargs = env_kwargs(config) if kwargs is None else kwargs
    num_envs = n_envs or config.env.n_envs
    if config.env.backend == "torch":
        from envs.torch_factory import make_torch_vec_env

        venv = make_torch_vec_env(config.env.id, num_envs, device=device, **kwargs)
    else:
        venv = gym.make_vec(config.env.id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    return VecMonitor(SB3VecEnv(venv), filename=None if monitor_file is None else str(monitor_file))


def make_eval_env(config: RunConfig, kwargs: dict[str, Any] | None = None) -> gym.Env:
    """One scalar environment as configured (the evaluation runs one per held-out seed)."""
    kwargs = env_kwargs(config) if kwargs is None else kwargs
    return gym.make(config.env.id, disable_env_checker=True, **kwargs)


# ---------------------------------------------------------------------- evaluation


def rollout_returns(act: Callable[[np.ndarray, np.ndarray | None], np.ndarray], make_env: Callable[[], gym.Env],
                    seeds: Sequence[int], masked: bool = False) -> np.ndarray:
    """Run one episode per seed, every environment stepped together, actions from one batched call per step.

    :param act: ``act(obs (n_active, obs_dim), masks (n_active, mask_dim) or None) -> actions (n_active, ...)``.
    :param make_env: builds a fresh scalar environment.
    :param seeds: one seed per episode (``reset(seed=s)``); episode i's return depends on ``seeds[i]`` only.
    :param masked: pass the environments' ``action_masks()`` to ``act``.
    :return: ``(len(seeds),)`` undiscounted episode returns.
    """
    episodes = [make_env() for _ in seeds]
    obs = np.stack([env.reset(seed=int(s))[0] for env, s in zip(episodes, seeds, strict=True)])
    returns = np.zeros(len(seeds))
    active = np.ones(len(seeds), dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        masks = np.stack([episodes[i].unwrapped.action_masks() for i in idx]) if masked else None
        actions = np.asarray(act(obs[idx], masks))
        for j, i in enumerate(idx):
            o, reward, terminated, truncated, _ = episodes[i].step(actions[j])
            returns[i] += float(reward)
            obs[i] = o
            if terminated or truncated:
                active[i] = False
    for env in episodes:
        env.close()
    return returns


def model_actor(model: Any, vecnormalize: Any = None, deterministic: bool = True) -> Callable:
    """``act(obs, masks)`` for :func:`rollout_returns` from an SB3 model (observations normalised as in training)."""
    masked = type(model).__name__ == "MaskablePPO"

    def act(obs: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        x = vecnormalize.normalize_obs(obs) if vecnormalize is not None else obs
        if masked:
            return model.predict(x, deterministic=deterministic, action_masks=masks)[0]
        return model.predict(x, deterministic=deterministic)[0]

    return act


def interval95(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and the 95% Student-t interval of the mean: ``(mean, lo, hi)``."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half


def evaluate_model(config: RunConfig, model: Any, vecnormalize: Any = None,
                   kwargs: dict[str, Any] | None = None) -> np.ndarray:
    """Raw episode returns ``(n_seeds,)`` of ``model`` on the config's held-out evaluation seeds."""
    import torch

    kwargs = env_kwargs(config) if kwargs is None else kwargs
    torch.manual_seed(config.eval.first_seed)  # sampling (deterministic=False) draws from torch's generator
    return rollout_returns(model_actor(model, vecnormalize, config.eval.deterministic),
                           lambda: make_eval_env(config, kwargs), config.eval.seeds,
                           masked=get_algorithm(config.algo).masked)


# ---------------------------------------------------------------------- the run


def _run_dir(config: RunConfig) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(config.out) / f"{config.name}-s{config.seed}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _write_json(path: Path, data: Any) -> Path:
    text = json.dumps(data, indent=2, sort_keys=True)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _episode_recorder() -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeRecorder(BaseCallback):
        """Collects (env steps so far, raw episode return) of every finished training episode."""

        def __init__(self) -> None:
            super().__init__()
            self.steps: list[int] = []
            self.returns: list[float] = []

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                episode = info.get("episode")
                if episode is not None:
                    self.steps.append(int(self.num_timesteps))
                    self.returns.append(float(episode["r"]))
            return True

    return EpisodeRecorder()


def plot_learning_curve(path: Path, steps: Sequence[int], returns: Sequence[float], eval_ci: tuple[float, float, float],
                        title: str) -> Path:
    """Training episode returns (and their moving average) against env steps, with the evaluation interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if len(returns):
        r = np.asarray(returns, dtype=np.float64)
        window = max(1, len(r) // 20)
        smooth = np.convolve(r, np.ones(window) / window, mode="valid")
        ax.plot(steps, r, ".", alpha=0.25, ms=3, label="training episodes")
        ax.plot(np.asarray(steps)[window - 1:], smooth, lw=2, label=f"moving average ({window})")
    mean, lo, hi = eval_ci
    ax.axhspan(lo, hi, color="tab:green", alpha=0.2, label=f"evaluation 95% interval (mean {mean:.4g})")
    ax.axhline(mean, color="tab:green", lw=1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path


def _versions() -> dict[str, str]:
    import sb3_contrib
    import stable_baselines3
    import torch

    return {"stable_baselines3": stable_baselines3.__version__, "sb3_contrib": sb3_contrib.__version__,
            "torch": torch.__version__, "gymnasium": gym.__version__, "numpy": np.__version__}


def _action_grid(config: RunConfig, action_space: gym.Space, kwargs: dict[str, Any]) -> np.ndarray | None:
    """For a Box action, the grid ``(entries, n_points)`` the exported policy's degenerate distribution lives on:
    for Inventory's continuous actions every whole level (order, order-up-to level, price index) the env rounds
    to, ``2 * l / top - 1`` (shorter rows padded with their last point); else ``n_price_levels`` (default 11)
    evenly spaced points."""
    if not isinstance(action_space, gym.spaces.Box):
        return None
    if config.env.id == "retailrl/Inventory-v0":
        cfg = make_eval_env(config, kwargs).unwrapped.config
        tops = [cfg.max_action] * cfg.n_products
        if cfg.price_grid is not None:
            tops += [cfg.price_grid.shape[1] - 1] * cfg.n_products
        width = max(tops) + 1
        return np.array([np.pad(2.0 * np.arange(t + 1) / max(t, 1) - 1.0, (0, width - t - 1), mode="edge")
                         for t in tops])
    levels = int(config.env.kwargs.get("n_price_levels", 11))
    return np.linspace(action_space.low, action_space.high, max(levels, 2), axis=1).astype(np.float64)


def run_training(config: RunConfig, progress: bool = True, *, run_dir: str | Path | None = None,
                 source_text: str | None = None) -> RunResult:
    """Train, evaluate on held-out seeds, export and (when configured) register one run.

    :param config: a validated run config (``RunConfig.from_toml("configs/NAME.toml")``).
    :param progress: show a rich progress bar while training.
    :param run_dir: the run directory (default: ``<out>/<name>-s<seed>-<UTC time>``); created.
    :param source_text: the TOML the config was read from, saved as ``config.toml``.
    :return: a :class:`RunResult` (model, evaluation returns, run directory, metrics, exported policy).
    """
    import torch
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.export import export_policy

    config.validate()
    envs.register_envs()
    device = resolve_device(config.device, config.policy)
    torch.set_num_threads(config.torch_threads)
    run_dir = _run_dir(config) if run_dir is None else Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(run_dir / CONFIG_FILE, config.to_dict())
    if source_text is not None:
        atomic_write(run_dir / "config.toml", lambda tmp: tmp.write_text(source_text))

    kwargs = env_kwargs(config)
    venv = make_vec_env(config, kwargs=kwargs, monitor_file=run_dir / "monitor.csv", device=device)
    vecnormalize = None
    if config.normalize_obs or config.normalize_reward:
        gamma = float(config.hyperparams.get("gamma", 0.99))
        venv = vecnormalize = VecNormalize(venv, norm_obs=config.normalize_obs, norm_reward=config.normalize_reward,
                                           gamma=gamma)
    model = make_model(config.algo, venv, policy=config.policy, hyperparams=config.hyperparams, seed=config.seed,
                       device=device, tensorboard_log=str(run_dir / "tb"))
    recorder = _episode_recorder()
    callbacks = [recorder]
    if config.checkpoint_every:
        callbacks.append(CheckpointCallback(save_freq=max(config.checkpoint_every // config.env.n_envs, 1),
                                            save_path=str(run_dir / "checkpoints"), name_prefix="model",
                                            save_vecnormalize=vecnormalize is not None))
    start, start_cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=config.steps, callback=callbacks, progress_bar=progress, tb_log_name=config.algo)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu

    atomic_write(run_dir / MODEL_FILE, lambda tmp: model.save(tmp.open("wb")))
    if vecnormalize is not None:
        atomic_write(run_dir / VECNORMALIZE_FILE, lambda tmp: vecnormalize.save(str(tmp)))
        vecnormalize.training = False
    returns = evaluate_model(config, model, vecnormalize, kwargs)
    policy = export_policy(model, run_dir / POLICY_DIR, vecnormalize,
                           action_grid=_action_grid(config, model.action_space, kwargs))
    mean, lo, hi = interval95(returns)
    tail = recorder.returns[-max(1, len(recorder.returns) // 10):]
    metrics = {
        "name": config.name, "env": config.env.id, "algo": config.algo, "seed": config.seed, "device": device,
        "env_backend": config.env.backend, "n_envs": config.env.n_envs,
        "steps": int(model.num_timesteps),
        "eval": {"seeds": config.eval.seeds, "returns": returns.tolist(), "mean": mean,
                 "std": float(returns.std(ddof=1)), "ci95": [lo, hi], "n": int(returns.size),
                 "deterministic": config.eval.deterministic},
        "train": {"episodes": len(recorder.returns),
                  "last_10pct_return_mean": float(np.mean(tail)) if recorder.returns else None},
        "artefacts": {"model": MODEL_FILE, "vecnormalize": VECNORMALIZE_FILE if vecnormalize is not None else None,
                      "policy": POLICY_DIR, "learning_curve": CURVE_FILE},
        "versions": _versions(),
        "timing": {"train_wall_s": wall, "env_steps_per_s": model.num_timesteps / wall if wall > 0 else None,
                   "train_cpu_s": cpu, "env_steps_per_cpu_s": model.num_timesteps / cpu if cpu > 0 else None},
    }
    _write_json(run_dir / METRICS_FILE, metrics)
    plot_learning_curve(run_dir / CURVE_FILE, recorder.steps, recorder.returns, (mean, lo, hi),
                        f"{config.name}: {config.algo} on {config.env.id} (seed {config.seed})")
    venv.close()
    result = RunResult(config=config, run_dir=run_dir, model=model, vecnormalize=vecnormalize, eval_returns=returns,
                       metrics=metrics, policy=policy)
    if config.register.enabled:
        from agents.register import register_run

        result.registered = register_run(result)
    return result


def load_run(run_dir: str | Path) -> tuple[RunConfig, Any, Any]:
    """Reload a run: ``(config, model, vecnormalize or None)``, the VecNormalize statistics as saved
    (``training=False``, ``norm_reward=False``)."""
    from stable_baselines3.common.vec_env import VecNormalize

    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"run_dir: {run_dir} is not a run directory (no {CONFIG_FILE})")
    config = RunConfig.from_dict(json.loads(config_path.read_text()))
    cls = get_algorithm(config.algo).load()
    model = cls.load(run_dir / MODEL_FILE, device="cpu")
    vecnormalize = None
    if (run_dir / VECNORMALIZE_FILE).is_file():
        vecnormalize = VecNormalize.load(str(run_dir / VECNORMALIZE_FILE), make_vec_env(config, n_envs=1))
        vecnormalize.training = False
        vecnormalize.norm_reward = False
    return config, model, vecnormalize


def compare_runs(run_dirs: Sequence[str | Path], baseline: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per run (name, algo, seed, env steps, evaluation mean and 95% interval) read from ``metrics.json``.

    With ``baseline`` (a run directory), each row adds the paired difference to it, ``diff_mean`` and
    ``diff_ci95`` (a Student-t interval over the evaluation seeds both runs share): runs evaluated on the same
    held-out seeds see the same shoppers, so the paired interval is much narrower than comparing two intervals.
    """

    def read(path: str | Path) -> dict[str, Any]:
        file = Path(path) / METRICS_FILE
        if not file.is_file():
            raise FileNotFoundError(f"run_dirs: {path} is not a finished run directory (no {METRICS_FILE})")
        return json.loads(file.read_text())

    base = read(baseline) if baseline is not None else None
    rows = []
    for path in run_dirs:
        m = read(path)
        row = {"run_dir": str(path), "name": m["name"], "algo": m["algo"], "seed": m["seed"], "steps": m["steps"],
               "eval_mean": m["eval"]["mean"], "eval_ci95": m["eval"]["ci95"], "n_eval": m["eval"]["n"]}
        if base is not None:
            mine = dict(zip(m["eval"]["seeds"], m["eval"]["returns"], strict=True))
            theirs = dict(zip(base["eval"]["seeds"], base["eval"]["returns"], strict=True))
            common = sorted(set(mine) & set(theirs))
            if len(common) < 2:
                raise ValueError(f"baseline: {path} and {baseline} share {len(common)} evaluation seeds; a paired "
                                 "comparison needs >= 2 (use the same [eval] first_seed and n_seeds)")
            diff = np.array([mine[s] - theirs[s] for s in common])
            mean, lo, hi = interval95(diff)
            row.update(diff_mean=mean, diff_ci95=[lo, hi], n_paired=len(common))
        rows.append(row)
    return rows
