"""Rollouts: canary, traffic, promotion, rollback, the kill switch and the guardrail.

Where a decision point's traffic goes (:meth:`Rollouts.traffic`, what the decision API serves):

- killed: 100% to the baseline action (versions keep their states);
- else the champion (its ``live`` version, or the baseline with none) takes ``100 - p`` percent and a running
  canary ``p`` percent (one canary per decision point; ``0 < p < 100``).

Transitions (each one transaction with compare-and-set state changes and audit rows):

- ``start_canary``: an ``approved`` version becomes ``canary`` at ``p``% (refused while killed or while another
  canary runs); ``set_traffic`` changes ``p``.
- ``promote``: the canary becomes ``live``; the previous champion becomes ``retired`` (the rollback target).
- ``rollback``: a running canary is rolled back (its traffic returns to the champion); with none, the live version
  is rolled back and the most recently retired version is ``live`` again (with none, the baseline serves).
- ``kill`` / ``revive``: the kill switch, a compare-and-set on the decision point's ``killed`` flag.
- ``check_canary`` (the guardrail, audit actor ``system:guardrail``): rolls the canary back when its one-sided
  upper confidence bound is below the champion's mean minus ``guardrail_bound``, once both arms have
  ``guardrail_min_count`` rewards (:mod:`policies.registry.guardrail`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from policies.registry import lookups as lk
from policies.registry import workflow as wf
from policies.registry.errors import (
    ConcurrentTransition,
    InvalidTransition,
    RegistryError,
)
from policies.registry.guardrail import ROLL_BACK, ArmStats, judge
from policies.registry.lookups import VersionRef
from policies.registry.models import (
    DecisionLog,
    DecisionPoint,
    PolicyVersion,
    RewardLog,
    Rollout,
    utcnow,
)
from policies.registry.records import (
    DecisionPointRecord,
    GuardrailResult,
    RolloutRecord,
    TrafficSplit,
    UserRecord,
    VersionRecord,
)
from policies.registry.store import Store

GUARDRAIL_ACTOR = "system:guardrail"


class Rollouts:
    """Canaries, promotions, rollbacks and the kill switch on one :class:`~policies.registry.store.Store`."""

    def __init__(self, store: Store):
        self.store = store

    def start_canary(self, actor: UserRecord, version: VersionRef, traffic_percent: float) -> RolloutRecord:
        """Send ``traffic_percent`` (0-100, exclusive) of the decision point to an ``approved`` version.

        The rest stays with the champion (or the baseline action when there is none). One canary per decision
        point at a time; refused while the kill switch is on.
        """
        traffic_percent = wf.check_traffic_percent(traffic_percent)
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "start_canary")
            dp, v = lk.lock_dp_and_version(s, version)
            ref = lk.ref(s, v)
            wf.transition("start_canary", v.state, f"policy version {ref}")
            if dp.killed:
                raise RegistryError(f"decision point {dp.name!r} is killed (100% baseline): revive it before "
                                    f"starting a canary")
            other = lk.canary_rollout(s, dp.id)
            if other is not None:
                raise RegistryError(f"decision point {dp.name!r} already runs a canary "
                                    f"({lk.ref_id(s, other.challenger_version_id)}); promote or roll it back first")
            champion = lk.live(s, dp.id)
            rollout = Rollout(decision_point_id=dp.id, challenger_version_id=v.id,
                              champion_version_id=champion.id if champion else None, traffic_percent=traffic_percent,
                              state="canary", started_by=user.id, started_at=utcnow())
            s.add(rollout)
            s.flush()
            self.store.move(s, v, "start_canary", user.username, reason=f"canary at {traffic_percent:g}% against "
                       f"{lk.ref(s, champion) or 'the baseline'}",
                       details={"rollout_id": rollout.id, "traffic_percent": traffic_percent})
            return lk.rollout_record(s, rollout)

    def set_traffic(self, actor: UserRecord, version: VersionRef, traffic_percent: float) -> RolloutRecord:
        """Change a running canary's traffic share."""
        traffic_percent = wf.check_traffic_percent(traffic_percent)
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "set_traffic")
            _, v = lk.lock_dp_and_version(s, version)
            ref = lk.ref(s, v)
            wf.transition("set_traffic", v.state, f"policy version {ref}")
            rollout = lk.canary_rollout(s, v.decision_point_id, lock=True)
            old = rollout.traffic_percent
            rollout.traffic_percent = traffic_percent
            s.flush()
            self.store.audit(s, user.username, "set_traffic", "policy_version", v.id, ref, v.state, v.state,
                        reason=f"traffic {old:g}% -> {traffic_percent:g}%",
                        details={"rollout_id": rollout.id, "from": old, "to": traffic_percent})
            return lk.rollout_record(s, rollout)

    def promote(self, actor: UserRecord, version: VersionRef, comment: str | None = None) -> VersionRecord:
        """Make a ``canary`` version live (100%); the previous champion becomes ``retired`` (the rollback target)."""
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "promote")
            dp, v = lk.lock_dp_and_version(s, version)
            ref = lk.ref(s, v)
            wf.transition("promote", v.state, f"policy version {ref}")
            champion = lk.live(s, dp.id, lock=True)
            if champion is not None:
                self.store.move(s, champion, "retire", user.username, reason=f"replaced by {ref}")
            rollout = lk.end_rollout(s, dp.id, "promoted", comment or "promoted")
            self.store.move(s, v, "promote", user.username, reason=comment,
                       details={"rollout_id": rollout.id if rollout else None,
                                "previous_champion": lk.ref(s, champion)})
            return lk.version_record(s, v)

    def _rollback(self, s: Session, dp: DecisionPoint, actor_name: str, reason: str | None,
                  details: dict | None = None) -> PolicyVersion:
        rollout = lk.canary_rollout(s, dp.id, lock=True)
        if rollout is not None:
            v = lk.version(s, rollout.challenger_version_id, lock=True)
            lk.end_rollout(s, dp.id, "rolled_back", reason or "rolled back")
            self.store.move(s, v, "rollback", actor_name, reason=reason,
                       details={**(details or {}), "rollout_id": rollout.id,
                                "traffic_to": lk.ref_id(s, rollout.champion_version_id) or "baseline"})
            return v
        live = lk.live(s, dp.id, lock=True)
        if live is None:
            raise InvalidTransition(f"decision point {dp.name}", "no canary or live version", wf.ROLLED_BACK,
                                    "rollback", (wf.CANARY, wf.LIVE))
        last_good = s.execute(
            select(PolicyVersion).where(PolicyVersion.decision_point_id == dp.id, PolicyVersion.state == wf.RETIRED)
            .order_by(PolicyVersion.updated_at.desc(), PolicyVersion.id.desc()).limit(1)
            .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
        self.store.move(s, live, "rollback", actor_name, reason=reason,
                   details={**(details or {}), "restored": lk.ref(s, last_good) or "baseline"})
        if last_good is not None:
            self.store.move(s, last_good, "restore", actor_name, reason=f"last good version, after rolling back "
                       f"{lk.ref(s, live)}")
        return live

    def rollback(self, actor: UserRecord, decision_point: str, reason: str | None = None) -> VersionRecord:
        """Roll back in one step: a running canary (traffic returns to the champion), else the live version
        (the last good version, the most recently retired one, is live again; with none, the baseline serves).

        :return: the version that was rolled back.
        """
        with self.store.tx() as s:
            user = self.store.actor(s, actor, "rollback")
            dp = lk.dp(s, decision_point, lock=True)
            v = self._rollback(s, dp, user.username, reason)
            return lk.version_record(s, v)

    def kill(self, actor: UserRecord, decision_point: str, reason: str | None = None) -> DecisionPointRecord:
        """Kill switch: send 100% of the decision point to its baseline action (versions keep their states)."""
        return self._set_killed(actor, decision_point, True, reason)

    def revive(self, actor: UserRecord, decision_point: str, reason: str | None = None) -> DecisionPointRecord:
        """Turn the kill switch off: traffic goes back to the champion / canary split."""
        return self._set_killed(actor, decision_point, False, reason)

    def _set_killed(self, actor: UserRecord, decision_point: str, killed: bool,
                    reason: str | None) -> DecisionPointRecord:
        action = "kill" if killed else "revive"
        with self.store.tx() as s:
            user = self.store.actor(s, actor, action)
            dp = lk.dp(s, decision_point, lock=True)
            current, target = ("killed", "serving") if dp.killed else ("serving", "killed")
            if bool(dp.killed) == killed:
                raise InvalidTransition(f"decision point {dp.name}", current, current, action,
                                        ("serving",) if killed else ("killed",))
            changed = s.execute(update(DecisionPoint).where(DecisionPoint.id == dp.id, DecisionPoint.killed == dp.killed)
                                .values(killed=killed).execution_options(synchronize_session=False))
            if changed.rowcount != 1:
                raise ConcurrentTransition(f"decision point {dp.name}", current, target, action)
            set_committed_value(dp, "killed", killed)
            self.store.audit(s, user.username, action, "decision_point", dp.id, dp.name, current, target, reason)
            return lk.dp_record(dp)

    def traffic(self, decision_point: str) -> TrafficSplit:
        """Where the decision point's traffic goes now (what the decision API serves)."""
        with self.store.tx() as s:
            return lk.traffic_split(s, lk.dp(s, decision_point))

    def _observed(self, s: Session, dp: DecisionPoint, rollout: Rollout, now: datetime) -> tuple[ArmStats, ArmStats]:
        reward = func.coalesce(RewardLog.reward, dp.default_reward)
        cutoff = now - timedelta(seconds=dp.reward_window_s)
        query = (select(DecisionLog.version_id, DecisionLog.arm, func.count(DecisionLog.id), func.sum(reward),
                        func.sum(reward * reward))
                 .select_from(DecisionLog).outerjoin(RewardLog, RewardLog.event_id == DecisionLog.event_id)
                 .where(DecisionLog.decision_point_id == dp.id, DecisionLog.created_at >= rollout.started_at,
                        or_(RewardLog.id.is_not(None), DecisionLog.created_at <= cutoff))
                 .group_by(DecisionLog.version_id, DecisionLog.arm))
        sums = {(version_id, arm): (int(n), float(total or 0.0), float(total_sq or 0.0))
                for version_id, arm, n, total, total_sq in s.execute(query)}
        canary = sums.get((rollout.challenger_version_id, "challenger"), (0, 0.0, 0.0))
        reference_key = ((rollout.champion_version_id, "champion") if rollout.champion_version_id is not None
                         else (None, "baseline"))
        reference = sums.get(reference_key, (0, 0.0, 0.0))
        return ArmStats.from_sums(*canary), ArmStats.from_sums(*reference)

    @staticmethod
    def _arm(value: ArmStats | Mapping, what: str) -> ArmStats:
        if isinstance(value, ArmStats):
            return value
        if not isinstance(value, Mapping) or "mean" not in value or "count" not in value:
            raise ValueError(f"observed[{what!r}]: expected ArmStats or {{'mean': ..., 'count': ..., 'std': ...}}, "
                             f"found {value!r}")
        return ArmStats(float(value["mean"]), int(value["count"]),
                        None if value.get("std") is None else float(value["std"]))

    def check_canary(self, decision_point: str, observed: Mapping[str, ArmStats | Mapping] | None = None, *,
                     now: datetime | None = None) -> GuardrailResult:
        """Guardrail: roll the decision point's canary back when its reward is clearly below the champion's.

        Rolls back (audit actor ``system:guardrail``, with the numbers in the reason) when the canary's
        one-sided upper confidence bound (``guardrail_confidence``) is below the champion's mean minus
        ``guardrail_bound``, once each arm has ``guardrail_min_count`` rewards.

        :param observed: ``{"canary": stats, "champion": stats}`` (``ArmStats`` or dicts with mean, count, std);
            ``None`` reads them from the decision and reward logs since the canary started (decisions older than
            the reward window without a reward count with the decision point's default reward; the champion arm
            is the baseline when there is no champion).
        :param now: the time the reward window is measured from (default now; for tests and replays).
        """
        with self.store.tx() as s:
            dp = lk.dp(s, decision_point, lock=True)
            rollout = lk.canary_rollout(s, dp.id, lock=True)
            if rollout is None:
                return GuardrailResult(dp.name, "no_canary", f"decision point {dp.name!r} runs no canary")
            canary_ref = lk.ref_id(s, rollout.challenger_version_id)
            label = (f"champion {lk.ref_id(s, rollout.champion_version_id)}"
                     if rollout.champion_version_id is not None else "baseline")
            if observed is None:
                canary, reference = self._observed(s, dp, rollout, now or utcnow())
            else:
                missing = {"canary", "champion"} - set(observed)
                if missing:
                    raise ValueError(f"observed: expected keys 'canary' and 'champion', missing {sorted(missing)}")
                canary, reference = self._arm(observed["canary"], "canary"), self._arm(observed["champion"], "champion")
            verdict = judge(canary, reference, bound=dp.guardrail_bound, confidence=dp.guardrail_confidence,
                            min_count=dp.guardrail_min_count, champion_label=label)
            numbers = dict(canary_ref=canary_ref, reference_arm=label, canary_mean=canary.mean,
                           canary_count=canary.count, canary_ucb=verdict.canary_ucb, reference_mean=reference.mean,
                           reference_count=reference.count, threshold=verdict.threshold)
            if verdict.verdict != ROLL_BACK:
                return GuardrailResult(dp.name, verdict.verdict, verdict.reason, **numbers)
            self._rollback(s, dp, GUARDRAIL_ACTOR, verdict.reason,
                           details={k: v for k, v in numbers.items() if not isinstance(v, float) or math.isfinite(v)})
            return GuardrailResult(dp.name, "rolled_back", verdict.reason, **numbers)

    def rollouts(self, decision_point: str) -> list[RolloutRecord]:
        with self.store.tx() as s:
            dp = lk.dp(s, decision_point)
            rows = s.execute(select(Rollout).where(Rollout.decision_point_id == dp.id).order_by(Rollout.id)).scalars()
            return [lk.rollout_record(s, r) for r in rows]
