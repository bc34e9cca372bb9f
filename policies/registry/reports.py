"""Evaluation reports: reading the OPE estimates out of a report and the approval rule that compares them.

A report is a JSON object. Its OPE part is what :mod:`policies.ope` produces: per estimator a ``name``, an
``estimate``, a confidence interval ``ci = [lo, hi]``, a ``lower_bound`` and ``diagnostics``. Accepted shapes::

    {"ope": [{"name": "dr", "estimate": 0.031, "ci": [0.027, 0.035], "lower_bound": 0.027, ...}, ...], ...}
    {"ope": {"dr": {"estimate": ..., "ci": [...], ...}, ...}}       # keyed by estimator name
    {"estimates": ...}                                               # same, other key
    {"dr": {"estimate": ...}, "ips": {...}}                          # the OPE dict itself
    {"title": ..., "evaluations": [{"policy": "candidate", "results": [...]}, ...]}   # OPEReport.to_dict()

In the last shape (``policies.ope.report.OPEReport``) the first evaluation is the candidate's; the others
(logging policy, champion) are kept but not compared. Other keys (``simulator``, ``data``, ...) are kept as they are. ``lower_bound`` defaults to ``ci[0]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from policies.registry.errors import ApprovalRuleFailed, ReportError
from policies.registry.workflow import DEFAULT_ESTIMATOR

OPE_KEYS = ("ope", "estimates")


@dataclass(frozen=True)
class Estimate:
    """One estimator's result: point estimate, interval ``[ci_lo, ci_hi]`` and the lower bound used for approval."""

    name: str
    estimate: float
    ci_lo: float | None
    ci_hi: float | None
    lower_bound: float
    diagnostics: dict = field(default_factory=dict)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise ReportError(f"{where}: expected a finite number, found {value!r}")
    return float(value)


def _entry(raw: Any, name: str | None, where: str) -> Estimate:
    if not isinstance(raw, dict):
        raise ReportError(f"{where}: expected an object with 'estimate', 'ci', 'lower_bound', found {raw!r}")
    name = raw.get("name", name)
    if not isinstance(name, str) or not name:
        raise ReportError(f"{where}: expected a 'name' (the estimator, e.g. 'dr')")
    where = f"{where} ({name})"
    if "estimate" not in raw:
        raise ReportError(f"{where}: missing 'estimate'")
    estimate = _number(raw["estimate"], f"{where}.estimate")
    ci_lo = ci_hi = None
    if raw.get("ci") is not None:
        ci = raw["ci"]
        if not isinstance(ci, list | tuple) or len(ci) != 2:
            raise ReportError(f"{where}.ci: expected [lo, hi], found {ci!r}")
        ci_lo, ci_hi = _number(ci[0], f"{where}.ci[0]"), _number(ci[1], f"{where}.ci[1]")
        if ci_lo > ci_hi:
            raise ReportError(f"{where}.ci: expected lo <= hi, found [{ci_lo:g}, {ci_hi:g}]")
    if raw.get("lower_bound") is not None:
        lower_bound = _number(raw["lower_bound"], f"{where}.lower_bound")
    elif ci_lo is not None:
        lower_bound = ci_lo
    else:
        raise ReportError(f"{where}: expected 'lower_bound' or 'ci' [lo, hi]")
    diagnostics = raw.get("diagnostics") or {}
    if not isinstance(diagnostics, dict):
        raise ReportError(f"{where}.diagnostics: expected an object, found {diagnostics!r}")
    return Estimate(name, estimate, ci_lo, ci_hi, lower_bound, diagnostics)


def _ope_part(report: dict) -> Any:
    for key in OPE_KEYS:
        if key in report:
            return report[key]
    evaluations = report.get("evaluations")
    if isinstance(evaluations, list) and evaluations:
        first = evaluations[0]
        if not isinstance(first, dict) or not isinstance(first.get("results"), list):
            raise ReportError("report.evaluations[0]: expected {'policy': ..., 'results': [estimator results]}")
        return first["results"]
    if report and all(isinstance(v, dict) and "estimate" in v for v in report.values()):
        return report
    return None


def parse_estimates(report: Any) -> dict[str, Estimate]:
    """The OPE estimates in ``report``, by estimator name, in report order (empty when it has none).

    :param report: the report (a JSON object).
    """
    if not isinstance(report, dict):
        raise ReportError(f"report: expected a JSON object, found {type(report).__name__}")
    part = _ope_part(report)
    if part is None:
        return {}
    if isinstance(part, list):
        entries = [_entry(raw, None, f"report.ope[{i}]") for i, raw in enumerate(part)]
    elif isinstance(part, dict):
        entries = [_entry(raw, key, f"report.ope[{key!r}]") for key, raw in part.items()]
    else:
        raise ReportError(f"report.ope: expected a list or an object of estimator results, found {part!r}")
    out: dict[str, Estimate] = {}
    for e in entries:
        if e.name in out:
            raise ReportError(f"report.ope: estimator {e.name!r} appears twice")
        out[e.name] = e
    return out


def validate_report(report: Any) -> dict[str, Estimate]:
    """Check that ``report`` carries evidence (OPE estimates or a ``simulator`` part); returns its estimates."""
    estimates = parse_estimates(report)
    if not estimates and not report.get("simulator"):
        raise ReportError("report: expected OPE estimates (key 'ope' or 'estimates') or simulator results "
                          "(key 'simulator'); found neither")
    return estimates


def choose_estimator(configured: str | None, candidate: dict[str, Estimate]) -> str:
    """The estimator the approval rule compares: the configured one, else ``dr`` when present, else the first."""
    if not candidate:
        raise ApprovalRuleFailed("approval rule: the candidate's evaluation report has no OPE estimates")
    if configured:
        if configured not in candidate:
            raise ApprovalRuleFailed(f"approval rule: the decision point compares estimator {configured!r}, but "
                                     f"the candidate's report has only {list(candidate)}")
        return configured
    return DEFAULT_ESTIMATOR if DEFAULT_ESTIMATOR in candidate else next(iter(candidate))


def apply_rule(rule: str, estimator: str, candidate: Estimate, reference: Estimate | None,
               reference_label: str) -> str:
    """Check the approval rule; returns the reason in words (for the audit log), raises when it fails.

    :param rule: ``lower_bound_beats_estimate`` (candidate's lower bound > reference estimate),
        ``mean_and_lower_bound`` (higher estimate and higher lower bound) or ``evaluation_only``.
    :param estimator: the estimator compared.
    :param candidate: the candidate's estimate.
    :param reference: the champion's (or baseline's) estimate; ``None`` when there is nothing to compare with.
    :param reference_label: who the reference is, in words (``champion pricing-ppo:2``).
    """
    if rule == "evaluation_only" or reference is None:
        return (f"rule '{rule}': evaluation present ({estimator} estimate {candidate.estimate:.6g}, lower bound "
                f"{candidate.lower_bound:.6g}); nothing to compare with ({reference_label})")
    if rule == "lower_bound_beats_estimate":
        if not candidate.lower_bound > reference.estimate:
            raise ApprovalRuleFailed(
                f"approval rule '{rule}' failed: the candidate's {estimator} lower bound "
                f"{candidate.lower_bound:.6g} does not beat the {reference_label} estimate {reference.estimate:.6g}")
        return (f"rule '{rule}': {estimator} lower bound {candidate.lower_bound:.6g} > {reference_label} "
                f"estimate {reference.estimate:.6g}")
    if rule == "mean_and_lower_bound":
        if not (candidate.estimate > reference.estimate and candidate.lower_bound > reference.lower_bound):
            raise ApprovalRuleFailed(
                f"approval rule '{rule}' failed: needs a higher {estimator} estimate and a higher lower bound "
                f"than the {reference_label}; candidate {candidate.estimate:.6g} (lower bound "
                f"{candidate.lower_bound:.6g}) vs {reference.estimate:.6g} (lower bound {reference.lower_bound:.6g})")
        return (f"rule '{rule}': {estimator} estimate {candidate.estimate:.6g} > {reference.estimate:.6g} and lower "
                f"bound {candidate.lower_bound:.6g} > {reference.lower_bound:.6g} ({reference_label})")
    raise ValueError(f"approval_rule: unknown rule {rule!r}")
