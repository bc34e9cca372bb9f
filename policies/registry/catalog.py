"""Catalog: decision points, policies and their versions, and evaluation reports.

- A decision point (admins create it) is a place a shop decides: its ``kind`` (``ad_slot``, ``pricing``,
  ``inventory``), action space, baseline action (served when killed and while there is no champion), reward window
  and default reward, approval rule and estimator, and guardrail settings. Names are 1-64 letters, digits, ``_.-``.
- ``register_version`` creates the policy on first use (a policy belongs to one decision point) and its next
  version, numbered 1, 2, ... per policy, in state ``candidate``, with the artefact's URI and SHA-256.
- A baseline report evaluates the decision point's baseline action: the approval reference while there is no
  champion. Version reports are attached by :meth:`Approvals.attach_report
  <policies.registry.approvals.Approvals.attach_report>` (they move the version to ``evaluated``).
- Reads return records (:mod:`policies.registry.records`), never ORM rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from policies.registry import lookups as lk
from policies.registry import workflow as wf
from policies.registry.errors import (
    AlreadyExists,
)
from policies.registry.lookups import VersionRef
from policies.registry.models import (
    DecisionPoint,
    EvaluationReport,
    Policy,
    PolicyVersion,
    utcnow,
)
from policies.registry.records import (
    DecisionPointRecord,
    ReportRecord,
    UserRecord,
    VersionRecord,
)
from policies.registry.reports import validate_report
from policies.registry.store import Store, check_name, check_number

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class Catalog:
    """Decision points, versions and reports on one :class:`~policies.registry.store.Store`."""

    def __init__(self, store: Store):
        self.store = store

    def add_decision_point(self, actor: UserRecord, name: str, kind: str, action_space: Any, baseline_action: Any,
                           *, reward_window_s: float = 86_400.0, default_reward: float = 0.0,
                           approval_estimator: str | None = None,
                           approval_rule: str = wf.DEFAULT_APPROVAL_RULE, guardrail_bound: float = 0.0,
                           guardrail_confidence: float = 0.95, guardrail_min_count: int = 100,
                           ) -> DecisionPointRecord:
        """Create a decision point (admins only).

        :param name: e.g. ``home-banner``.
        :param kind: ``ad_slot``, ``pricing`` or ``inventory``.
        :param action_space: JSON: e.g. ``{"n_actions": 80}`` or a list of price multipliers.
        :param baseline_action: JSON: the action served when the kill switch is on (and with no champion).
        :param reward_window_s: seconds a reward may arrive after the decision; later, ``default_reward`` counts.
        :param default_reward: the reward of a decision whose window passed without one.
        :param approval_estimator: the OPE estimator the approval rule compares (``None``: ``dr``, else the first).
        :param approval_rule: ``lower_bound_beats_estimate``, ``mean_and_lower_bound`` or ``evaluation_only``.
        :param guardrail_bound: how far (reward units) a canary may fall below the champion's mean.
        :param guardrail_confidence: confidence of the canary's upper bound, in (0, 1).
        :param guardrail_min_count: rewards needed on each arm before the guardrail decides (>= 2).
        """
        check_name("name", name)
        wf.check_choice("kind", kind, wf.DECISION_POINT_KINDS)
        wf.check_choice("approval_rule", approval_rule, wf.APPROVAL_RULES)
        reward_window_s = check_number("reward_window_s", reward_window_s, lower=0.0, lower_open=True)
        default_reward = check_number("default_reward", default_reward)
        guardrail_bound = check_number("guardrail_bound", guardrail_bound, lower=0.0)
        guardrail_confidence = check_number("guardrail_confidence", guardrail_confidence, lower=0.0, upper=1.0,
                                             lower_open=True, upper_open=True)
        if isinstance(guardrail_min_count, bool) or not isinstance(guardrail_min_count, int) or guardrail_min_count < 2:
            raise ValueError(f"guardrail_min_count: expected a whole number >= 2, found {guardrail_min_count!r}")
        if action_space is None or baseline_action is None:
            raise ValueError("action_space and baseline_action: expected JSON values, found None")
        with self.store.tx() as s:
            admin = self.store.actor(s, actor, "add_decision_point")
            if s.execute(select(DecisionPoint.id).where(DecisionPoint.name == name)).first() is not None:
                raise AlreadyExists(f"decision point {name!r} already exists")
            dp = DecisionPoint(name=name, kind=kind, action_space=action_space, baseline_action=baseline_action,
                               reward_window_s=reward_window_s, default_reward=default_reward,
                               approval_estimator=approval_estimator or None, approval_rule=approval_rule,
                               guardrail_bound=guardrail_bound, guardrail_confidence=guardrail_confidence,
                               guardrail_min_count=guardrail_min_count, killed=False, created_at=utcnow())
            s.add(dp)
            s.flush()
            record = lk.dp_record(dp)
            self.store.audit(s, admin.username, "decision_point.create", "decision_point", dp.id, name, None, "serving",
                        details={k: v for k, v in record.__dict__.items() if k not in ("id", "created_at")})
            return record

    def get_decision_point(self, name: str) -> DecisionPointRecord:
        with self.store.tx() as s:
            return lk.dp_record(lk.dp(s, name))

    def list_decision_points(self) -> list[DecisionPointRecord]:
        with self.store.tx() as s:
            return [lk.dp_record(d) for d in s.execute(select(DecisionPoint).order_by(DecisionPoint.name)).scalars()]

    def attach_baseline_report(self, actor: UserRecord, decision_point: str, report: dict, *,
                               markdown: str | None = None, uris: Sequence[str] = ()) -> ReportRecord:
        """Attach an evaluation of the decision point's baseline action: the reference while there is no champion."""
        validate_report(report)
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "attach_baseline_report")
            dp = lk.dp(s, decision_point)
            row = EvaluationReport(decision_point_id=dp.id, version_id=None, kind="baseline",
                                   against_version_id=None, report=report, markdown=markdown, uris=list(uris),
                                   created_by=user.id, created_at=utcnow())
            s.add(row)
            s.flush()
            self.store.audit(s, user.username, "report.baseline", "decision_point", dp.id, dp.name,
                        details={"report_id": row.id})
            return lk.report_record(s, row)

    def register_version(self, actor: UserRecord, decision_point: str, policy: str, artefact_uri: str,
                         artefact_sha256: str, *, train_config: Mapping | None = None,
                         train_metrics: Mapping | None = None, description: str | None = None) -> VersionRecord:
        """Register a new version (state ``candidate``) of ``policy`` (created on first use) for a decision point.

        :param artefact_uri: where the artefact lives (``file:///...``, ``s3://...``).
        :param artefact_sha256: its SHA-256 (64 lowercase hex digits; :func:`~policies.registry.artefacts.artefact_sha256`).
        :param train_config: the training run's config (JSON object).
        :param train_metrics: the training run's metrics (JSON object).
        """
        check_name("policy", policy)
        if not isinstance(artefact_uri, str) or not artefact_uri:
            raise ValueError("artefact_uri: expected a non-empty URI")
        if not isinstance(artefact_sha256, str) or not SHA256_RE.match(artefact_sha256):
            raise ValueError(f"artefact_sha256: expected 64 lowercase hex digits, found {artefact_sha256!r}")
        for what, value in (("train_config", train_config), ("train_metrics", train_metrics)):
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{what}: expected a JSON object, found {type(value).__name__}")
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "register")
            dp = lk.dp(s, decision_point)
            row = s.execute(select(Policy).where(Policy.name == policy).with_for_update()).scalar_one_or_none()
            if row is None:
                row = Policy(decision_point_id=dp.id, name=policy, description=description, created_at=utcnow())
                s.add(row)
                s.flush()
            elif row.decision_point_id != dp.id:
                raise ValueError(f"policy {policy!r} belongs to decision point "
                                 f"{s.get(DecisionPoint, row.decision_point_id).name!r}, not {decision_point!r}")
            number = (s.execute(select(func.max(PolicyVersion.version)).where(PolicyVersion.policy_id == row.id))
                      .scalar_one() or 0) + 1
            now = utcnow()
            version = PolicyVersion(policy_id=row.id, decision_point_id=dp.id, version=number,
                                    artefact_uri=artefact_uri, artefact_sha256=artefact_sha256,
                                    train_config=dict(train_config or {}), train_metrics=dict(train_metrics or {}),
                                    created_by=user.id, created_at=now, state=wf.CANDIDATE, updated_at=now)
            s.add(version)
            s.flush()
            self.store.audit(s, user.username, "register", "policy_version", version.id, f"{policy}:{number}", None,
                        wf.CANDIDATE, details={"artefact_uri": artefact_uri, "artefact_sha256": artefact_sha256})
            return lk.version_record(s, version)

    def get_version(self, version: VersionRef) -> VersionRecord:
        with self.store.tx() as s:
            return lk.version_record(s, lk.version(s, version))

    def list_versions(self, decision_point: str | None = None, state: str | None = None) -> list[VersionRecord]:
        """Versions, by decision point, policy and number; optionally of one decision point / in one state."""
        if state is not None:
            wf.check_choice("state", state, wf.VERSION_STATES)
        with self.store.tx() as s:
            query = select(PolicyVersion).join(Policy, Policy.id == PolicyVersion.policy_id)
            if decision_point is not None:
                query = query.where(PolicyVersion.decision_point_id == lk.dp(s, decision_point).id)
            if state is not None:
                query = query.where(PolicyVersion.state == state)
            query = query.order_by(PolicyVersion.decision_point_id, Policy.name, PolicyVersion.version)
            return [lk.version_record(s, v) for v in s.execute(query).scalars()]

    def reports(self, version: VersionRef | None = None, decision_point: str | None = None) -> list[ReportRecord]:
        """Evaluation reports of a version, or baseline reports of a decision point, oldest first."""
        with self.store.tx() as s:
            query = select(EvaluationReport).order_by(EvaluationReport.id)
            if version is not None:
                query = query.where(EvaluationReport.version_id == lk.version(s, version).id)
            elif decision_point is not None:
                query = query.where(EvaluationReport.decision_point_id == lk.dp(s, decision_point).id,
                                    EvaluationReport.kind == "baseline")
            else:
                raise ValueError("reports: give a version or a decision_point")
            return [lk.report_record(s, r) for r in s.execute(query).scalars()]
