"""``make_torch_vec_env``: the torch vector environment of a registered id (see docs/environments_torch.md).

The torch envs are not gymnasium-registered entry points (``gymnasium.make_vec`` has no device argument); this
factory is the one way in, keyed by the same ids as :data:`envs.ENV_IDS`.
"""

from __future__ import annotations

from typing import Any

import torch

from envs._torch_common import TorchVectorEnv
from envs.torch_ad_allocation import TorchAdAllocationVectorEnv
from envs.torch_pricing import TorchPricingVectorEnv

TORCH_ENV_CLASSES: dict[str, type[TorchVectorEnv]] = {
    "retailrl/AdAllocation-v0": TorchAdAllocationVectorEnv,
    "retailrl/Pricing-v0": TorchPricingVectorEnv,
}


def make_torch_vec_env(env_id: str, num_envs: int, device: str | torch.device = "auto",
                       **kwargs: Any) -> TorchVectorEnv:
    """A torch vector environment of ``env_id`` with ``num_envs`` sub-environments on ``device``.

    :param env_id: ``"retailrl/AdAllocation-v0"`` or ``"retailrl/Pricing-v0"``.
    :param num_envs: number of sub-environments, >= 1.
    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).
    :param kwargs: the environment's own arguments (as for ``gymnasium.make_vec``: ``budget=``, ``horizon=``,
        ``inventory=``, ``autoreset_mode=`` ...) plus ``dtype=`` and ``check_actions=``.
    :raises ValueError: an id without a torch version, or a bad argument.
    """
    if env_id not in TORCH_ENV_CLASSES:
        raise ValueError(f"env_id: expected one of {sorted(TORCH_ENV_CLASSES)} (the ids with a torch version), "
                         f"found {env_id!r}")
    return TORCH_ENV_CLASSES[env_id](num_envs=num_envs, device=device, **kwargs)
