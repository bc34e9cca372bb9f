"""Off-policy evaluation: estimate what a policy would have earned on logged data, with honest uncertainty.

One small module per family: :mod:`~policies.ope.validation` (inputs), :mod:`~policies.ope.base` (interface),
:mod:`~policies.ope.bandit` (DM, IPS, SNIPS, DR, SNDR, Switch-DR, DR-OS), :mod:`~policies.ope.slate`,
:mod:`~policies.ope.sequential`, :mod:`~policies.ope.slope`, :mod:`~policies.ope.intervals`,
:mod:`~policies.ope.diagnostics`, :mod:`~policies.ope.reward_model`, :mod:`~policies.ope.propensity`,
:mod:`~policies.ope.estimators` (by name), :mod:`~policies.ope.run` (one call) and :mod:`~policies.ope.report`.
"""

from policies.ope.bandit import (
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    DROptimisticShrinkage,
    SelfNormalizedDR,
    SwitchDR,
)
from policies.ope.base import EstimateResult, Estimator, RoundTerms
from policies.ope.estimators import DEFAULT_ESTIMATORS, make_estimator, parse_estimators
from policies.ope.run import PolicyEvaluation, evaluate, evaluate_log, evaluate_on_policy
from policies.ope.validation import BanditInputs, EpisodeInputs, bandit_inputs, episode_inputs

__all__ = [
    "DEFAULT_ESTIMATORS", "IPS", "SNIPS", "BanditInputs", "DROptimisticShrinkage", "DirectMethod", "DoublyRobust",
    "EpisodeInputs", "EstimateResult", "Estimator", "PolicyEvaluation", "RoundTerms", "SelfNormalizedDR", "SwitchDR",
    "bandit_inputs", "episode_inputs", "evaluate", "evaluate_log", "evaluate_on_policy", "make_estimator",
    "parse_estimators",
]
