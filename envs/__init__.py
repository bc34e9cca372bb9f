"""The shopper simulator: three Gymnasium environments and their native numpy vector versions.

Importing ``envs`` registers ``retailrl/AdAllocation-v0``, ``retailrl/Pricing-v0`` and ``retailrl/Inventory-v0``
(each with a ``vector_entry_point``: ``gymnasium.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point")``).
Parameters: :mod:`envs.params`; defaults: :mod:`envs.defaults`; oracles: :mod:`envs.oracles`; SB3 adapter:
:class:`envs.sb3_vec_env.SB3VecEnv`. See docs/environments.md.
"""

from __future__ import annotations

import gymnasium as gym

from envs._vector_base import NumpyVectorEnv
from envs.params import BernoulliDemandParams, ClickParams, DemandParams, InventoryParams

ENV_IDS = {
    "retailrl/AdAllocation-v0": ("envs.ad_allocation:AdAllocationEnv", "envs.ad_allocation_vector:AdAllocationVectorEnv"),
    "retailrl/Pricing-v0": ("envs.pricing:PricingEnv", "envs.pricing_vector:PricingVectorEnv"),
    "retailrl/Inventory-v0": ("envs.inventory:InventoryEnv", "envs.inventory_vector:InventoryVectorEnv"),
}


def register_envs() -> None:
    """Register the three environments with gymnasium (idempotent)."""
    for env_id, (entry_point, vector_entry_point) in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)


register_envs()

__all__ = ["ENV_IDS", "BernoulliDemandParams", "ClickParams", "DemandParams", "InventoryParams", "NumpyVectorEnv",
           "register_envs"]
