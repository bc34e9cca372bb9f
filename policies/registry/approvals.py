"""Approvals: evidence, approval requests, four eyes, approve and reject.

A version goes ``candidate`` -> ``evaluated`` (a report is attached, recorded as evaluated against the decision
point's current champion, or none) -> ``approved`` (:mod:`policies.registry.workflow` draws every transition):

- ``request_approval`` opens the version's one open request (requester role or above; the version is
  ``evaluated``).
- ``approve`` needs the approver role, an open request, four eyes (the approver is neither the requester nor the
  version's registrant) and evidence: a report against the champion that is current *now*, passing the decision
  point's approval rule against the champion's (or the baseline's) report on the same estimator. Exactly one of
  two concurrent approvals wins: the rows are locked and the state changes by compare-and-set; the loser gets
  :class:`~policies.registry.errors.InvalidTransition` or :class:`~policies.registry.errors.ConcurrentTransition`.
- ``reject`` (from ``candidate``, ``evaluated``, ``approved`` or ``canary``) closes the open request (as
  ``withdrawn`` when the requester rejects their own) and ends a canary's rollout.
- Each transition and its audit row commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from policies.registry import lookups as lk
from policies.registry import workflow as wf
from policies.registry.errors import (
    AlreadyExists,
    ApprovalRuleFailed,
    ConcurrentTransition,
    InvalidTransition,
    MissingEvaluation,
)
from policies.registry.lookups import VersionRef
from policies.registry.models import (
    ApprovalRequest,
    DecisionPoint,
    EvaluationReport,
    PolicyVersion,
    utcnow,
)
from policies.registry.records import (
    ApprovalRecord,
    ReportRecord,
    UserRecord,
    VersionRecord,
)
from policies.registry.reports import apply_rule, choose_estimator, parse_estimates, validate_report
from policies.registry.store import Store


class Approvals:
    """Evidence and approval decisions on one :class:`~policies.registry.store.Store`."""

    def __init__(self, store: Store):
        self.store = store

    def attach_report(self, actor: UserRecord, version: VersionRef, report: dict, *, markdown: str | None = None,
                      uris: Sequence[str] = ()) -> ReportRecord:
        """Attach an evaluation report to a version (``candidate``/``evaluated`` -> ``evaluated``).

        The report is recorded as evaluated against the decision point's current champion (its live version, or
        none); approval needs a report against the champion that is current at approval time.

        :param report: JSON object with OPE estimates (see :mod:`policies.registry.reports`) and/or ``simulator``.
        :param markdown: optional human-readable write-up.
        :param uris: optional links to plots, notebooks, full results.
        """
        validate_report(report)
        if isinstance(uris, str) or not all(isinstance(u, str) and u for u in uris):
            raise ValueError(f"uris: expected a list of non-empty strings, found {uris!r}")
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "evaluate")
            _, v = lk.lock_dp_and_version(s, version)
            champion = lk.live(s, v.decision_point_id)
            row = EvaluationReport(decision_point_id=v.decision_point_id, version_id=v.id, kind="version",
                                   against_version_id=champion.id if champion else None, report=report,
                                   markdown=markdown, uris=list(uris), created_by=user.id, created_at=utcnow())
            s.add(row)
            s.flush()
            self.store.move(s, v, "evaluate", user.username, reason=f"report #{row.id} against "
                       f"{lk.ref(s, champion) or 'no champion'}", details={"report_id": row.id})
            return lk.report_record(s, row)

    def request_approval(self, actor: UserRecord, version: VersionRef, comment: str | None = None) -> ApprovalRecord:
        """Open an approval request for an ``evaluated`` version (one open request per version)."""
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "request_approval")
            v = lk.version(s, version, lock=True)
            ref = lk.ref(s, v)
            if v.state != wf.EVALUATED:
                raise InvalidTransition(f"policy version {ref}", v.state, wf.APPROVED, "request_approval",
                                        (wf.EVALUATED,))
            if lk.open_request(s, v.id) is not None:
                raise AlreadyExists(f"policy version {ref} already has an open approval request")
            row = ApprovalRequest(version_id=v.id, requested_by=user.id, request_comment=comment,
                                  requested_at=utcnow(), status="open")
            s.add(row)
            s.flush()
            self.store.audit(s, user.username, "request_approval", "policy_version", v.id, ref, v.state, v.state,
                        reason=comment, details={"request_id": row.id})
            return lk.approval_record(s, row)

    def _evidence(self, s: Session, v: PolicyVersion, dp: DecisionPoint, ref: str) -> tuple[str, dict]:
        """Check the approval rule for ``v``; returns the reason in words and the details for the audit row."""
        champion = lk.live(s, dp.id)
        champion_ref = lk.ref(s, champion)
        reports = s.execute(select(EvaluationReport).where(EvaluationReport.version_id == v.id)
                            .order_by(EvaluationReport.id.desc())).scalars().all()
        if not reports:
            raise MissingEvaluation(f"cannot approve {ref}: it has no evaluation report; attach one "
                                    f"(retailrl registry attach-report)")
        wanted = champion.id if champion else None
        current = [r for r in reports if r.against_version_id == wanted]
        if not current:
            against = sorted({lk.ref_id(s, r.against_version_id) or "no champion" for r in reports})
            raise MissingEvaluation(f"cannot approve {ref}: no evaluation report against the current champion "
                                    f"({champion_ref or 'none'}); its reports are against {against}. Evaluate it "
                                    f"again and attach the report")
        report = current[0]
        details: dict[str, Any] = {"report_id": report.id, "rule": dp.approval_rule, "champion": champion_ref}
        if dp.approval_rule == "evaluation_only":
            return f"rule 'evaluation_only': report #{report.id} present", details
        candidate = parse_estimates(report.report)
        estimator = choose_estimator(dp.approval_estimator, candidate)
        reference, label = None, "no champion and no baseline report"
        if champion is not None:
            reference_reports = s.execute(select(EvaluationReport).where(EvaluationReport.version_id == champion.id)
                                          .order_by(EvaluationReport.id.desc())).scalars().all()
            label = f"champion {champion_ref}"
        else:
            reference_reports = s.execute(
                select(EvaluationReport).where(EvaluationReport.decision_point_id == dp.id,
                                               EvaluationReport.kind == "baseline")
                .order_by(EvaluationReport.id.desc())).scalars().all()
            if reference_reports:
                label = "baseline"
        for r in reference_reports:
            found = parse_estimates(r.report).get(estimator)
            if found is not None:
                reference = found
                details["reference_report_id"] = r.id
                break
        if reference_reports and reference is None:
            raise ApprovalRuleFailed(f"cannot approve {ref}: no report of the {label} has the estimator "
                                     f"{estimator!r} to compare with")
        reason = apply_rule(dp.approval_rule, estimator, candidate[estimator], reference, label)
        details.update(estimator=estimator, candidate=candidate[estimator].__dict__,
                       reference=None if reference is None else reference.__dict__)
        return reason, details

    def approve(self, actor: UserRecord, version: VersionRef, comment: str | None = None) -> VersionRecord:
        """Approve an ``evaluated`` version with an open request: approver role, four eyes, evidence rule.

        Exactly one of two concurrent approvals succeeds: the row is locked (``FOR UPDATE``; SQLite's
        ``BEGIN IMMEDIATE``) and the state is changed by compare-and-set; the loser gets
        :class:`InvalidTransition` (``approved`` -> ``approved``) or :class:`ConcurrentTransition`.
        """
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "approve")
            dp, v = lk.lock_dp_and_version(s, version)
            ref = lk.ref(s, v)
            wf.transition("approve", v.state, f"policy version {ref}")
            request = lk.open_request(s, v.id)
            if request is None:
                raise InvalidTransition(f"policy version {ref}", f"{v.state} (no open approval request)",
                                        wf.APPROVED, "approve", (wf.EVALUATED,))
            wf.check_four_eyes(user.username, lk.username(s, request.requested_by),
                               lk.username(s, v.created_by))
            reason, details = self._evidence(s, v, dp, ref)
            now = utcnow()
            decided = s.execute(update(ApprovalRequest)
                                .where(ApprovalRequest.id == request.id, ApprovalRequest.status == "open")
                                .values(status="approved", decided_by=user.id, decision_comment=comment,
                                        decided_at=now)
                                .execution_options(synchronize_session=False))
            if decided.rowcount != 1:
                raise ConcurrentTransition(f"approval request #{request.id} of {ref}", "open", "approved", "approve")
            details.update(request_id=request.id, comment=comment)
            self.store.move(s, v, "approve", user.username, reason=reason, details=details)
            return lk.version_record(s, v)

    def reject(self, actor: UserRecord, version: VersionRef, comment: str | None = None) -> VersionRecord:
        """Reject a version (from ``candidate``, ``evaluated``, ``approved`` or ``canary``; approvers only).

        Its open approval request is closed as rejected; a canary's rollout ends and its traffic returns.
        """
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "reject")
            _, v = lk.lock_dp_and_version(s, version)
            wf.transition("reject", v.state, f"policy version {lk.ref(s, v)}")
            if v.state == wf.CANARY:
                lk.end_rollout(s, v.decision_point_id, "rejected", comment or "rejected")
            request = lk.open_request(s, v.id)
            if request is not None:
                if request.requested_by == user.id:
                    request.status = "withdrawn"
                else:
                    request.status, request.decided_by = "rejected", user.id
                request.decision_comment, request.decided_at = comment, utcnow()
            self.store.move(s, v, "reject", user.username, reason=comment,
                       details={"request_id": request.id if request else None})
            return lk.version_record(s, v)

    def approvals(self, version: VersionRef) -> list[ApprovalRecord]:
        with self.store.tx() as s:
            v = lk.version(s, version)
            rows = s.execute(select(ApprovalRequest).where(ApprovalRequest.version_id == v.id)
                             .order_by(ApprovalRequest.id)).scalars()
            return [lk.approval_record(s, a) for a in rows]

    def open_approvals(self, decision_point: str | None = None) -> list[ApprovalRecord]:
        """Open approval requests (oldest first), optionally of one decision point's versions."""
        with self.store.tx() as s:
            query = (select(ApprovalRequest).join(PolicyVersion, PolicyVersion.id == ApprovalRequest.version_id)
                     .where(ApprovalRequest.status == "open").order_by(ApprovalRequest.id))
            if decision_point is not None:
                query = query.where(PolicyVersion.decision_point_id == lk.dp(s, decision_point).id)
            return [lk.approval_record(s, a) for a in s.execute(query).scalars()]
