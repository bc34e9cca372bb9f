"""Analytics: read-only views of the decision and reward logs for the dashboard.

They change nothing and write no audit rows. Rows are plain dicts (documented per method) that the dashboard
turns into tables and charts. A decision is *rewarded* when its reward is logged, *expired* when its reward window
passed without one (it counts with the decision point's ``default_reward``, as in the guardrail) or when the logged
reward is a default one, else *pending*.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from policies.registry import lookups as lk
from policies.registry.models import (
    DecisionLog,
    RewardLog,
    utcnow,
)
from policies.registry.records import (
    aware,
)
from policies.registry.store import Store, check_number


class Analytics:
    """Per-bucket and recent views of the logs on one :class:`~policies.registry.store.Store`."""

    def __init__(self, store: Store):
        self.store = store

    def _epoch_seconds(self, column: Any) -> Any:
        """SQL for ``column`` (a UTC timestamp) as seconds since the Unix epoch, on SQLite and PostgreSQL."""
        from sqlalchemy import Float, cast

        if self.store.dialect == "sqlite":
            return cast(func.strftime("%s", column), Float)
        return func.extract("epoch", column)

    def _bucket_index(self, column: Any, bucket_s: float) -> Any:
        """SQL for ``floor(epoch(column) / bucket_s)`` (epochs are positive, so truncation is the floor)."""
        from sqlalchemy import Integer, cast

        ratio = self._epoch_seconds(column) / bucket_s
        if self.store.dialect == "sqlite":
            return cast(ratio, Integer)
        return func.floor(ratio)

    def decision_buckets(self, decision_point: str, *, bucket_s: float = 3600.0, since: datetime | None = None,
                         until: datetime | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
        """Decisions and rewards of a decision point per time bucket and arm (for charts of online reward).

        A decision is *rewarded* when the reward log has its reward, *expired* when its reward window passed
        without one (it counts with the decision point's ``default_reward``, as in the guardrail) or when the
        reward logged for it is marked as the default (``reward_log.is_default``), else *pending*.

        :param bucket_s: bucket width in seconds (buckets are aligned to multiples of it since the Unix epoch).
        :param since: only decisions at or after this time (UTC).
        :param until: only decisions before this time (UTC).
        :param now: the time reward windows are measured from (default now).
        :return: one dict per (bucket, arm, version), by bucket then arm, with ``start`` (bucket start, UTC),
            ``arm``, ``version_ref``, ``decisions``, ``rewarded``, ``expired``, ``pending``, ``settled``
            (rewarded + expired), ``reward_sum`` and ``reward_sq_sum`` (over the settled decisions, expired ones
            at the default reward) and ``mean_reward`` (``None`` when nothing is settled).
        """
        from datetime import UTC

        from sqlalchemy import case

        bucket_s = check_number("bucket_s", bucket_s, lower=0.0, lower_open=True)
        with self.store.tx() as s:
            dp = lk.dp(s, decision_point)
            cutoff = (now or utcnow()) - timedelta(seconds=dp.reward_window_s)
            bucket = self._bucket_index(DecisionLog.created_at, bucket_s).label("bucket")
            # rewards written as the default by the decision API (reward_log.is_default, migration 0002) count as
            # expired, at their stored value; decisions with no reward row past the window at default_reward
            is_default = getattr(RewardLog, "is_default", None)
            has_row = RewardLog.id.is_not(None)
            default_row = has_row & is_default.is_(True) if is_default is not None else None
            real = has_row & is_default.is_not(True) if is_default is not None else has_row
            rewarded = func.sum(case((real, 1), else_=0))
            implicit = func.sum(case((RewardLog.id.is_(None) & (DecisionLog.created_at <= cutoff), 1), else_=0))
            explicit = func.sum(case((default_row, 1), else_=0)) if default_row is not None else func.sum(0)
            query = (select(bucket, DecisionLog.arm, DecisionLog.version_id, func.count(DecisionLog.id), rewarded,
                            implicit, explicit, func.sum(RewardLog.reward),
                            func.sum(RewardLog.reward * RewardLog.reward))
                     .select_from(DecisionLog).outerjoin(RewardLog, RewardLog.event_id == DecisionLog.event_id)
                     .where(DecisionLog.decision_point_id == dp.id))
            if since is not None:
                query = query.where(DecisionLog.created_at >= since)
            if until is not None:
                query = query.where(DecisionLog.created_at < until)
            query = query.group_by(bucket, DecisionLog.arm, DecisionLog.version_id).order_by(bucket, DecisionLog.arm)
            refs: dict[int | None, str | None] = {None: None}
            out = []
            for index, arm, version_id, n, n_rewarded, n_implicit, n_explicit, total, total_sq in s.execute(query).all():
                if version_id not in refs:
                    refs[version_id] = lk.ref_id(s, version_id)
                n_rewarded, n_implicit = int(n_rewarded or 0), int(n_implicit or 0)
                n_expired = n_implicit + int(n_explicit or 0)
                settled = n_rewarded + n_expired
                reward_sum = float(total or 0.0) + n_implicit * dp.default_reward
                reward_sq_sum = float(total_sq or 0.0) + n_implicit * dp.default_reward ** 2
                start = datetime.fromtimestamp(int(index) * bucket_s, tz=UTC)
                out.append({"start": start, "arm": arm, "version_ref": refs[version_id],
                            "decisions": int(n), "rewarded": n_rewarded, "expired": n_expired,
                            "pending": int(n) - settled, "settled": settled, "reward_sum": reward_sum,
                            "reward_sq_sum": reward_sq_sum, "mean_reward": reward_sum / settled if settled else None})
            return out

    def recent_decisions(self, decision_point: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest decisions of a decision point with their rewards, newest first.

        :param limit: at most this many (1-10000).
        :return: dicts with ``event_id``, ``at``, ``arm``, ``version_ref``, ``action``, ``propensity``,
            ``context``, ``reward`` (``None`` while none is logged) and ``rewarded_at``.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise ValueError(f"limit: expected a whole number in [1, 10000], found {limit!r}")
        with self.store.tx() as s:
            dp = lk.dp(s, decision_point)
            query = (select(DecisionLog, RewardLog.reward, RewardLog.created_at)
                     .outerjoin(RewardLog, RewardLog.event_id == DecisionLog.event_id)
                     .where(DecisionLog.decision_point_id == dp.id)
                     .order_by(DecisionLog.created_at.desc(), DecisionLog.id.desc()).limit(limit))
            refs: dict[int | None, str | None] = {None: None}
            out = []
            for d, reward, rewarded_at in s.execute(query).all():
                if d.version_id not in refs:
                    refs[d.version_id] = lk.ref_id(s, d.version_id)
                out.append({"event_id": d.event_id, "at": aware(d.created_at), "arm": d.arm,
                            "version_ref": refs[d.version_id], "action": d.action, "propensity": d.propensity,
                            "context": d.context, "reward": reward, "rewarded_at": aware(rewarded_at)})
            return out
