"""Registry records as the tables the pages show: traffic split, versions, approvals, decisions, audit rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from policies.registry.records import (
    ApprovalRecord,
    AuditRecord,
    TrafficSplit,
    VersionRecord,
)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
OPEN_STATES = ("candidate", "evaluated", "approved", "canary")


def when(value: datetime | None) -> str:
    """A UTC timestamp as text (``''`` for ``None``)."""
    return "" if value is None else value.strftime(TIME_FORMAT)


def traffic_rows(split: TrafficSplit) -> pd.DataFrame:
    """Where the traffic goes: arm, version and percent."""
    labels = {"champion": "champion", "challenger": "canary", "baseline": "baseline action"}
    return pd.DataFrame([{"arm": labels.get(arm, arm), "version": ref or "-", "traffic": f"{pct:g}%"}
                         for arm, ref, pct in split.arms], columns=["arm", "version", "traffic"])


def champion_and_canary(versions: Sequence[VersionRecord]) -> tuple[VersionRecord | None, VersionRecord | None]:
    """The live and the canary version among ``versions`` (each ``None`` when absent)."""
    live = next((v for v in versions if v.state == "live"), None)
    canary = next((v for v in versions if v.state == "canary"), None)
    return live, canary


REVIEW_ORDER = {"evaluated": 0, "candidate": 1, "approved": 2, "canary": 3}


def review_order(versions: Iterable[VersionRecord], waiting: Iterable[str] = ()) -> list[VersionRecord]:
    """Open versions in the order a reviewer works through them: those with an open approval request first
    (``waiting``: their refs), then by state (evaluated, candidate, approved, canary), newest first."""
    waiting = set(waiting)
    shown = [v for v in versions if v.state in OPEN_STATES]
    return sorted(shown, key=lambda v: (v.ref not in waiting, REVIEW_ORDER[v.state], -v.created_at.timestamp(),
                                        -v.id))


def versions_table(versions: Iterable[VersionRecord]) -> pd.DataFrame:
    """Versions as rows: ref, state, registered by/at, last change."""
    return pd.DataFrame([{"version": v.ref, "state": v.state, "registered by": v.created_by,
                          "registered": when(v.created_at), "last change": when(v.updated_at)} for v in versions],
                        columns=["version", "state", "registered by", "registered", "last change"])


def approvals_table(approvals: Iterable[ApprovalRecord]) -> pd.DataFrame:
    """Approval requests of a version: who asked, who decided, with their comments."""
    return pd.DataFrame([{"requested by": a.requested_by, "requested": when(a.requested_at),
                          "request comment": a.request_comment or "", "status": a.status,
                          "decided by": a.decided_by or "", "decided": when(a.decided_at),
                          "decision comment": a.decision_comment or ""} for a in approvals],
                        columns=["requested by", "requested", "request comment", "status", "decided by", "decided",
                                 "decision comment"])


def _short(value: Any, limit: int = 80) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decisions_table(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """:meth:`Registry.recent_decisions` rows as a table (reward blank while pending)."""
    return pd.DataFrame([{"at": when(r["at"]), "event": r["event_id"], "arm": r["arm"],
                          "version": r["version_ref"] or "-", "action": _short(r["action"]),
                          "propensity": "" if r["propensity"] is None else f"{r['propensity']:.3g}",
                          "reward": "" if r["reward"] is None else f"{r['reward']:.4g}",
                          "context": _short(r["context"], 60)} for r in rows],
                        columns=["at", "event", "arm", "version", "action", "propensity", "reward", "context"])


def filter_audit(records: Iterable[AuditRecord], *, actions: Sequence[str] = (), since: datetime | None = None,
                 until: datetime | None = None, text: str = "") -> list[AuditRecord]:
    """The audit rows matching every given filter.

    :param actions: keep these actions (all when empty).
    :param since: keep rows at or after this time; ``until``: before this time.
    :param text: keep rows whose reason, entity, actor or details contain it (case-insensitive).
    """
    needle = text.strip().lower()
    out = []
    for r in records:
        if actions and r.action not in actions:
            continue
        if since is not None and r.at < since:
            continue
        if until is not None and r.at >= until:
            continue
        if needle:
            haystack = " ".join([r.actor, r.action, r.entity_name, r.reason or "",
                                 json.dumps(r.details, default=str) if r.details is not None else ""]).lower()
            if needle not in haystack:
                continue
        out.append(r)
    return out


def audit_table(records: Iterable[AuditRecord]) -> pd.DataFrame:
    """Audit rows, newest first, as a table."""
    rows = [{"#": r.id, "at": when(r.at), "actor": r.actor, "action": r.action,
             "entity": f"{r.entity_type} {r.entity_name}",
             "change": f"{r.from_state or ''} → {r.to_state or ''}" if (r.from_state or r.to_state) else "",
             "reason": r.reason or "", "details": _short(r.details, 120)}
            for r in sorted(records, key=lambda r: r.id, reverse=True)]
    return pd.DataFrame(rows, columns=["#", "at", "actor", "action", "entity", "change", "reason", "details"])
