"""Reads inside a transaction, shared by the concerns: rows by name or reference, and rows as records.

Every function takes the caller's session ``s`` and never commits. ``lock=True`` reads with ``SELECT ... FOR
UPDATE`` (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers). Transitions that look at or change
a decision point's champion or canary lock the decision point first, then the version
(:func:`lock_dp_and_version`): one order, so no deadlocks between them.

Versions are referred to as ``policy:number`` (or ``policy@number``) or by numeric id (:data:`VersionRef`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.registry import workflow as wf
from policies.registry.errors import NotFound
from policies.registry.models import (
    ApprovalRequest,
    AuditEntry,
    DecisionPoint,
    EvaluationReport,
    Policy,
    PolicyVersion,
    Rollout,
    User,
    utcnow,
)
from policies.registry.records import (
    ApprovalRecord,
    AuditRecord,
    DecisionPointRecord,
    ReportRecord,
    RolloutRecord,
    TrafficSplit,
    UserRecord,
    VersionRecord,
    aware,
)

VersionRef = int | str


def _locked(query, lock: bool):
    return query.with_for_update().execution_options(populate_existing=True) if lock else query


def user_by_name(s: Session, username: str) -> User:
    user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def username(s: Session, user_id: int | None) -> str | None:
    return None if user_id is None else s.get(User, user_id).username


def dp(s: Session, name: str, lock: bool = False) -> DecisionPoint:
    """The decision point ``name``; :class:`NotFound` lists the known ones."""
    found = s.execute(_locked(select(DecisionPoint).where(DecisionPoint.name == name), lock)).scalar_one_or_none()
    if found is None:
        known = s.execute(select(DecisionPoint.name).order_by(DecisionPoint.name)).scalars().all()
        raise NotFound(f"no decision point named {name!r}; known: {known}")
    return found


def version(s: Session, ref: VersionRef, lock: bool = False) -> PolicyVersion:
    """The version ``ref`` (``policy:number``, ``policy@number`` or a numeric id)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        version_id = int(ref)
    elif isinstance(ref, str) and (ref.count(":") == 1 or ref.count("@") == 1):
        policy_name, _, number = ref.partition(":" if ":" in ref else "@")
        if not number.isdigit():
            raise ValueError(f"version: expected 'policy:number' or an id, found {ref!r}")
        version_id = s.execute(
            select(PolicyVersion.id).join(Policy, Policy.id == PolicyVersion.policy_id)
            .where(Policy.name == policy_name, PolicyVersion.version == int(number))).scalar_one_or_none()
        if version_id is None:
            raise NotFound(f"no policy version {ref!r}")
    else:
        raise ValueError(f"version: expected 'policy:number' or 'policy@number' (e.g. 'pricing-ppo:3') or a numeric id, "
                         f"found {ref!r}")
    found = s.execute(_locked(select(PolicyVersion).where(PolicyVersion.id == version_id), lock)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no policy version with id {version_id}")
    return found


def lock_dp_and_version(s: Session, ref: VersionRef) -> tuple[DecisionPoint, PolicyVersion]:
    """Lock the version's decision point, then the version (the one lock order of every transition)."""
    found = version(s, ref)
    point = s.execute(_locked(select(DecisionPoint).where(DecisionPoint.id == found.decision_point_id), True)).scalar_one()
    return point, version(s, found.id, lock=True)


def ref(s: Session, v: PolicyVersion | None) -> str | None:
    """``policy:number`` of a version row (``None`` for none)."""
    return None if v is None else f"{s.get(Policy, v.policy_id).name}:{v.version}"


def ref_id(s: Session, version_id: int | None) -> str | None:
    return None if version_id is None else ref(s, s.get(PolicyVersion, version_id))


def live(s: Session, dp_id: int, lock: bool = False) -> PolicyVersion | None:
    """The decision point's champion (its ``live`` version), if any."""
    query = select(PolicyVersion).where(PolicyVersion.decision_point_id == dp_id, PolicyVersion.state == wf.LIVE)
    return s.execute(_locked(query, lock)).scalar_one_or_none()


def canary_rollout(s: Session, dp_id: int, lock: bool = False) -> Rollout | None:
    """The decision point's running canary rollout, if any (at most one)."""
    query = select(Rollout).where(Rollout.decision_point_id == dp_id, Rollout.state == "canary")
    return s.execute(_locked(query, lock)).scalar_one_or_none()


def traffic_split(s: Session, point: DecisionPoint) -> TrafficSplit:
    """Where the decision point's traffic goes now: the baseline when killed, else the champion (or the baseline)
    with ``100 - p`` percent and a running canary with ``p``."""
    if point.killed:
        return TrafficSplit(point.name, True, (("baseline", None, 100.0),))
    champion = live(s, point.id)
    rest = ("champion", ref(s, champion)) if champion else ("baseline", None)
    rollout = canary_rollout(s, point.id)
    if rollout is None:
        return TrafficSplit(point.name, False, ((*rest, 100.0),))
    challenger = ("challenger", ref_id(s, rollout.challenger_version_id), rollout.traffic_percent)
    return TrafficSplit(point.name, False, ((*rest, 100.0 - rollout.traffic_percent), challenger))


def end_rollout(s: Session, dp_id: int, state: str, reason: str) -> Rollout | None:
    """End the decision point's running canary rollout (if any) as ``state``; returns it."""
    rollout = canary_rollout(s, dp_id, lock=True)
    if rollout is not None:
        rollout.state, rollout.ended_at, rollout.end_reason = state, utcnow(), reason
        s.flush()
    return rollout


def open_request(s: Session, version_id: int) -> ApprovalRequest | None:
    """The version's open approval request, if any (at most one)."""
    return s.execute(select(ApprovalRequest).where(ApprovalRequest.version_id == version_id,
                                                   ApprovalRequest.status == "open")).scalar_one_or_none()


# ---------------------------------------------------------------------- rows as records


def user_record(u: User) -> UserRecord:
    return UserRecord(u.id, u.username, u.role, bool(u.active), aware(u.created_at))


def dp_record(d: DecisionPoint) -> DecisionPointRecord:
    return DecisionPointRecord(d.id, d.name, d.kind, d.action_space, d.baseline_action, d.reward_window_s,
                               d.default_reward, d.approval_estimator, d.approval_rule, d.guardrail_bound,
                               d.guardrail_confidence, d.guardrail_min_count, bool(d.killed), aware(d.created_at))


def version_record(s: Session, v: PolicyVersion) -> VersionRecord:
    policy = s.get(Policy, v.policy_id)
    return VersionRecord(v.id, f"{policy.name}:{v.version}", policy.name, v.version,
                         s.get(DecisionPoint, v.decision_point_id).name, v.state, v.artefact_uri,
                         v.artefact_sha256, v.train_config, v.train_metrics, username(s, v.created_by),
                         aware(v.created_at), aware(v.updated_at))


def report_record(s: Session, r: EvaluationReport) -> ReportRecord:
    return ReportRecord(r.id, s.get(DecisionPoint, r.decision_point_id).name, ref_id(s, r.version_id),
                        r.kind, ref_id(s, r.against_version_id), r.report, r.markdown, list(r.uris),
                        username(s, r.created_by), aware(r.created_at))


def approval_record(s: Session, a: ApprovalRequest) -> ApprovalRecord:
    return ApprovalRecord(a.id, ref_id(s, a.version_id), username(s, a.requested_by), a.request_comment,
                          aware(a.requested_at), a.status, username(s, a.decided_by), a.decision_comment,
                          aware(a.decided_at))


def rollout_record(s: Session, r: Rollout) -> RolloutRecord:
    return RolloutRecord(r.id, s.get(DecisionPoint, r.decision_point_id).name, ref_id(s, r.challenger_version_id),
                         ref_id(s, r.champion_version_id), r.traffic_percent, r.state, aware(r.started_at),
                         aware(r.ended_at), r.end_reason)


def audit_record(a: AuditEntry) -> AuditRecord:
    return AuditRecord(a.id, aware(a.at), a.actor, a.action, a.entity_type, a.entity_id, a.entity_name,
                       a.from_state, a.to_state, a.reason, a.details)
