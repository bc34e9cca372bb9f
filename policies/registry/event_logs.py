"""Event logs: served decisions, their rewards, activation, default rewards and the joined log.

- A decision (``event_id``, 1-64 characters, unique) names its arm (``champion``, ``challenger``, ``baseline``),
  the version that decided (none for the baseline; it must belong to the decision point), the action, its
  propensity in (0, 1] and the context. A decision logged twice is stored once.
- A deferred decision's reward window starts when it is activated (it was shown); others at the decision.
- A reward is stored once per decision, only for a known, active decision and inside its reward window
  (outcomes: :data:`~policies.registry.log_records.REWARD_OUTCOMES`); the same reward again is a harmless
  ``duplicate``, a different one a ``conflict``.
- A decision whose window ended without a reward gets the decision point's default reward (``is_default``),
  written by :meth:`EventLogs.assign_default_rewards`, safe from several processes at once.
- :meth:`EventLogs.joined_events` reads decisions joined with their rewards in reward order (the online
  learner's feed).

The batch writes (``log_decisions``, ``log_rewards``) are one transaction each, so that the decision API can
acknowledge a request once its row is committed; the API's own hot path (``service.log_store``) follows the same
rules without the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from policies.registry import log_records as lr
from policies.registry import lookups as lk
from policies.registry import workflow as wf
from policies.registry.errors import (
    AlreadyExists,
    NotFound,
)
from policies.registry.log_records import JoinedEvent
from policies.registry.lookups import VersionRef
from policies.registry.models import (
    DecisionLog,
    DecisionPoint,
    RewardLog,
    utcnow,
)
from policies.registry.records import (
    aware,
)
from policies.registry.store import Store, check_number


class EventLogs:
    """The decision and reward logs on one :class:`~policies.registry.store.Store`."""

    def __init__(self, store: Store):
        self.store = store
        # names and refs map to ids that never change (nothing deletes decision points or versions): remembered
        self._dp_ids: dict[str, int] = {}
        self._version_ids: dict[str, tuple[int, int]] = {}

    def log_decision(self, decision_point: str, event_id: str, arm: str, action: Any, *,
                     version: VersionRef | None = None, propensity: float | None = None,
                     context: Any = None, at: datetime | None = None) -> None:
        """Record one served decision.

        :param arm: ``champion``, ``challenger`` or ``baseline``.
        :param version: the version that decided (required for champion/challenger, absent for baseline).
        :param propensity: probability of ``action`` under the serving policy, in (0, 1].
        :param at: when (UTC; default now).
        """
        wf.check_choice("arm", arm, ("champion", "challenger", "baseline"))
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 64:
            raise ValueError(f"event_id: expected a string of 1-64 characters, found {event_id!r}")
        if propensity is not None:
            propensity = check_number("propensity", propensity, lower=0.0, upper=1.0, lower_open=True)
        if (arm == "baseline") != (version is None):
            raise ValueError(f"version: expected one for arm {arm!r}" if version is None
                             else "version: the baseline arm has no version")
        with self.store.tx() as s:
            dp = lk.dp(s, decision_point)
            version_id = None
            if version is not None:
                v = lk.version(s, version)
                if v.decision_point_id != dp.id:
                    raise ValueError(f"version {lk.ref(s, v)} does not belong to decision point {dp.name!r}")
                version_id = v.id
            s.add(DecisionLog(event_id=event_id, decision_point_id=dp.id, version_id=version_id, arm=arm,
                              action=action, propensity=propensity, context=context, created_at=at or utcnow()))
            try:
                s.flush()
            except IntegrityError:
                raise AlreadyExists(f"event_id {event_id!r} is already logged") from None

    def log_reward(self, event_id: str, reward: float, *, at: datetime | None = None) -> None:
        """Record the reward of a logged decision (one per decision)."""
        reward = check_number("reward", reward)
        with self.store.tx() as s:
            if s.execute(select(DecisionLog.id).where(DecisionLog.event_id == event_id)).first() is None:
                raise NotFound(f"no logged decision with event_id {event_id!r}")
            if s.execute(select(RewardLog.id).where(RewardLog.event_id == event_id)).first() is not None:
                raise AlreadyExists(f"event_id {event_id!r} already has a reward")
            s.add(RewardLog(event_id=event_id, reward=reward, created_at=at or utcnow()))

    def _upsert_insert(self, model: Any) -> Any:
        """``INSERT`` with the dialect's ``ON CONFLICT`` support (SQLite and PostgreSQL)."""
        if self.store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(model)

    def log_decisions(self, rows: Sequence[Any]) -> list[bool]:
        """Record served decisions in one transaction.

        :param rows: :class:`~policies.registry.log_records.DecisionRow` values.
        :return: per row, ``True`` when stored, ``False`` when its ``event_id`` was already logged (by an
            earlier call, another process, or an earlier row of this batch); nothing is overwritten.
        :raises ValueError: for an invalid row (naming it); then nothing of the batch is stored.
        """
        if not rows:
            return []
        for i, r in enumerate(rows):
            wf.check_choice(f"rows[{i}].arm", r.arm, ("champion", "challenger", "baseline"))
            if not isinstance(r.event_id, str) or not 0 < len(r.event_id) <= 64:
                raise ValueError(f"rows[{i}].event_id: expected a string of 1-64 characters, found {r.event_id!r}")
            if r.propensity is not None:
                check_number(f"rows[{i}].propensity", r.propensity, lower=0.0, upper=1.0, lower_open=True)
            if (r.arm == "baseline") != (r.version is None):
                raise ValueError(f"rows[{i}].version: expected one for arm {r.arm!r}" if r.version is None
                                 else f"rows[{i}].version: the baseline arm has no version")
        now = utcnow()
        dp_ids, version_ids = self._dp_ids, self._version_ids
        unknown_dps = {r.decision_point for r in rows} - set(dp_ids)
        unknown_versions = {r.version for r in rows if r.version is not None} - set(version_ids)
        if unknown_dps or unknown_versions:
            with self.store.tx() as s:
                for name in unknown_dps:
                    dp_ids[name] = lk.dp(s, name).id
                for ref in unknown_versions:
                    v = lk.version(s, ref)
                    version_ids[ref] = (v.id, v.decision_point_id)
        values, first_of = [], {}
        for i, r in enumerate(rows):
            version_id = None
            if r.version is not None:
                version_id, owner = version_ids[r.version]
                if owner != dp_ids[r.decision_point]:
                    raise ValueError(f"rows[{i}]: version {r.version} does not belong to decision point "
                                     f"{r.decision_point!r}")
            if r.event_id in first_of:
                continue
            first_of[r.event_id] = i
            values.append(dict(event_id=r.event_id, decision_point_id=dp_ids[r.decision_point],
                               version_id=version_id, arm=r.arm, action=r.action, propensity=r.propensity,
                               context=r.context, created_at=r.at or now, deferred=bool(r.deferred),
                               activated_at=None))
        table = DecisionLog.__table__  # a Core executemany on one Core transaction: the API's hot path
        stmt = (self._upsert_insert(table).on_conflict_do_nothing(index_elements=["event_id"])
                .returning(table.c.event_id))
        with self.store.engine.begin() as conn:
            inserted = set(conn.execute(stmt, values).scalars())
        return [r.event_id in inserted and first_of[r.event_id] == i for i, r in enumerate(rows)]

    def log_rewards(self, rows: Sequence[Any]) -> list[str]:
        """Record rewards in one transaction, idempotently.

        A reward is stored only when its decision exists, is active (a deferred decision must be activated
        first) and the reward arrives inside the decision's reward window (``reward_window_s`` after the
        decision, or after its activation); one reward per decision. Repeating the same reward is harmless.

        :param rows: :class:`~policies.registry.log_records.RewardRow` values.
        :return: per row, one of :data:`~policies.registry.log_records.REWARD_OUTCOMES`.
        :raises ValueError: for a non-finite reward or a negative slot (naming the row); nothing is stored then.
        """
        if not rows:
            return []
        for i, r in enumerate(rows):
            check_number(f"rows[{i}].reward", r.reward)
            if r.slot is not None and (isinstance(r.slot, bool) or not isinstance(r.slot, int) or r.slot < 0):
                raise ValueError(f"rows[{i}].slot: expected a whole number >= 0 or None, found {r.slot!r}")
        now = utcnow()
        ids = sorted({r.event_id for r in rows})
        with self.store.engine.begin() as conn:  # one Core transaction, one joined read: the API's hot path
            decisions, existing = {}, {}
            for e, c, d, a, w, v, slot, is_default in conn.execute(
                    select(DecisionLog.event_id, DecisionLog.created_at, DecisionLog.deferred, DecisionLog.activated_at,
                           DecisionPoint.reward_window_s, RewardLog.reward, RewardLog.slot, RewardLog.is_default)
                    .join(DecisionPoint, DecisionPoint.id == DecisionLog.decision_point_id)
                    .outerjoin(RewardLog, RewardLog.event_id == DecisionLog.event_id)
                    .where(DecisionLog.event_id.in_(ids))):
                decisions[e] = (aware(c), bool(d), aware(a), w)
                if v is not None:
                    existing[e] = (float(v), slot, bool(is_default))

            def judge(r: Any) -> str:
                if r.event_id in existing:
                    value, slot, is_default = existing[r.event_id]
                    if is_default:
                        return lr.WINDOW_CLOSED
                    return lr.DUPLICATE if (value, slot) == (float(r.reward), r.slot) else lr.CONFLICT
                if r.event_id not in decisions:
                    return lr.UNKNOWN_EVENT
                created, deferred, activated, window_s = decisions[r.event_id]
                start = activated if deferred else created
                if start is None:
                    return lr.NOT_ACTIVATED
                if (aware(r.at) or now) > start + timedelta(seconds=window_s):
                    return lr.WINDOW_CLOSED
                return lr.STORED

            outcomes: list[str] = []
            values: list[dict] = []
            for r in rows:
                outcome = judge(r)
                if outcome == lr.STORED:
                    existing[r.event_id] = (float(r.reward), r.slot, False)
                    values.append(dict(event_id=r.event_id, reward=float(r.reward), slot=r.slot, is_default=False,
                                       created_at=r.at or now))
                outcomes.append(outcome)
            if values:
                table = RewardLog.__table__
                stmt = (self._upsert_insert(table).on_conflict_do_nothing(index_elements=["event_id"])
                        .returning(table.c.event_id))
                inserted = set(conn.execute(stmt, values).scalars())
                lost = {v["event_id"] for v in values} - inserted
                if lost:  # another process stored a reward for these first: judge against what it stored
                    for e, v, slot, d in conn.execute(select(RewardLog.event_id, RewardLog.reward, RewardLog.slot,
                                                             RewardLog.is_default).where(RewardLog.event_id.in_(lost))):
                        existing[e] = (float(v), slot, bool(d))
                    outcomes = [judge(r) if r.event_id in lost else o for r, o in zip(rows, outcomes, strict=True)]
            return outcomes

    def activate_decision(self, event_id: str, *, at: datetime | None = None) -> str:
        """Activate a deferred decision (it was shown): its reward window starts now.

        :return: ``activated``; ``already_active`` for a decision that was not deferred or is already activated
            (idempotent); ``unknown_event`` when no such decision is logged.
        """
        with self.store.tx() as s:
            changed = s.execute(update(DecisionLog)
                                .where(DecisionLog.event_id == event_id, DecisionLog.deferred.is_(True),
                                       DecisionLog.activated_at.is_(None))
                                .values(activated_at=at or utcnow()).execution_options(synchronize_session=False))
            if changed.rowcount == 1:
                return lr.ACTIVATED
            found = s.execute(select(DecisionLog.id).where(DecisionLog.event_id == event_id)).first()
            return lr.ALREADY_ACTIVE if found is not None else lr.UNKNOWN_EVENT

    def assign_default_rewards(self, *, now: datetime | None = None, grace_s: float = 0.0,
                               limit: int = 10_000, ended_after: datetime | None = None) -> int:
        """Log the decision point's default reward (``is_default``) for every active decision whose reward window
        ended without a reward; the row's time is the window's end. Safe to run from several processes at once.

        :param now: the time windows are measured from (default now).
        :param grace_s: only windows that ended at least this long ago (lets rewards in flight land first).
        :param limit: at most this many per decision point and call.
        :param ended_after: only windows that ended after this time (a sweeper that already swept up to a time
            passes it, so that a sweep reads only the newest decisions instead of the whole log).
        :return: how many default rewards were logged.
        """
        grace_s = check_number("grace_s", grace_s, lower=0.0)
        now = now or utcnow()
        total = 0
        with self.store.tx() as s:
            for dp in s.execute(select(DecisionPoint).order_by(DecisionPoint.id)).scalars().all():
                cutoff = now - timedelta(seconds=dp.reward_window_s + grace_s)
                query = (select(DecisionLog.event_id, DecisionLog.created_at, DecisionLog.deferred,
                                DecisionLog.activated_at)
                         .outerjoin(RewardLog, RewardLog.event_id == DecisionLog.event_id)
                         .where(DecisionLog.decision_point_id == dp.id, RewardLog.id.is_(None),
                                or_((DecisionLog.deferred.is_(False)) & (DecisionLog.created_at <= cutoff),
                                    (DecisionLog.deferred.is_(True)) & (DecisionLog.activated_at <= cutoff)))
                         .order_by(DecisionLog.id).limit(int(limit)))
                if ended_after is not None:
                    floor = ended_after - timedelta(seconds=dp.reward_window_s)
                    query = query.where(or_((DecisionLog.deferred.is_(False)) & (DecisionLog.created_at > floor),
                                            (DecisionLog.deferred.is_(True)) & (DecisionLog.activated_at > floor)))
                window = timedelta(seconds=dp.reward_window_s)
                values = [dict(event_id=e, reward=dp.default_reward, slot=None, is_default=True,
                               created_at=aware(activated if deferred else created) + window)
                          for e, created, deferred, activated in s.execute(query)]
                if values:
                    stmt = (self._upsert_insert(RewardLog).values(values)
                            .on_conflict_do_nothing(index_elements=["event_id"]).returning(RewardLog.event_id))
                    total += len(s.execute(stmt).all())
        return total

    def joined_events(self, decision_point: str, *, after_reward_id: int = 0, limit: int = 1000) -> list[Any]:
        """Decisions joined with their rewards (real and default), in the order the rewards were logged.

        :param after_reward_id: only rewards with a larger id (the caller's watermark).
        :param limit: at most this many (1-100000).
        :return: :class:`~policies.registry.log_records.JoinedEvent` values, by reward id.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise ValueError(f"limit: expected a whole number in [1, 100000], found {limit!r}")
        with self.store.tx() as s:
            dp = lk.dp(s, decision_point)
            query = (select(RewardLog, DecisionLog).join(DecisionLog, DecisionLog.event_id == RewardLog.event_id)
                     .where(DecisionLog.decision_point_id == dp.id, RewardLog.id > int(after_reward_id))
                     .order_by(RewardLog.id).limit(limit))
            refs: dict[int | None, str | None] = {None: None}
            out = []
            for r, d in s.execute(query).all():
                if d.version_id not in refs:
                    refs[d.version_id] = lk.ref_id(s, d.version_id)
                out.append(JoinedEvent(r.id, d.event_id, dp.name, d.arm, refs[d.version_id], d.action, d.propensity,
                                       d.context, float(r.reward), r.slot, bool(r.is_default), aware(d.created_at),
                                       aware(r.created_at)))
            return out
