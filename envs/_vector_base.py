"""The autoreset and seeding logic shared by the native numpy vector environments.

A subclass holds the state of all ``num_envs`` sub-environments in arrays and implements three methods:
``_reset_envs(mask)`` (fresh episodes for the sub-environments in the bool ``mask``, drawing from
``self.np_random``), ``_observe()`` (the ``(num_envs, obs_dim)`` float32 observations) and ``_advance(actions)``
(one step of every sub-environment; returns rewards, terminated, truncated and an info dict of arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv


class NumpyVectorEnv(VectorEnv):
    """Base class: ``reset``/``step`` with next-step (default), same-step or disabled autoreset.

    :param num_envs: number of sub-environments, >= 1.
    :param autoreset_mode: ``"NextStep"`` (gymnasium's default: a finished sub-environment is reset by the next
        ``step``, which ignores its action and returns reward 0), ``"SameStep"`` (reset inside the same ``step``;
        the last observation is in ``info["final_obs"]`` where ``info["_final_obs"]``), or ``"Disabled"`` (reset
        with ``reset(options={"reset_mask": mask})``).
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP):
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs: expected a whole number >= 1, found {num_envs}")
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ValueError(f"autoreset_mode: expected one of {[m.value for m in AutoresetMode]}, "
                             f"found {autoreset_mode!r}") from None
        self.num_envs = int(num_envs)
        self.autoreset_mode = mode
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.render_mode = None
        self._prev_done = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    # -- to implement -------------------------------------------------------------------------------------------
    def _reset_envs(self, mask: np.ndarray) -> None:
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        raise NotImplementedError

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        raise NotImplementedError

    # -- gymnasium API ------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-environment (or those in ``options["reset_mask"]``); ``seed`` reseeds ``np_random``."""
        super().reset(seed=seed)
        mask = None if options is None else options.get("reset_mask")
        if mask is None:
            mask = np.ones(self.num_envs, dtype=bool)
        else:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"options['reset_mask']: expected shape ({self.num_envs},), found {mask.shape}")
            if not self._started and not mask.all():
                raise ValueError("options['reset_mask']: the first reset must reset every sub-environment")
        self._reset_envs(mask)
        self._prev_done[mask] = False
        self._started = True
        return self._observe(), {}

    def step(self, actions: Any):
        """Step every sub-environment; see the class docstring for how finished ones are reset."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        rewards, terminated, truncated, info = self._advance(actions)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            was_done = self._prev_done
            if was_done.any():
                self._reset_envs(was_done)
                rewards[was_done] = 0.0
                terminated[was_done] = False
                truncated[was_done] = False
            self._prev_done = terminated | truncated
            obs = self._observe()
        elif self.autoreset_mode == AutoresetMode.SAME_STEP:
            done = terminated | truncated
            obs = self._observe()
            if done.any():
                info["final_obs"] = obs.copy()
                info["_final_obs"] = done
                self._reset_envs(done)
                obs = self._observe()
        else:
            obs = self._observe()
        return obs, rewards, terminated, truncated, info

    @staticmethod
    def _int_actions(actions: Any, shape: tuple[int, ...], high: np.ndarray, name: str = "actions") -> np.ndarray:
        """``actions`` as an int64 array of ``shape`` with ``0 <= actions < high``; raises ``ValueError``."""
        arr = np.asarray(actions)
        if arr.shape != shape:
            arr = arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr
        if arr.shape != shape:
            raise ValueError(f"{name}: expected shape {shape}, found {np.shape(actions)}")
        if arr.dtype.kind not in "iu":
            if not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ValueError(f"{name}: expected whole numbers, found {arr.dtype} values")
        arr = arr.astype(np.int64, copy=False)
        if arr.min() < 0 or np.any(arr >= high):
            raise ValueError(f"{name}: expected every entry in [0, {np.asarray(high).tolist()}), "
                             f"found min {arr.min()} max {arr.max()}")
        return arr
