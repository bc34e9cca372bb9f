"""A burst of simulated shoppers through a running decision API (for ``make demo`` and smoke checks).

:func:`send_shoppers` asks for a decision per shopper context, draws the shopper's reward from a reward model
you pass (e.g. a synthetic world's true click probabilities) with a seeded Generator, and sends it back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np


def send_shoppers(base_url: str, token: str, decision_point: str, contexts: Sequence[Sequence[float]],
                  reward_prob: Callable[[int, int], float], *, seed: int = 0, prefix: str = "shopper",
                  timeout_s: float = 10.0) -> dict:
    """Send one decision and its reward per row of ``contexts``.

    :param contexts: ``(n_shoppers, n_features)`` context features.
    :param reward_prob: ``(shopper index, chosen action) -> probability of a reward of 1`` (else 0).
    :param seed: seeds the reward draws.
    :return: ``{"shoppers", "decisions", "rewards", "mean_reward", "arms": {arm: count}, "fallbacks", "errors"}``.
    """
    import httpx

    rng = np.random.default_rng(seed)
    arms: Counter[str] = Counter()
    total = rewards_sent = fallbacks = errors = 0
    reward_sum = 0.0
    with httpx.Client(base_url=base_url, timeout=timeout_s,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        for i, context in enumerate(contexts):
            r = client.post("/v1/decisions", json={"decision_point": decision_point, "event_id": f"{prefix}-{i}",
                                                   "context": [float(v) for v in context]})
            if r.status_code != 200:
                errors += 1
                continue
            body = r.json()
            total += 1
            arms[body["arm"]] += 1
            fallbacks += bool(body["fallback"])
            value = float(rng.random() < reward_prob(i, body["actions"][0]))
            if client.post("/v1/rewards", json={"event_id": body["event_id"], "value": value}).status_code == 200:
                rewards_sent += 1
                reward_sum += value
            else:
                errors += 1
    return {"shoppers": len(contexts), "decisions": total, "rewards": rewards_sent,
            "mean_reward": reward_sum / rewards_sent if rewards_sent else None, "arms": dict(arms),
            "fallbacks": fallbacks, "errors": errors}
