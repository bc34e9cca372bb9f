"""The canary guardrail's arithmetic: an upper confidence bound on the canary's mean reward vs the champion.

A canary is rolled back when ``ucb(canary) < mean(champion) - bound``, with
``ucb = mean + z * std / sqrt(count)`` and ``z`` the one-sided standard-normal quantile at ``confidence``
(1.645 for 0.95). Both arms need at least ``min_count`` rewards before the guardrail decides anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

OK, ROLL_BACK, INSUFFICIENT_DATA = "ok", "roll_back", "insufficient_data"


@dataclass(frozen=True)
class ArmStats:
    """Observed rewards of one arm.

    :param mean: mean reward.
    :param count: number of rewards (>= 0).
    :param std: sample standard deviation; ``None`` means Bernoulli ``sqrt(mean * (1 - mean))`` (0/1 rewards,
        allowed only when ``0 <= mean <= 1``).
    """

    mean: float
    count: int
    std: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise ValueError(f"mean: expected a finite number, found {self.mean!r}")
        if int(self.count) != self.count or self.count < 0:
            raise ValueError(f"count: expected a whole number >= 0, found {self.count!r}")
        if self.std is not None and (not math.isfinite(self.std) or self.std < 0):
            raise ValueError(f"std: expected a finite number >= 0, found {self.std!r}")
        if self.std is None and not 0.0 <= self.mean <= 1.0:
            raise ValueError(f"std: needed when the mean ({self.mean:g}) is outside [0, 1] "
                             f"(without it the rewards are taken as 0/1 clicks)")

    @classmethod
    def from_sums(cls, count: int, total: float, total_sq: float) -> ArmStats:
        """Stats from ``count``, the sum and the sum of squares of the rewards (sample std, ``count - 1``)."""
        if count == 0:
            return cls(0.0, 0, 0.0)
        mean = total / count
        var = max(total_sq - count * mean * mean, 0.0) / (count - 1) if count > 1 else 0.0
        return cls(mean, int(count), math.sqrt(var))

    @property
    def spread(self) -> float:
        """The standard deviation used (the given one, else the Bernoulli one)."""
        return self.std if self.std is not None else math.sqrt(self.mean * (1.0 - self.mean))

    def upper_bound(self, confidence: float) -> float:
        """One-sided upper confidence bound on the mean at ``confidence`` (normal approximation)."""
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence: expected a number in (0, 1), found {confidence!r}")
        if self.count == 0:
            return math.inf
        return self.mean + NormalDist().inv_cdf(confidence) * self.spread / math.sqrt(self.count)


@dataclass(frozen=True)
class GuardrailVerdict:
    """What the guardrail decided and why.

    :param verdict: ``ok``, ``roll_back`` or ``insufficient_data``.
    :param canary_ucb: the canary's upper confidence bound (``inf`` without data).
    :param threshold: ``champion mean - bound``.
    :param reason: the decision in words (goes into the audit log).
    """

    verdict: str
    canary_ucb: float
    threshold: float
    reason: str


def judge(canary: ArmStats, champion: ArmStats, *, bound: float, confidence: float, min_count: int,
          champion_label: str = "champion") -> GuardrailVerdict:
    """Decide whether a canary must be rolled back.

    :param canary: the canary's observed rewards.
    :param champion: the champion's (or the baseline's) observed rewards over the same period.
    :param bound: how far (in reward units, >= 0) the canary may fall below the champion's mean.
    :param confidence: confidence level of the canary's upper bound, in (0, 1).
    :param min_count: rewards needed on each arm before deciding.
    :param champion_label: the reference arm in words, for the reason.
    """
    if bound < 0 or not math.isfinite(bound):
        raise ValueError(f"bound: expected a finite number >= 0, found {bound!r}")
    threshold = champion.mean - bound
    ucb = canary.upper_bound(confidence)
    if canary.count < min_count or champion.count < min_count:
        return GuardrailVerdict(INSUFFICIENT_DATA, ucb, threshold,
                                f"guardrail: waiting for data (canary n={canary.count}, {champion_label} "
                                f"n={champion.count}, need {min_count} each)")
    words = (f"canary mean {canary.mean:.6g} (n={canary.count}, {confidence:.0%} upper bound {ucb:.6g}) vs "
             f"{champion_label} mean {champion.mean:.6g} (n={champion.count}) minus bound {bound:g} = {threshold:.6g}")
    if ucb < threshold:
        return GuardrailVerdict(ROLL_BACK, ucb, threshold, f"guardrail: canary below bound: {words}")
    return GuardrailVerdict(OK, ucb, threshold, f"guardrail: canary within bound: {words}")
