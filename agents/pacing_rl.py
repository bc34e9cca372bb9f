"""RL budget pacers trained on the simulator: PPO that sets a value threshold per block of arrivals (the
benchmark's pacer), and PPO that decides serve/skip per arrival.

Why per-arrival serve/skip is hard for PPO: a day is T = 1,000 decisions, the reward of one decision is a few
tenths of a Bernoulli click, and the cost of serving (less budget at the end of the day) shows up only through the
critic's slope in the remaining budget, which it must learn to a fraction of a click before the policy stops
serving everyone. :class:`ThresholdPacingVectorEnv` makes the decision the one that matters, as bid-price (dual)
pacing does: every ``block`` arrivals the agent picks a threshold on the arrival's ``value`` (expected clicks per
unit cost, relative to the day's mean; see :class:`agents.pacing.PacingVectorEnv`) from a grid, and the block's
arrivals at or above it are served. A day is then T / block decisions whose rewards are the block's clicks, so
undiscounted returns (``gamma = 1``, the end-of-day budget fully visible) with GAE train in about a minute.

Budget overruns are impossible by construction: both pacers act through :class:`agents.pacing.PacingVectorEnv`,
whose guard serves a slate only when the remaining budget covers its worst-case cost (an env guard, not a mask).

* :func:`train_threshold_ppo` returns a :class:`ThresholdPacer`: the trained model as a per-arrival ``act(obs)``
  on :class:`agents.pacing.PacingVectorEnv` observations (it keeps each block's threshold), so it is evaluated on
  the same env and seeds as linear pacing.
* :func:`train_pacing_ppo`: PPO on the per-arrival serve/skip env (``gamma = 1``, rewards scaled).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from agents.pacing import PacingVectorEnv
from envs import NumpyVectorEnv
from envs.params import ClickParams

OBS_COLUMNS = (PacingVectorEnv.AFFORD, PacingVectorEnv.TIME, PacingVectorEnv.BUDGET)
"""The per-arrival observation columns the threshold agent sees: ``afford``, ``t / T``, remaining budget share."""
FEATURE_NAMES = ["afford", "time_of_day", "budget_share"]
"""Names of :data:`OBS_COLUMNS` in an exported pacer's artefact."""
PACER_FILE = "pacer.json"


def _check_whole(name: str, value: Any, low: int) -> int:
    if int(value) != value or value < low:
        raise ValueError(f"{name}: expected a whole number >= {low}, found {value}")
    return int(value)


class ThresholdPacingVectorEnv(NumpyVectorEnv):
    """Pacing with one threshold per block of ``block`` arrivals, on top of :class:`agents.pacing.PacingVectorEnv`.

    Observation ``(num_envs, 3)``: ``afford``, ``t / T`` and the remaining budget share at the block's first
    arrival. Action ``Discrete(n_levels)``: level ``a`` is the threshold ``levels[a]`` on the arrival's ``value``
    (``levels`` evenly spaced from 0, serve everyone, to the best context's value, serve only it). Reward: the
    block's clicks times ``reward_scale``. The day ends after its T-th arrival (the last block may be shorter);
    T / block steps, all sub-environments in step. Randomness: the inner env uses this env's generator, so a day
    here and a day of :class:`agents.pacing.PacingVectorEnv` with the same seed and the same serve decisions match.

    :param num_envs: sub-environments.
    :param params: the click model and costs (see :class:`agents.pacing.PacingVectorEnv`; likewise ``budget``,
        ``arrivals_per_day``, ``slates``).
    :param block: arrivals per decision, >= 1.
    :param n_levels: thresholds on the grid, >= 2.
    :param reward_scale: factor on the block's clicks (> 0), to keep the critic's targets near 1.
    :param autoreset_mode: see :class:`envs._vector_base.NumpyVectorEnv`.
    """

    def __init__(self, num_envs: int, params: ClickParams, budget: float, arrivals_per_day: int, *,
                 slates: Any = None, block: int = 25, n_levels: int = 21, reward_scale: float = 1.0,
                 autoreset_mode: Any = "NextStep"):
        super().__init__(num_envs, autoreset_mode)
        self.block = _check_whole("block", block, 1)
        n_levels = _check_whole("n_levels", n_levels, 2)
        if not (np.isfinite(reward_scale) and reward_scale > 0):
            raise ValueError(f"reward_scale: expected a positive number, found {reward_scale}")
        self.reward_scale = float(reward_scale)
        self.inner = PacingVectorEnv(num_envs, params, budget, arrivals_per_day, slates, autoreset_mode="Disabled")
        self.arrivals_per_day = self.inner.arrivals_per_day
        self.levels = np.linspace(0.0, float(self.inner.value.max()), n_levels)
        inner_space = self.inner.single_observation_space
        cols = list(OBS_COLUMNS)
        self.single_observation_space = spaces.Box(inner_space.low[cols], inner_space.high[cols], dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = spaces.Discrete(n_levels)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._inner_obs = np.zeros((self.num_envs,) + inner_space.shape, dtype=np.float32)

    def _reset_envs(self, mask: np.ndarray) -> None:
        self.inner.np_random = self.np_random
        self._inner_obs, _ = self.inner.reset(options={"reset_mask": mask})

    def _observe(self) -> np.ndarray:
        return self._inner_obs[:, list(OBS_COLUMNS)].copy()

    def _advance(self, actions: Any):
        levels = self._int_actions(actions, (self.num_envs,), np.array(self.levels.size))
        threshold = self.levels[levels]
        clicks = np.zeros(self.num_envs)
        done = np.zeros(self.num_envs, dtype=bool)
        obs = self._inner_obs
        for _ in range(self.block):
            serve = (obs[:, PacingVectorEnv.VALUE] >= threshold - 1e-6) & ~done
            obs, rewards, terminated, _, _ = self.inner.step(serve.astype(np.int64))
            clicks += np.where(done, 0.0, rewards)
            done |= terminated
            if done.all():
                break
        self._inner_obs = obs
        return clicks * self.reward_scale, done, np.zeros(self.num_envs, dtype=bool), {"clicks": clicks}


class ThresholdPacer:
    """A trained threshold agent as a per-arrival ``act(obs)`` on :class:`agents.pacing.PacingVectorEnv`
    observations: at each block's first arrival (``t % block == 0``) it asks the model for a threshold, which it
    keeps for the rest of the block; it serves the arrivals whose ``value`` reaches the threshold.

    :param model: a stable-baselines3 model trained on :class:`ThresholdPacingVectorEnv`.
    :param levels: the env's threshold grid.
    :param block: the env's block length.
    :param arrivals_per_day: T.
    """

    def __init__(self, model: Any, levels: np.ndarray, block: int, arrivals_per_day: int):
        if not hasattr(model, "predict"):
            raise ValueError(f"model: expected a stable-baselines3 model with predict(), found {type(model).__name__}")
        self.model = model
        self.levels = np.asarray(levels, dtype=np.float64)
        self.block = _check_whole("block", block, 1)
        self.arrivals_per_day = _check_whole("arrivals_per_day", arrivals_per_day, 1)
        self._threshold: np.ndarray | None = None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        t = np.rint(obs[:, PacingVectorEnv.TIME].astype(np.float64) * self.arrivals_per_day).astype(np.int64)
        new = t % self.block == 0
        if self._threshold is None or self._threshold.shape[0] != obs.shape[0]:
            self._threshold = np.zeros(obs.shape[0])
            new[:] = True
        if new.any():
            levels, _ = self.model.predict(obs[new][:, list(OBS_COLUMNS)], deterministic=True)
            self._threshold[new] = self.levels[np.asarray(levels, dtype=np.int64)]
        return (obs[:, PacingVectorEnv.VALUE] >= self._threshold - 1e-6).astype(np.int64)


    def export(self, directory: str | Path) -> Any:
        """Save the threshold agent behind the deployable policy interface: ``directory`` holds the numpy
        :class:`policies.mlp_policy.MLPPolicy` (contexts ``afford, time_of_day, budget_share`` -> a distribution
        over threshold levels; ``Policy.load(directory)`` reads it without torch) and ``pacer.json`` (the
        threshold of each level, the block length and T), written after it, atomically. Returns the policy."""
        from agents.export import export_policy
        from sim_data.io import atomic_write

        policy = export_policy(self.model, directory, feature_names=FEATURE_NAMES)
        meta = {"levels": self.levels.tolist(), "block": self.block, "arrivals_per_day": self.arrivals_per_day,
                "serve_if": "value >= levels[action]", "features": FEATURE_NAMES}
        atomic_write(Path(directory) / PACER_FILE, lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
        return policy


class _PolicyPredictor:
    """A :class:`policies.policy.Policy` with SB3's ``predict(obs, deterministic=True) -> (actions, None)``."""

    def __init__(self, policy: Any):
        self.policy = policy

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        if not deterministic:
            raise ValueError("deterministic: an exported pacer acts by its policy's mode only")
        return self.policy.predict(obs), None


def load_pacer(directory: str | Path) -> ThresholdPacer:
    """The pacer :meth:`ThresholdPacer.export` wrote, rebuilt without torch: it acts on
    :class:`agents.pacing.PacingVectorEnv` observations exactly as the trained one does.

    :raises FileNotFoundError: no ``pacer.json`` (or no policy artefact) in ``directory``.
    :raises ValueError: a ``pacer.json`` without ``levels``, ``block`` or ``arrivals_per_day``, or an artefact whose
        policy does not have one action per level.
    """
    from policies.policy import Policy

    path = Path(directory) / PACER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no {PACER_FILE}; write one with ThresholdPacer.export")
    meta = json.loads(path.read_text())
    missing = [k for k in ("levels", "block", "arrivals_per_day") if k not in meta]
    if missing:
        raise ValueError(f"{path}: lacks {missing}")
    policy = Policy.load(directory)
    if policy.n_actions != len(meta["levels"]):
        raise ValueError(f"{path}: {len(meta['levels'])} levels, but the policy has {policy.n_actions} actions")
    return ThresholdPacer(_PolicyPredictor(policy), np.asarray(meta["levels"]), meta["block"], meta["arrivals_per_day"])


def _ppo(venv: Any, seed: int, defaults: dict[str, Any], ppo_kwargs: dict[str, Any], reward_scale: float = 1.0):
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecEnvWrapper

    from envs.sb3_vec_env import SB3VecEnv

    class _ScaledReward(VecEnvWrapper):
        def reset(self):
            return self.venv.reset()

        def step_wait(self):
            obs, rewards, dones, infos = self.venv.step_wait()
            return obs, rewards * reward_scale, dones, infos

    torch.set_num_threads(1)
    vec = SB3VecEnv(venv)
    vec.seed(int(seed))
    if reward_scale != 1.0:
        vec = _ScaledReward(vec)
    return PPO("MlpPolicy", vec, seed=int(seed), device="cpu", verbose=0, **(defaults | ppo_kwargs))


def train_threshold_ppo(params: ClickParams, budget: float, arrivals_per_day: int, days: int, seed: int = 0, *,
                        n_envs: int = 16, block: int = 25, n_levels: int = 21, reward_scale: float = 0.1,
                        slates: Any = None, progress: bool = False, **ppo_kwargs: Any) -> ThresholdPacer:
    """Train PPO on :class:`ThresholdPacingVectorEnv` (undiscounted, GAE) and return it as a :class:`ThresholdPacer`.

    :param days: simulated days of training (``days * ceil(T / block)`` agent steps).
    :param seed: seed of the environments and of PPO.
    :param n_envs: parallel sub-environments (days simulated side by side).
    :param block: arrivals per threshold decision; ``n_levels``, ``reward_scale``: see the env.
    :param ppo_kwargs: overrides of PPO's hyper-parameters (defaults: two days per env per rollout, 10 epochs,
        ``gamma = 1``, ``gae_lambda = 0.95``, a 64x64 MLP).
    """
    env = ThresholdPacingVectorEnv(n_envs, params, budget, arrivals_per_day, slates=slates, block=block,
                                   n_levels=n_levels, reward_scale=reward_scale)
    steps_per_day = -(-env.arrivals_per_day // env.block)
    defaults = {"n_steps": 2 * steps_per_day, "batch_size": 8 * steps_per_day, "n_epochs": 10, "gamma": 1.0,
                "gae_lambda": 0.95, "learning_rate": 3e-4, "ent_coef": 0.0, "policy_kwargs": {"net_arch": [64, 64]}}
    days = _check_whole("days", days, 1)  # before PPO is built
    model = _ppo(env, seed, defaults, ppo_kwargs)
    model.learn(total_timesteps=days * steps_per_day, progress_bar=progress)
    return ThresholdPacer(model, env.levels, env.block, env.arrivals_per_day)


def train_pacing_ppo(params: ClickParams, budget: float, arrivals_per_day: int, total_steps: int, seed: int = 0, *,
                     n_envs: int = 16, reward_scale: float = 0.01, slates: Any = None, progress: bool = False,
                     **ppo_kwargs: Any):
    """Train PPO on the per-arrival serve/skip :class:`agents.pacing.PacingVectorEnv` and return the model.

    :param total_steps: arrivals of training (env steps).
    :param seed: seed of the environments and of PPO.
    :param n_envs: parallel sub-environments.
    :param reward_scale: factor on the clicks PPO sees (the day's return near 1; the policy is unaffected).
    :param ppo_kwargs: overrides of PPO's hyper-parameters (defaults: one day per env per rollout, minibatches of
        1,000, 10 epochs, ``gamma = 1``, ``gae_lambda = 0.95``, a 64x64 MLP).
    """
    if not (np.isfinite(reward_scale) and reward_scale > 0):
        raise ValueError(f"reward_scale: expected a positive number, found {reward_scale}")
    defaults = {"n_steps": int(arrivals_per_day), "batch_size": 1000, "n_epochs": 10, "gamma": 1.0,
                "gae_lambda": 0.95, "learning_rate": 3e-4, "ent_coef": 0.0, "policy_kwargs": {"net_arch": [64, 64]}}
    model = _ppo(PacingVectorEnv(n_envs, params, budget, arrivals_per_day, slates), seed, defaults, ppo_kwargs,
                 reward_scale)
    model.learn(total_timesteps=_check_whole("total_steps", total_steps, 1), progress_bar=progress)
    return model
