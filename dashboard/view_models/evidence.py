"""The evidence a reviewer reads: OPE estimates with intervals, overlap diagnostics in words, simulator results,
training curves.

Reports are the registry's JSON objects (``docs/registry.md``): estimates under ``ope``/``estimates`` (a list or
keyed by estimator), or ``policies.ope``'s ``OPEReport.to_dict()`` (``evaluations``: the candidate first, then
the logging policy, ``on_policy: true``, and the champion when it was evaluated on the same log).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from policies.registry.errors import ApprovalRuleFailed, ReportError
from policies.registry.reports import Estimate, apply_rule, choose_estimator, parse_estimates

# The same thresholds as policies.ope.diagnostics (for reports that carry numbers but no worded warnings).
ESS_SHARE_LOW = 0.10
ESS_SHARE_VERY_LOW = 0.01
MAX_WEIGHT_SHARE_HIGH = 0.05
FOREST_COLUMNS = ["policy", "role", "estimator", "estimate", "ci_lo", "ci_hi", "lower_bound", "ess", "ess_share",
                  "max_weight", "max_weight_share", "n_rounds"]


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _row(policy: str, role: str, e: Estimate) -> dict[str, Any]:
    d = e.diagnostics
    return {"policy": policy, "role": role, "estimator": e.name, "estimate": e.estimate, "ci_lo": e.ci_lo,
            "ci_hi": e.ci_hi, "lower_bound": e.lower_bound, "ess": _finite(d.get("ess")),
            "ess_share": _finite(d.get("ess_share")), "max_weight": _finite(d.get("max_weight")),
            "max_weight_share": _finite(d.get("max_weight_share")), "n_rounds": _finite(d.get("n_rounds")),
            "warnings": list(d.get("warnings") or [])}


def report_evaluations(report: Any) -> list[tuple[str, str, dict[str, Estimate]]]:
    """The evaluations in one report as ``(policy name, role, estimates by estimator)``.

    Role is ``candidate`` (the report's subject), ``logging`` (the logging policy's on-policy value) or
    ``other`` (e.g. the champion evaluated on the same log). A report without OPE estimates gives ``[]``.
    :raises ReportError: when the OPE part is malformed.
    """
    if not isinstance(report, Mapping):
        raise ReportError(f"report: expected a JSON object, found {type(report).__name__}")
    evaluations = report.get("evaluations")
    if not any(k in report for k in ("ope", "estimates")) and isinstance(evaluations, list) and evaluations:
        out = []
        for i, ev in enumerate(evaluations):
            if not isinstance(ev, Mapping) or not isinstance(ev.get("results"), list):
                raise ReportError(f"report.evaluations[{i}]: expected {{'policy': ..., 'results': [...]}}")
            role = "candidate" if i == 0 else ("logging" if ev.get("on_policy") else "other")
            out.append((str(ev.get("policy") or f"policy {i}"), role, parse_estimates({"ope": ev["results"]})))
        return out
    estimates = parse_estimates(dict(report))
    return [("candidate", "candidate", estimates)] if estimates else []


def forest_table(candidate_ref: str, candidate_report: Any, *, champion_ref: str | None = None,
                 champion_report: Any = None, baseline_report: Any = None) -> pd.DataFrame:
    """One row per (policy, estimator): estimate, interval, lower bound and overlap diagnostics, for the forest plot.

    Rows come from the candidate's report (the candidate, the logging policy and any policy evaluated on the
    same log), then from the champion's own newest report (its candidate evaluation) unless the candidate's
    report already evaluated a champion, then from the decision point's baseline report when given.

    :return: a frame with :data:`FOREST_COLUMNS` plus ``warnings`` (list of sentences per row).
    """
    rows: list[dict[str, Any]] = []
    saw_champion = False
    for name, role, estimates in report_evaluations(candidate_report):
        if role == "candidate":
            label = candidate_ref
        elif role == "logging":
            label = f"logging policy ({name})" if name not in ("logging", "logging policy") else "logging policy"
        else:
            saw_champion = saw_champion or "champion" in name
            label = f"{name} {champion_ref}" if name == "champion" and champion_ref else name
            role = "champion" if "champion" in name else role
        rows += [_row(label, role, e) for e in estimates.values()]
    if champion_report is not None and not saw_champion:
        for _, role, estimates in report_evaluations(champion_report):
            if role == "candidate":
                rows += [_row(f"champion {champion_ref or ''}".strip(), "champion", e) for e in estimates.values()]
    if baseline_report is not None:
        for _, role, estimates in report_evaluations(baseline_report):
            if role == "candidate":
                rows += [_row("baseline action", "baseline", e) for e in estimates.values()]
    return pd.DataFrame(rows, columns=[*FOREST_COLUMNS, "warnings"])


def overlap_warnings(table: pd.DataFrame) -> list[str]:
    """Plain-language warnings for the overlap diagnostics in a :func:`forest_table`, each naming its policy.

    Worded warnings from the OPE module are used as they are; rows that carry only numbers get the same tests
    (effective sample size below 10% / 1% of the rows, one row carrying over 5% of the total weight).
    """
    seen: dict[str, None] = {}
    for row in table.to_dict("records"):
        who = f"{row['policy']} ({row['estimator']})"
        if row["warnings"]:
            for w in row["warnings"]:
                seen.setdefault(f"{row['policy']}: {w}", None)
            continue
        share, ess, n = _finite(row["ess_share"]), _finite(row["ess"]), _finite(row["n_rounds"])
        if share is None and ess is not None and n:
            share = ess / n
        if share is not None and share < ESS_SHARE_VERY_LOW:
            seen.setdefault(f"{who}: very little overlap with the logged data: the log is worth only about "
                            f"{ess or 0:,.0f} rows ({share:.2%}) for this policy. Treat this estimate as unreliable.",
                            None)
        elif share is not None and share < ESS_SHARE_LOW:
            seen.setdefault(f"{who}: limited overlap: the log is worth only about {ess or 0:,.0f} rows ({share:.1%}) "
                            f"for this policy, so its interval is wide.", None)
        mws = _finite(row["max_weight_share"])
        if mws is not None and mws > MAX_WEIGHT_SHARE_HIGH:
            seen.setdefault(f"{who}: a single logged row carries {mws:.1%} of the total importance weight "
                            f"(weight {row['max_weight']:.3g}); the estimate hinges on it.", None)
    return list(seen)


def estimates_display(table: pd.DataFrame) -> pd.DataFrame:
    """The forest table as people read it: interval as text, ESS and max weight rounded."""
    if table.empty:
        return pd.DataFrame(columns=["policy", "estimator", "estimate", "interval", "lower bound", "ESS",
                                     "max weight"])

    def interval(r: Mapping[str, Any]) -> str:
        return "" if r["ci_lo"] is None or pd.isna(r["ci_lo"]) else f"[{r['ci_lo']:.4g}, {r['ci_hi']:.4g}]"

    return pd.DataFrame({
        "policy": table["policy"], "estimator": table["estimator"],
        "estimate": table["estimate"].map(lambda v: f"{v:.4g}"),
        "interval": [interval(r) for r in table.to_dict("records")],
        "lower bound": table["lower_bound"].map(lambda v: f"{v:.4g}"),
        "ESS": table["ess"].map(lambda v: "" if v is None or pd.isna(v) else f"{v:,.0f}"),
        "max weight": table["max_weight"].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.3g}"),
    })


def approval_preview(rule: str, configured_estimator: str | None, candidate_report: Any,
                     reference_report: Any, reference_label: str) -> tuple[bool | None, str]:
    """What the decision point's approval rule says about the candidate's report, before anyone presses Approve.

    The registry decides again when Approve is pressed; this is only for reading.
    :return: ``(passes, sentence)``; ``passes`` is ``None`` when it cannot be judged (no estimates).
    """
    try:
        candidate = parse_estimates(candidate_report)
        estimator = choose_estimator(configured_estimator, candidate)
        reference = None
        if reference_report is not None:
            reference = parse_estimates(reference_report).get(estimator)
            if reference is None:
                return False, (f"the {reference_label}'s report has no '{estimator}' estimate to compare with; "
                               f"the registry will refuse the approval")
        sentence = apply_rule(rule, estimator, candidate[estimator], reference, reference_label)
        return True, "passes: " + sentence.split(": ", 1)[-1]
    except ApprovalRuleFailed as exc:
        return (None, str(exc)) if "no OPE estimates" in str(exc) else (False, str(exc))
    except ReportError as exc:
        return None, f"the report cannot be read: {exc}"


def simulator_table(report: Any) -> pd.DataFrame:
    """The report's ``simulator`` part as a two-column table (nested keys joined with '.'); empty when absent."""
    part = report.get("simulator") if isinstance(report, Mapping) else None
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list) and len(value) > 8:
            rows.append((prefix, f"{len(value)} values"))
        else:
            rows.append((prefix, f"{value:.4g}" if isinstance(value, float) else str(value)))

    if isinstance(part, Mapping):
        walk("", part)
    return pd.DataFrame(rows, columns=["result", "value"])


X_KEYS = ("step", "steps", "timesteps", "timestep", "episode", "episodes", "iteration", "epoch", "x")


def _numbers(value: Any) -> list[float] | None:
    if isinstance(value, list) and len(value) >= 2 and all(_finite(v) is not None for v in value):
        return [float(v) for v in value]
    return None


def training_curves(train_metrics: Any) -> dict[str, pd.DataFrame]:
    """Curves found in a version's ``train_metrics`` (or a report's), by name, each a frame with ``x`` and ``y``.

    Recognised: a list of numbers (``{"episode_reward": [...]}``), a dict of equally long lists with an x key
    (``{"curve": {"step": [...], "reward": [...]}}``), and a list of records (``[{"step": 1, "reward": .5}, ...]``).
    """
    out: dict[str, pd.DataFrame] = {}

    def add(name: str, x: Sequence[float] | None, y: Sequence[float]) -> None:
        out[name] = pd.DataFrame({"x": list(x) if x is not None else list(range(len(y))), "y": list(y)})

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            xs = next(((k, _numbers(value[k])) for k in X_KEYS if _numbers(value.get(k)) is not None), None)
            for k, v in value.items():
                ys = _numbers(v)
                name = f"{prefix}.{k}" if prefix else str(k)
                if xs is not None and k == xs[0]:
                    continue
                if ys is not None:
                    add(name, xs[1] if xs is not None and len(xs[1]) == len(ys) else None, ys)
                elif isinstance(v, Mapping) or (isinstance(v, list) and v and all(isinstance(r, Mapping) for r in v)):
                    walk(name, v)
        elif isinstance(value, list) and len(value) >= 2 and all(isinstance(r, Mapping) for r in value):
            keys = [k for k in value[0] if all(_finite(r.get(k)) is not None for r in value)]
            x_key = next((k for k in X_KEYS if k in keys), None)
            for k in keys:
                if k != x_key:
                    add(f"{prefix}.{k}" if prefix else k, [r[x_key] for r in value] if x_key else None,
                        [float(r[k]) for r in value])

    walk("", train_metrics)
    return out


def scalar_metrics(train_metrics: Any) -> pd.DataFrame:
    """The single-number entries of ``train_metrics`` as a two-column table."""
    rows = []
    if isinstance(train_metrics, Mapping):
        for k, v in train_metrics.items():
            if _finite(v) is not None:
                rows.append((str(k), f"{float(v):.4g}"))
            elif isinstance(v, str):
                rows.append((str(k), v))
    return pd.DataFrame(rows, columns=["metric", "value"])
