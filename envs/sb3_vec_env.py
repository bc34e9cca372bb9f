"""Adapter: one of our native numpy vector environments as a stable-baselines3 ``VecEnv``.

SB3 expects finished sub-environments to be reset inside the same ``step`` with the last observation in
``infos[i]["terminal_observation"]``; the adapter switches the wrapped environment to same-step autoreset.
Imports stable-baselines3 (the ``rl`` extra), so ``envs`` does not import this module itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from envs._vector_base import NumpyVectorEnv


class SB3VecEnv(VecEnv):
    """A :class:`NumpyVectorEnv` seen as an SB3 ``VecEnv`` (all sub-environments live in one object).

    ``env_method("action_masks")`` returns one mask per sub-environment (what sb3-contrib's MaskablePPO asks for).

    :param venv: e.g. ``gymnasium.make_vec("retailrl/Pricing-v0", num_envs=8,
        vectorization_mode="vector_entry_point")`` (wrappers are looked through with ``.unwrapped``).
    """

    def __init__(self, venv: Any):
        base = getattr(venv, "unwrapped", venv)
        if not isinstance(base, NumpyVectorEnv):
            raise ValueError(f"venv: expected one of retailrl's native vector envs, found {type(base).__name__}; "
                             "for other environments use stable_baselines3's DummyVecEnv")
        base.autoreset_mode = AutoresetMode.SAME_STEP
        base.metadata = {**base.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.venv = base
        self._actions: np.ndarray | None = None
        super().__init__(base.num_envs, base.single_observation_space, base.single_action_space)

    def reset(self):
        obs, _ = self.venv.reset(seed=self._seeds[0])
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            final_obs = info["final_obs"]
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = final_obs[i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def _indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.venv, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        if indices is not None and len(self._indices(indices)) != self.num_envs:
            raise ValueError("set_attr: every sub-environment shares one object; set an attribute on all of them")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        idx = self._indices(indices)
        if method_name == "action_masks":
            return [result[i] for i in idx]
        return [result for _ in idx]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]
