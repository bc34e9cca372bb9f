"""Device choice, seeding and autoreset shared by the torch vector environments.

A subclass holds the state of all ``num_envs`` sub-environments in tensors on ``self.device`` and implements
``_reset_envs(mask)`` (fresh episodes where the bool tensor ``mask`` is True, written with ``torch.where`` so no
host sync is needed), ``_observe()`` (``(num_envs, obs_dim)`` float32 tensor), ``_advance(actions)`` (one step
of every sub-environment: rewards, terminated, truncated and an info dict of tensors), ``_numpy_actions(actions)``
(validate host actions, return them as a tensor on the device) and ``_tensor_actions(actions)`` (validate a tensor
of actions). Every random draw uses ``self.generator``, a ``torch.Generator`` on the device.

The class derives from :class:`envs._vector_base.NumpyVectorEnv` only so that the numpy-facing API is the same
object type the rest of ``envs`` accepts (e.g. :class:`envs.sb3_vec_env.SB3VecEnv`); ``reset`` and ``step`` are
re-implemented on tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from envs._vector_base import NumpyVectorEnv

DEVICE_CHOICES = ("cpu", "cuda", "cuda:N", "auto")
DTYPES = (torch.float32, torch.float64)
CUDA_MISSING = "cuda requested but torch.cuda.is_available() is False: use device='cpu' or 'auto'"


def resolve_device(device: str | torch.device) -> torch.device:
    """The ``torch.device`` for ``device``: ``"auto"`` is CUDA when available, else the CPU.

    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` or a ``torch.device`` of type cpu/cuda.
    :raises ValueError: an unknown device, or CUDA asked for where none is available.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ValueError(f"device: expected one of {DEVICE_CHOICES}, found {device!r}") from None
    else:
        raise ValueError(f"device: expected one of {DEVICE_CHOICES} or a torch.device, found {type(device).__name__}")
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise ValueError(f"device: expected one of {DEVICE_CHOICES}, found {device!r} (type {dev.type!r})")
    if not torch.cuda.is_available():
        raise ValueError(CUDA_MISSING)
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise ValueError(f"device: {device!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    return torch.device("cuda", index)


def torch_seed(seed: int | None) -> int:
    """A 63-bit generator seed derived from ``seed`` (fresh OS entropy when ``None``) by ``numpy.random.SeedSequence``."""
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0] >> np.uint64(1))


def to_numpy(value: torch.Tensor) -> np.ndarray:
    """A host copy of ``value``: floating tensors become float64 (as the numpy vector envs give), others keep dtype."""
    arr = value.detach().cpu().numpy()
    return arr.astype(np.float64) if arr.dtype.kind == "f" else arr


class TorchVectorEnv(NumpyVectorEnv):
    """Base class: the numpy ``reset``/``step`` of a gymnasium ``VectorEnv`` plus a tensor API on ``device``.

    ``reset_tensors``/``step_tensors`` take and return tensors on ``self.device`` (observations float32, rewards
    of ``dtype``, terminated/truncated bool, info values tensors) and never copy to the host, nor synchronise with
    it unless ``check_actions`` is True (the action range check reads one bool back). ``reset``/``step`` wrap
    them with numpy in and out for gymnasium and stable-baselines3 (observations float32, rewards float64).

    Autoreset modes as in :class:`envs._vector_base.NumpyVectorEnv`. In ``"SameStep"`` mode ``step_tensors``
    always returns ``info["final_obs"]`` and the bool ``info["_final_obs"]``; ``step`` only when some
    sub-environment finished (as the numpy envs do).

    :param num_envs: number of sub-environments, >= 1.
    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available); see
        :func:`resolve_device`.
    :param dtype: ``torch.float32`` (default; fast on GPUs) or ``torch.float64`` for the rewards and the state.
    :param check_actions: validate the range of tensor actions in ``step_tensors`` (one host sync per step).
    :param autoreset_mode: ``"NextStep"``, ``"SameStep"`` or ``"Disabled"``.
    """

    def __init__(self, num_envs: int, device: str | torch.device = "auto", dtype: torch.dtype = torch.float32,
                 check_actions: bool = True, autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP):
        super().__init__(num_envs, autoreset_mode)
        if dtype not in DTYPES:
            raise ValueError(f"dtype: expected torch.float32 or torch.float64, found {dtype!r}")
        self.device = resolve_device(device)
        self.dtype = dtype
        self.check_actions = bool(check_actions)
        self.generator = torch.Generator(device=self.device)
        self._seeded = False
        self._prev_done = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    # -- helpers for subclasses ---------------------------------------------------------------------------------
    def _tensor(self, values: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``values`` as a tensor on the device (``self.dtype`` unless ``dtype`` is given)."""
        return torch.as_tensor(np.asarray(values), dtype=self.dtype if dtype is None else dtype, device=self.device)

    def _rand(self, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Uniform [0, 1) draws of ``shape`` from ``self.generator``."""
        return torch.rand(shape, generator=self.generator, device=self.device,
                          dtype=self.dtype if dtype is None else dtype)

    def _check_tensor(self, actions: Any, shape: tuple[int, ...], integer: bool) -> torch.Tensor:
        """``actions`` (a tensor on the device) reshaped to ``shape``; raises ``ValueError`` naming what is wrong."""
        if not isinstance(actions, torch.Tensor):
            raise ValueError(f"actions: expected a torch.Tensor on {self.device} (use step() for numpy actions), "
                             f"found {type(actions).__name__}")
        if actions.device != self.device:
            raise ValueError(f"actions: expected a tensor on {self.device}, found one on {actions.device}")
        if integer and (actions.dtype.is_floating_point or actions.dtype.is_complex or actions.dtype == torch.bool):
            raise ValueError(f"actions: expected an integer tensor, found {actions.dtype}")
        if not integer and not actions.dtype.is_floating_point:
            raise ValueError(f"actions: expected a floating-point tensor, found {actions.dtype}")
        if tuple(actions.shape) != shape:
            if actions.numel() != int(np.prod(shape)):
                raise ValueError(f"actions: expected shape {shape}, found {tuple(actions.shape)}")
            actions = actions.reshape(shape)
        return actions.long() if integer else actions.to(self.dtype)

    def _check_range(self, actions: torch.Tensor, high: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``0 <= actions < high`` (a host sync; skipped when ``check_actions`` is False)."""
        if self.check_actions and bool(((actions < 0) | (actions >= high)).any()):
            raise ValueError(f"actions: expected every entry in [0, {high.tolist()}), "
                             f"found min {int(actions.min())} max {int(actions.max())}")

    # -- to implement -------------------------------------------------------------------------------------------
    def _numpy_actions(self, actions: Any) -> torch.Tensor:
        raise NotImplementedError

    def _tensor_actions(self, actions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- tensor API ---------------------------------------------------------------------------------------------
    def reset_tensors(self, *, seed: int | None = None,
                      options: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Reset every sub-environment (or those in ``options["reset_mask"]``, a bool array or tensor of shape
        ``(num_envs,)``); ``seed`` reseeds ``self.generator`` (and ``np_random``). Returns ``(obs, {})``."""
        VectorEnv.reset(self, seed=seed)
        if seed is not None or not self._seeded:
            self.generator.manual_seed(torch_seed(seed))
            self._seeded = True
        mask = None if options is None else options.get("reset_mask")
        if mask is None:
            mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        else:
            mask = torch.as_tensor(mask, device=self.device)
            if tuple(mask.shape) != (self.num_envs,):
                raise ValueError(f"options['reset_mask']: expected shape ({self.num_envs},), found {tuple(mask.shape)}")
            mask = mask.to(torch.bool)
            if not self._started and not bool(mask.all()):
                raise ValueError("options['reset_mask']: the first reset must reset every sub-environment")
        self._reset_envs(mask)
        self._prev_done = self._prev_done & ~mask
        self._started = True
        return self._observe(), {}

    def step_tensors(self, actions: torch.Tensor):
        """Step every sub-environment with a tensor of actions on the device; returns
        ``(obs, rewards, terminated, truncated, info)`` as tensors on the device (shapes as in :meth:`step`)."""
        if not self._started:
            raise RuntimeError("call reset() or reset_tensors() before step_tensors()")
        return self._step(self._tensor_actions(actions))

    def _step(self, actions: torch.Tensor):
        rewards, terminated, truncated, info = self._advance(actions)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            was_done = self._prev_done
            self._reset_envs(was_done)
            rewards = torch.where(was_done, torch.zeros_like(rewards), rewards)
            terminated = terminated & ~was_done
            truncated = truncated & ~was_done
            self._prev_done = terminated | truncated
            obs = self._observe()
        elif self.autoreset_mode == AutoresetMode.SAME_STEP:
            done = terminated | truncated
            info["final_obs"] = self._observe()
            info["_final_obs"] = done
            self._reset_envs(done)
            obs = self._observe()
        else:
            obs = self._observe()
        return obs, rewards, terminated, truncated, info

    # -- gymnasium (numpy) API ----------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """As :meth:`reset_tensors`, with a numpy ``(num_envs, obs_dim)`` float32 observation."""
        obs, info = self.reset_tensors(seed=seed, options=options)
        return obs.cpu().numpy(), info

    def step(self, actions: Any):
        """Step with numpy actions (validated as the numpy vector envs do); numpy observations (float32), rewards
        (float64), terminated/truncated (bool) and info arrays."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        obs, rewards, terminated, truncated, info = self._step(self._numpy_actions(actions))
        info_np = {key: to_numpy(value) for key, value in info.items()}
        if self.autoreset_mode == AutoresetMode.SAME_STEP and not info_np["_final_obs"].any():
            del info_np["final_obs"], info_np["_final_obs"]
        elif "final_obs" in info_np:
            info_np["final_obs"] = info_np["final_obs"].astype(np.float32)
        return obs.cpu().numpy(), to_numpy(rewards), terminated.cpu().numpy(), truncated.cpu().numpy(), info_np
