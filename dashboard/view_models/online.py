"""Online results from the decision and reward logs: reward over time with intervals, join rate, fallbacks.

Input rows are :meth:`policies.registry.Registry.decision_buckets` dicts (per time bucket, arm and version:
``decisions``, ``rewarded``, ``expired``, ``pending``, ``settled``, ``reward_sum``, ``reward_sq_sum``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import pandas as pd

from dashboard.view_models.evidence import report_evaluations
from policies.registry.errors import ApprovalRuleFailed, ReportError
from policies.registry.reports import choose_estimator

ARM_LABELS = {"champion": "champion", "challenger": "canary", "baseline": "baseline (fallback)"}
SERIES_COLUMNS = ["start", "arm", "decisions", "settled", "mean", "lo", "hi"]


def _interval(n: int, total: float, total_sq: float, z: float) -> tuple[float | None, float | None, float | None]:
    """Mean and normal-approximation interval ``mean +- z * s / sqrt(n)`` (``s`` with ddof 1) of ``n`` rewards."""
    if n <= 0:
        return None, None, None
    mean = total / n
    if n < 2:
        return mean, None, None
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    half = z * math.sqrt(var / n)
    return mean, mean - half, mean + half


def reward_series(buckets: Sequence[Mapping[str, Any]], confidence: float = 0.95) -> pd.DataFrame:
    """Mean settled reward per time bucket and arm (versions of one arm pooled) with a ``confidence`` interval.

    :return: a frame with :data:`SERIES_COLUMNS` (``arm`` as labelled by :data:`ARM_LABELS`; ``lo``/``hi`` are
        NaN below two settled decisions), sorted by arm and time.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a number in (0, 1), found {confidence!r}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    pooled: dict[tuple[Any, str], list[float]] = {}
    for b in buckets:
        acc = pooled.setdefault((b["start"], b["arm"]), [0, 0, 0.0, 0.0])
        acc[0] += b["decisions"]
        acc[1] += b["settled"]
        acc[2] += b["reward_sum"]
        acc[3] += b["reward_sq_sum"]
    rows = []
    for (start, arm), (decisions, settled, total, total_sq) in pooled.items():
        mean, lo, hi = _interval(int(settled), total, total_sq, z)
        rows.append({"start": start, "arm": ARM_LABELS.get(arm, arm), "decisions": int(decisions),
                     "settled": int(settled), "mean": mean, "lo": lo, "hi": hi})
    frame = pd.DataFrame(rows, columns=SERIES_COLUMNS)
    return frame.sort_values(["arm", "start"], ignore_index=True)


def decision_totals(buckets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over all buckets: ``decisions``, ``rewarded``, ``expired``, ``pending``, ``fallbacks`` (decisions
    served the baseline action), ``fallback_share`` and ``join_rate`` (share of decisions whose reward arrived;
    ``None`` with no decisions)."""
    keys = ("decisions", "rewarded", "expired", "pending")
    totals = {k: int(sum(b[k] for b in buckets)) for k in keys}
    totals["fallbacks"] = int(sum(b["decisions"] for b in buckets if b["arm"] == "baseline"))
    n = totals["decisions"]
    totals["join_rate"] = totals["rewarded"] / n if n else None
    totals["fallback_share"] = totals["fallbacks"] / n if n else None
    return totals


def per_arm_table(buckets: Sequence[Mapping[str, Any]], confidence: float = 0.95) -> pd.DataFrame:
    """Per arm and version: decisions, share of the decisions, share with a joined reward, mean settled reward and
    its interval."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    pooled: dict[tuple[str, str | None], dict[str, float]] = {}
    for b in buckets:
        acc = pooled.setdefault((b["arm"], b["version_ref"]), dict.fromkeys(
            ("decisions", "rewarded", "pending", "settled", "reward_sum", "reward_sq_sum"), 0))
        for k in acc:
            acc[k] += b[k]
    total = sum(a["decisions"] for a in pooled.values())
    rows = []
    for (arm, ref), a in sorted(pooled.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        mean, lo, hi = _interval(int(a["settled"]), a["reward_sum"], a["reward_sq_sum"], z)
        rows.append({"arm": ARM_LABELS.get(arm, arm), "version": ref or "-", "decisions": int(a["decisions"]),
                     "share": f"{a['decisions'] / total:.1%}" if total else "-",
                     "joined": f"{a['rewarded'] / a['decisions']:.0%}" if a["decisions"] else "-",
                     "mean reward": "-" if mean is None else f"{mean:.3g}",
                     f"{confidence:.0%} interval": "-" if lo is None else f"[{lo:.3g}, {hi:.3g}]"})
    return pd.DataFrame(rows, columns=["arm", "version", "decisions", "share", "joined", "mean reward",
                                       f"{confidence:.0%} interval"])


def reference_values(reports: Sequence[Any], baseline_report: Any = None,
                     estimator: str | None = None) -> dict[str, float]:
    """Offline reference levels to draw beside the online reward, by label.

    ``baseline action (offline)``: the decision point's baseline report; ``logging policy (logged mean)``: the
    logging policy's on-policy value from an OPE report; ``random (simulator)``: a ``simulator`` entry whose key
    mentions ``random`` (a number, or an object with ``mean_reward``).
    :param reports: evaluation reports (JSON objects), newest first.
    :param estimator: the estimator to read (default as the approval rule chooses).
    """
    out: dict[str, float] = {}
    if baseline_report is not None:
        try:
            for _, role, estimates in report_evaluations(baseline_report):
                if role == "candidate" and estimates:
                    out["baseline action (offline)"] = estimates[choose_estimator(
                        estimator if estimator in estimates else None, estimates)].estimate
                    break
        except (ReportError, ApprovalRuleFailed):
            pass
    for report in reports:
        try:
            evaluations = report_evaluations(report)
        except ReportError:
            continue
        for _, role, estimates in evaluations:
            if role == "logging" and estimates and "logging policy (logged mean)" not in out:
                out["logging policy (logged mean)"] = next(iter(estimates.values())).estimate
        simulator = report.get("simulator") if isinstance(report, Mapping) else None
        if isinstance(simulator, Mapping):
            for key, value in simulator.items():
                if "random" not in str(key).lower() or "random (simulator)" in out:
                    continue
                if isinstance(value, Mapping):
                    value = value.get("mean_reward")
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    out["random (simulator)"] = float(value)
    return out


def volume_series(buckets: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Decisions and joined rewards per time bucket and arm, with the bucket's join rate.

    :return: a frame with ``start``, ``arm`` (labelled), ``decisions``, ``rewarded``, ``join_rate``.
    """
    pooled: dict[tuple[Any, str], list[int]] = {}
    for b in buckets:
        acc = pooled.setdefault((b["start"], ARM_LABELS.get(b["arm"], b["arm"])), [0, 0])
        acc[0] += b["decisions"]
        acc[1] += b["rewarded"]
    rows = [{"start": s, "arm": a, "decisions": d, "rewarded": r, "join_rate": r / d if d else None}
            for (s, a), (d, r) in pooled.items()]
    frame = pd.DataFrame(rows, columns=["start", "arm", "decisions", "rewarded", "join_rate"])
    return frame.sort_values(["start", "arm"], ignore_index=True)
