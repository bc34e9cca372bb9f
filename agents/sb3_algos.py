"""The stable-baselines3 algorithms a training run can use, and which action spaces each one supports.

``ALGORITHMS`` maps a name (``PPO``, ``A2C``, ``DQN``, ``SAC``, ``TD3``, ``MaskablePPO``) to an
:class:`AlgorithmSpec`. :func:`make_model` checks the environment's action space first and refuses a mismatch with
an error that says what to use instead (DQN on a ``MultiDiscrete`` space: "use PPO or A2C"), before SB3's own
assertion would fire.
"""

from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import dataclass
from typing import Any

from gymnasium import spaces

DISCRETE = "Discrete"
MULTI_DISCRETE = "MultiDiscrete"
BOX = "Box"
MULTI_BINARY = "MultiBinary"


@dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm: where its class lives and which action spaces it accepts.

    :param name: the name used in configs and on the command line.
    :param class_path: ``module:Class``.
    :param action_spaces: names of the gymnasium action-space classes it supports.
    :param masked: True when it needs ``action_masks()`` from the environment (sb3-contrib's MaskablePPO).
    :param on_policy: True for PPO/A2C/MaskablePPO (rollout buffer; ``n_steps`` per env).
    """

    name: str
    class_path: str
    action_spaces: frozenset[str]
    masked: bool = False
    on_policy: bool = True

    def load(self) -> type:
        """The algorithm class (imported on demand)."""
        module, _, cls = self.class_path.partition(":")
        return getattr(importlib.import_module(module), cls)


ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec("PPO", "stable_baselines3:PPO", frozenset({DISCRETE, MULTI_DISCRETE, BOX, MULTI_BINARY})),
        AlgorithmSpec("A2C", "stable_baselines3:A2C", frozenset({DISCRETE, MULTI_DISCRETE, BOX, MULTI_BINARY})),
        AlgorithmSpec("DQN", "stable_baselines3:DQN", frozenset({DISCRETE}), on_policy=False),
        AlgorithmSpec("SAC", "stable_baselines3:SAC", frozenset({BOX}), on_policy=False),
        AlgorithmSpec("TD3", "stable_baselines3:TD3", frozenset({BOX}), on_policy=False),
        AlgorithmSpec("MaskablePPO", "sb3_contrib:MaskablePPO", frozenset({DISCRETE, MULTI_DISCRETE, MULTI_BINARY}),
                      masked=True),
    )
}


def get_algorithm(name: str) -> AlgorithmSpec:
    """The spec of algorithm ``name`` (case-insensitive); raises ``ValueError`` listing the known names."""
    if isinstance(name, str):
        for key, spec in ALGORITHMS.items():
            if key.lower() == name.lower():
                return spec
    raise ValueError(f"algo: expected one of {sorted(ALGORITHMS)}, found {name!r}")


def _suggestion(space_kind: str) -> str:
    if space_kind == BOX:
        return ("use SAC, TD3, PPO or A2C (continuous actions); or make the actions discrete "
                "(e.g. Pricing's action_type='discrete')")
    if space_kind == MULTI_DISCRETE:
        return "use PPO or A2C (or MaskablePPO when the environment has action_masks())"
    if space_kind == DISCRETE:
        return "use PPO, A2C or DQN (or MaskablePPO when the environment has action_masks())"
    return "use PPO or A2C"


def check_action_space(spec: AlgorithmSpec, action_space: spaces.Space) -> None:
    """Refuse an action space ``spec`` cannot handle, saying what to use instead.

    :raises ValueError: e.g. "DQN needs a Discrete action space, found MultiDiscrete([6 6]): use PPO or A2C ...".
    """
    kind = type(action_space).__name__
    if kind not in spec.action_spaces:
        needs = " or ".join(sorted(spec.action_spaces))
        raise ValueError(f"algo: {spec.name} needs a {needs} action space, found {action_space}: {_suggestion(kind)}")


def check_masks(spec: AlgorithmSpec, env: Any) -> None:
    """MaskablePPO needs ``action_masks()`` on the environment; raises ``ValueError`` saying what to do otherwise."""
    if not spec.masked:
        return
    try:
        env.env_method("action_masks")
    except AttributeError:
        raise ValueError(f"algo: {spec.name} needs an environment with action_masks() (retailrl/AdAllocation-v0 has "
                         "them); for this environment use PPO or A2C") from None


SCHEDULED = ("learning_rate", "clip_range")


class LinearSchedule:
    """``initial * progress_remaining``: SB3 calls it with 1.0 at the start of training and 0.0 at the end
    (a class rather than a lambda so that a saved model pickles it)."""

    def __init__(self, initial: float):
        self.initial = initial

    def __call__(self, progress_remaining: float) -> float:
        return self.initial * progress_remaining


def linear_schedule(where: str, text: str) -> LinearSchedule:
    """Parse ``"lin_3e-4"``; raises ``ValueError`` naming ``where`` otherwise."""
    try:
        if not text.startswith("lin_"):
            raise ValueError
        initial = float(text[4:])
    except ValueError:
        raise ValueError(f"{where}: expected a number or 'lin_X' (X decaying linearly to 0), found {text!r}") from None
    if not (math.isfinite(initial) and initial > 0):
        raise ValueError(f"{where}: expected 'lin_X' with X a finite number > 0, found {text!r}")
    return LinearSchedule(initial)


def make_model(algo: str, env: Any, *, policy: str = "MlpPolicy", hyperparams: dict[str, Any] | None = None,
               seed: int = 0, device: str = "cpu", tensorboard_log: str | None = None, verbose: int = 0) -> Any:
    """Build an SB3 model after checking that the algorithm fits the environment.

    :param algo: a name in :data:`ALGORITHMS`.
    :param env: an SB3 ``VecEnv``.
    :param policy: SB3 policy name (``MlpPolicy``).
    :param hyperparams: keyword arguments of the algorithm's constructor (``learning_rate``, ``n_steps``,
        ``policy_kwargs`` ...). Unknown names raise ``ValueError`` naming them. ``learning_rate`` (and
        ``clip_range``) may be ``"lin_X"`` (rl-baselines3-zoo's spelling): X decaying linearly to 0 over training.
    :param seed: seeds SB3 (python, numpy, torch, the action space and the environment).
    :param device: a torch device string (``cpu``, ``cuda``); see :func:`agents.train.resolve_device`.
    """
    spec = get_algorithm(algo)
    check_action_space(spec, env.action_space)
    check_masks(spec, env)
    cls = spec.load()
    hyperparams = dict(hyperparams or {})
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "policy", "env", "seed", "device",
                                                                  "tensorboard_log", "verbose", "_init_setup_model"}
    unknown = sorted(set(hyperparams) - accepted)
    if unknown:
        raise ValueError(f"algo.hyperparams: {spec.name} has no parameter(s) {unknown}; it accepts {sorted(accepted)}")
    for key in SCHEDULED:
        if isinstance(hyperparams.get(key), str):
            hyperparams[key] = linear_schedule(f"algo.hyperparams.{key}", hyperparams[key])
    return cls(policy, env, seed=seed, device=device, tensorboard_log=tensorboard_log, verbose=verbose, **hyperparams)
