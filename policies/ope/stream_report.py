"""The approver's OPE report from a log too large for memory: the streaming counterpart of
:func:`policies.ope.report.build_report`.

:func:`build_stream_report` streams the log once per policy (:func:`policies.ope.stream.evaluate_stream`): the
candidate, the logging policy's own value (the mean logged reward, :class:`LoggedMean`) and, when given, the
current champion. Each gets the same estimators, streaming bootstrap and seed, so the report has exactly the
structure of the in-memory one (``report.json`` is what ``retailrl registry attach-report`` and the approval gate
read). The log facts come from the file metadata and the on-policy pass, not from a loaded table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from policies.ope.base import Estimator, RoundTerms
from policies.ope.diagnostics import overlap_warnings
from policies.ope.report import OPEReport
from policies.ope.run import PolicyEvaluation
from policies.ope.stream import as_policy, evaluate_stream


@dataclass
class LoggedMean(Estimator):
    """The logging policy's own value, ``V = mean_i r_i`` (every weight 1): what
    :func:`policies.ope.run.evaluate_on_policy` computes in memory, as an estimator the streaming engine runs."""

    name: str = "on-policy"

    def round_terms(self, inputs: Any) -> RoundTerms:
        r = np.asarray(inputs.rewards, dtype=np.float64)
        return RoundTerms(direct=np.zeros_like(r), weighted=r)

    def label(self) -> str:
        return "on-policy mean reward"


def unit_weight_diagnostics(n_rounds: int) -> dict[str, Any]:
    """:func:`~policies.ope.diagnostics.weight_diagnostics` of ``n_rounds`` weights that are all 1 (on-policy)."""
    diag = {"n_rounds": n_rounds, "ess": float(n_rounds), "ess_share": 1.0, "max_weight": 1.0,
            "max_weight_share": 1.0 / n_rounds, "mean_weight": 1.0, "never_taken_share": 0.0}
    diag["warnings"] = overlap_warnings(diag, 0.0)
    return diag


def evaluate_on_policy_stream(logs: str, n_actions: int, n_positions: int, *, name: str = "logging (logged)",
                              **options: Any) -> PolicyEvaluation:
    """The mean logged reward of ``logs`` with the streaming bootstrap interval and lower bound.

    :param n_actions: the log's action count (the files are checked against it, as for any policy).
    :param n_positions: the log's slot count.
    :param options: passed to :func:`~policies.ope.stream.evaluate_stream` (``estimators`` is set here).
    """
    uniform = np.full((n_actions, n_positions), 1.0 / n_actions)
    ev = evaluate_stream(logs, uniform, name=name, **{**options, "estimators": [LoggedMean()]})
    result = ev.results[0]
    result.diagnostics = {**unit_weight_diagnostics(ev.n_rounds), "propensity_source": "logged"}
    ev.on_policy = True
    return ev


def build_stream_report(logs: str, candidate: Any, *, champion: Any = None, title: str | None = None,
                        candidate_name: str = "candidate", champion_name: str = "champion",
                        **options: Any) -> OPEReport:
    """Stream ``logs`` for the candidate, the logging policy and (optionally) the champion; see the module.

    :param logs: a CSV/Parquet file, a directory of Parquet files or a glob.
    :param candidate: a :class:`~policies.policy.Policy` or an ``(n_actions, n_positions)`` distribution.
    :param champion: the policy currently serving, or ``None``.
    :param options: passed to :func:`~policies.ope.stream.evaluate_stream` (estimators, n_resamples, seed, engine,
        workers, progress, ...).
    """
    policy = as_policy(candidate)
    evaluations = [evaluate_stream(logs, policy, name=candidate_name, **options)]
    logged = evaluate_on_policy_stream(logs, policy.n_actions, policy.n_positions,
                                       **{k: v for k, v in options.items() if k != "estimators"})
    evaluations.append(logged)
    if champion is not None:
        evaluations.append(evaluate_stream(logs, champion, name=champion_name, **options))
    facts = {"rows": logged.n_rounds, "n_actions": policy.n_actions, "n_positions": policy.n_positions,
             "ctr": logged.results[0].estimate, "propensity_known": True, "logging_policy": "logged",
             "source": str(logs), "files": evaluations[0].run.get("files")}
    return OPEReport(title=title or f"Off-policy evaluation of {candidate_name}", log=facts, evaluations=evaluations)
