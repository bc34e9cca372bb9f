"""Ad allocation under a daily budget: fill K ad slots for each arriving shopper."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.defaults import default_click_params
from envs.params import ClickParams


def check_ad_config(params: ClickParams, budget: float, arrivals_per_day: int) -> None:
    """Validate the arguments shared by the scalar and the vector environment; raises ``ValueError``."""
    if not isinstance(params, ClickParams):
        raise ValueError(f"params: expected a ClickParams, found {type(params).__name__}")
    if not np.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget: expected a positive number, found {budget}")
    if int(arrivals_per_day) != arrivals_per_day or arrivals_per_day < 1:
        raise ValueError(f"arrivals_per_day: expected a whole number >= 1, found {arrivals_per_day}")
    if params.n_items < params.n_positions:
        raise ValueError(f"params: expected at least as many items ({params.n_items}) as slots ({params.n_positions})")


def ad_spaces(params: ClickParams) -> tuple[spaces.Box, spaces.MultiDiscrete]:
    """The (single) observation and action spaces of the ad-allocation environments."""
    features = params.context_features
    low = np.concatenate([features.min(axis=0), [0.0, 0.0]]).astype(np.float32)
    high = np.concatenate([features.max(axis=0), [1.0, 1.0]]).astype(np.float32)
    observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
    action_space = spaces.MultiDiscrete(np.full(params.n_positions, params.n_items + 1, dtype=np.int64))
    return observation_space, action_space


class AdAllocationEnv(gym.Env):
    """One day of ad serving: each step a shopper arrives and the policy fills the K ad slots.

    ## Description
    A day has ``arrivals_per_day`` (T) shopper arrivals. Arrival t's context segment c is drawn from
    ``params.context_probs`` (of the day part ``t * n_day_parts // T``). The policy puts catalogue items in the
    K slots. The item in slot k is clicked with probability ``position_bias[k] * relevance[c, item]``; a click
    becomes a purchase with probability ``conversion_prob[item]``. Each click costs ``cost_per_click[item]`` and
    each shown item ``cost_per_impression[item]``, paid from the daily ``budget``.

    Duplicates: an item already placed in an earlier slot of the same slate is not shown again: that slot counts
    as empty (no click, no cost). Budget: a slate is shown only while the remaining budget is positive; the last
    slate may overspend (as on ad platforms; the overspend is in ``info["spend"]``) and the remaining budget is
    then 0. Once it is 0 the slots go unfilled whatever the action: no clicks, no cost.

    ## Action space
    ``MultiDiscrete([n_items + 1] * K)``: ``action[k]`` is the item for slot k; the value ``n_items`` leaves the
    slot empty, and an all-empty slate is the "skip" action, so pacing the budget is a choice.
    :meth:`action_masks` (for sb3-contrib's MaskablePPO; also ``info["action_mask"]``) gives the flat
    ``(K * (n_items + 1),)`` bool mask: every choice while budget remains, only "empty" once it is spent.

    ## Observation space
    ``Box(float32, (n_features + 2,))``: the arriving shopper's context features (``params.context_features``,
    one-hot segments by default), the time of day ``t / T`` in [0, 1), and the remaining budget as a share of
    ``budget`` in [0, 1].

    ## Rewards
    Clicks on the slate, plus the value of purchases (``purchase_value[item]`` per purchase) when
    ``include_purchases`` is True.

    ## Starting state
    t = 0, the full budget, a context drawn for the first arrival.

    ## Episode end
    Terminated after the T-th arrival (the day is over; time of day is observed). Never truncated.

    ## Info
    ``clicks``, ``purchases`` (counted only when ``include_purchases``), ``spend`` (this step), ``context`` (the
    served shopper's segment), ``action_mask``.

    ## Arguments
    :param params: the click model and context distribution; default :func:`envs.defaults.default_click_params`
        (calibrated on the Open Bandit Dataset sample; another fit: ``ClickParams.from_fit_dir``).
    :param budget: daily budget, > 0.
    :param arrivals_per_day: T, arrivals per day (episode length).
    :param include_purchases: add purchase value to the reward.
    :param render_mode: unused (no rendering); accepted for gymnasium's API.
    """

    metadata = {"render_modes": []}

    def __init__(self, params: ClickParams | None = None, budget: float = 100.0, arrivals_per_day: int = 1000,
                 include_purchases: bool = False, render_mode: str | None = None):
        self.params = default_click_params() if params is None else params
        check_ad_config(self.params, budget, arrivals_per_day)
        self.budget = float(budget)
        self.arrivals_per_day = int(arrivals_per_day)
        self.include_purchases = bool(include_purchases)
        self.render_mode = render_mode
        self.observation_space, self.action_space = ad_spaces(self.params)
        p = self.params
        self._n_items, self._n_positions = p.n_items, p.n_positions
        self._context_cdf = np.cumsum(p.context_probs, axis=1)
        self._features = p.context_features.astype(np.float32)
        self._n_features = self._features.shape[1]
        self._mask_spent = np.zeros((self._n_positions, self._n_items + 1), dtype=bool)
        self._mask_spent[:, -1] = True
        self._mask_spent = self._mask_spent.ravel()
        self._mask_all = np.ones(self._n_positions * (self._n_items + 1), dtype=bool)
        self._t = 0
        self._remaining = self.budget
        self._context = 0

    def _draw_context(self) -> int:
        part = min(self._t * self.params.n_day_parts // self.arrivals_per_day, self.params.n_day_parts - 1)
        cdf = self._context_cdf[part]
        return min(int(np.searchsorted(cdf, self.np_random.random(), side="right")), len(cdf) - 1)

    def _obs(self) -> np.ndarray:
        obs = np.empty(self._n_features + 2, dtype=np.float32)
        obs[: self._n_features] = self._features[self._context]
        obs[-2] = self._t / self.arrivals_per_day
        obs[-1] = self._remaining / self.budget
        return obs

    def action_masks(self) -> np.ndarray:
        """``(K * (n_items + 1),)`` bool: the valid choices per slot, concatenated (MaskablePPO's format)."""
        return self._mask_all.copy() if self._remaining > 0 else self._mask_spent.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._remaining = self.budget
        self._context = self._draw_context()
        return self._obs(), {"action_mask": self.action_masks()}

    def step(self, action: Any):
        items = np.asarray(action).reshape(-1)
        if items.shape != (self._n_positions,) or np.any(items < 0) or np.any(items > self._n_items):
            raise ValueError(f"action: expected {self._n_positions} integers in [0, {self._n_items}], found {action!r}")
        p = self.params
        clicks = purchases = 0
        value = spend = 0.0
        if self._remaining > 0:
            shown: set[int] = set()
            draws = self.np_random.random(2 * self._n_positions)
            for k, item in enumerate(items.tolist()):
                if item == self._n_items or item in shown:
                    continue
                shown.add(item)
                spend += p.cost_per_impression[item]
                if draws[k] < p.position_bias[k] * p.relevance[self._context, item]:
                    clicks += 1
                    spend += p.cost_per_click[item]
                    if self.include_purchases and draws[self._n_positions + k] < p.conversion_prob[item]:
                        purchases += 1
                        value += p.purchase_value[item]
            self._remaining = max(self._remaining - spend, 0.0)
        reward = float(clicks + value)
        served = self._context
        self._t += 1
        terminated = self._t >= self.arrivals_per_day
        if not terminated:
            self._context = self._draw_context()
        info = {"clicks": clicks, "purchases": purchases, "spend": spend, "context": served,
                "action_mask": self.action_masks()}
        return self._obs(), reward, terminated, False, info

    def oracle(self) -> dict[str, Any]:
        """The best slate per context and, under ``budget_bound``, the daily budget's fluid bound on serving them;
        see :func:`envs.oracles.ad_allocation_oracle`."""
        from envs.oracles import ad_allocation_oracle

        return ad_allocation_oracle(self.params, self.budget, self.arrivals_per_day, self.include_purchases)
