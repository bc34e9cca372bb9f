"""Export a trained stable-baselines3 policy behind the deployable policy interface, for serving without torch.

:func:`to_mlp_policy` copies the actor network's weights (and the VecNormalize observation statistics) into a
:class:`policies.mlp_policy.MLPPolicy`, whose numpy forward pass gives the same action distribution as the torch
network: softmax over the logits for ``Discrete``/``MultiDiscrete`` (PPO, A2C, MaskablePPO), the greedy action
for DQN, the deterministic mean for ``Box`` (SAC, TD3, PPO/A2C), served as a degenerate distribution on a grid.
:func:`export_policy` also saves it as an artefact directory (``policy.json`` + ``.npy`` files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from policies.mlp_policy import MLPPolicy


def _sequential_layers(modules: list[Any], where: str) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Weights ``(n_in, n_out)``, biases and the activation after each Linear of a flat list of torch modules."""
    from torch import nn

    weights, biases, acts = [], [], []
    for module in modules:
        if isinstance(module, nn.Linear):
            weights.append(module.weight.detach().cpu().numpy().astype(np.float64).T.copy())
            biases.append(module.bias.detach().cpu().numpy().astype(np.float64).copy())
            acts.append("identity")
        elif isinstance(module, nn.Tanh | nn.ReLU):
            if not weights or acts[-1] != "identity":
                raise ValueError(f"{where}: an activation that does not follow a Linear layer cannot be exported")
            acts[-1] = "tanh" if isinstance(module, nn.Tanh) else "relu"
        elif isinstance(module, nn.Sequential):
            w, b, a = _sequential_layers(list(module), where)
            weights += w
            biases += b
            acts += a
        else:
            raise ValueError(f"{where}: cannot export a {type(module).__name__} layer; export supports MlpPolicy "
                             "networks of Linear layers with Tanh or ReLU activations")
    return weights, biases, acts


def _check_extractor(extractor: Any, where: str) -> None:
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if not isinstance(extractor, FlattenExtractor):
        raise ValueError(f"{where}: export supports MlpPolicy (FlattenExtractor), found {type(extractor).__name__}")


def _actor_layers(model: Any) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """The actor's layers, whatever the algorithm."""
    policy = model.policy
    name = type(model).__name__
    if getattr(model, "use_sde", False):
        raise ValueError(f"{name}: export does not support gSDE (use_sde=True); train without it")
    if hasattr(policy, "mlp_extractor") and hasattr(policy, "action_net"):  # PPO, A2C, MaskablePPO
        _check_extractor(policy.pi_features_extractor, name)
        return _sequential_layers([policy.mlp_extractor.policy_net, policy.action_net], name)
    if hasattr(policy, "q_net"):  # DQN
        _check_extractor(policy.q_net.features_extractor, name)
        return _sequential_layers([policy.q_net.q_net], name)
    actor = getattr(policy, "actor", None)
    if actor is not None and hasattr(actor, "latent_pi"):  # SAC: tanh(mu(latent_pi(x)))
        _check_extractor(actor.features_extractor, name)
        w, b, a = _sequential_layers([actor.latent_pi, actor.mu], name)
        a[-1] = "tanh"
        return w, b, a
    if actor is not None and hasattr(actor, "mu"):  # TD3: mu ends with Tanh
        _check_extractor(actor.features_extractor, name)
        return _sequential_layers([actor.mu], name)
    raise ValueError(f"{name}: no exportable actor network found (PPO, A2C, MaskablePPO, DQN, SAC, TD3 are supported)")


def to_mlp_policy(model: Any, vecnormalize: Any = None, *, action_grid: np.ndarray | None = None,
                  feature_names: list[str] | None = None) -> MLPPolicy:
    """The numpy policy equivalent to ``model``'s actor.

    :param model: a trained SB3 model (PPO, A2C, DQN, SAC, TD3, MaskablePPO) with an ``MlpPolicy``.
    :param vecnormalize: the ``VecNormalize`` it was trained with (its observation statistics are copied), or
        ``None``.
    :param action_grid: ``(action_dim, n_levels)`` grid (in action units) for a ``Box`` policy's degenerate
        distribution; default 11 points per dimension.
    :param feature_names: DataFrame columns of the observation, in order.
    """
    obs_space, act_space = model.observation_space, model.action_space
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"model: export needs a flat Box observation space, found {obs_space}")
    weights, biases, acts = _actor_layers(model)
    hidden = set(acts[:-1])
    if len(hidden) > 1:
        raise ValueError(f"model: hidden layers mix activations {sorted(hidden)}; export needs one kind")
    activation = hidden.pop() if hidden else "identity"
    kwargs: dict[str, Any] = {"activation": activation, "output_activation": acts[-1], "feature_names": feature_names}
    name = type(model).__name__
    if isinstance(act_space, spaces.Discrete | spaces.MultiDiscrete):
        nvec = [int(act_space.n)] if isinstance(act_space, spaces.Discrete) else [int(n) for n in act_space.nvec]
        kwargs.update(head="greedy" if name == "DQN" else "categorical", nvec=nvec)
    elif isinstance(act_space, spaces.Box):
        if len(act_space.shape) != 1:
            raise ValueError(f"model: export needs a flat Box action space, found {act_space}")
        kwargs.update(head="box_mean", action_low=act_space.low.astype(np.float64),
                      action_high=act_space.high.astype(np.float64), action_grid=action_grid)
    else:
        raise ValueError(f"model: cannot export a policy over {act_space}; Discrete, MultiDiscrete and Box are supported")
    if vecnormalize is not None and getattr(vecnormalize, "norm_obs", False):
        rms = vecnormalize.obs_rms
        kwargs.update(obs_mean=np.asarray(rms.mean, dtype=np.float64), obs_var=np.asarray(rms.var, dtype=np.float64),
                      clip_obs=float(vecnormalize.clip_obs), obs_epsilon=float(vecnormalize.epsilon))
    return MLPPolicy(weights, biases, **kwargs)


def export_policy(model: Any, directory: str | Path, vecnormalize: Any = None, *,
                  action_grid: np.ndarray | None = None, feature_names: list[str] | None = None) -> MLPPolicy:
    """Export ``model`` (see :func:`to_mlp_policy`) and save it as an artefact in ``directory``.

    ``policies.policy.Policy.load(directory)`` reads it back without torch.
    """
    policy = to_mlp_policy(model, vecnormalize, action_grid=action_grid, feature_names=feature_names)
    policy.save(directory)
    return policy
