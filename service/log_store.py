"""The API's hot-path writes of the decision and reward logs: one raw DBAPI connection, one transaction per batch.

:class:`LogStore` writes a batch of decisions and rewards in **one** transaction on a connection it holds for the
life of the server process (no ORM, no pool checkout, no statement compilation per batch): ``BEGIN IMMEDIATE``
on SQLite, the driver's implicit transaction on PostgreSQL (psycopg), then ``COMMIT``. Its semantics are those of
:meth:`policies.registry.Registry.log_decisions` and :meth:`~policies.registry.Registry.log_rewards` (a test
checks both give the same outcomes): a decision whose ``event_id`` is already logged is not stored (``False``);
a reward is judged against its decision (unknown, deferred and not activated, reward window closed, duplicate,
conflict) and stored once. Values are converted with the registry tables' own SQLAlchemy column types, so rows
read back through the registry exactly as if it had written them.

On SQLite a batch is first tried on the event loop's own thread without waiting for the write lock
(:meth:`LogStore.write_now`, about 50 microseconds for a small batch, where a hop to a worker thread and back
costs more CPU than the write); when another connection holds the lock it is retried on the writer's thread,
waiting up to ``timeout_s`` (:meth:`LogStore.write`). The connection does not checkpoint the WAL at commit
(that would stall the event loop for the copy and its fsync): :meth:`LogStore.checkpoint` runs SQLite's
``PASSIVE`` checkpoint on a second connection, off the event loop, which never blocks the writer.

Only :class:`service.log_writer.LogWriter` calls it, one batch at a time (checkpoints, on their own connection,
may run meanwhile).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from policies.registry.log_records import (
    CONFLICT,
    DUPLICATE,
    NOT_ACTIVATED,
    STORED,
    UNKNOWN_EVENT,
    WINDOW_CLOSED,
    RewardRow,
)
from policies.registry.models import DecisionLog, RewardLog, utcnow
from policies.registry.records import aware

ARMS = ("champion", "challenger", "baseline")
DECISION_COLUMNS = ("event_id", "decision_point_id", "version_id", "arm", "action", "propensity", "context",
                    "created_at", "deferred", "activated_at")
REWARD_COLUMNS = ("event_id", "reward", "created_at", "slot", "is_default")
_DISCONNECTED = ("OperationalError", "InterfaceError")
SQLITE_BUSY = 5


class Busy(Exception):
    """:meth:`LogStore.write_now` could not take SQLite's write lock at once (nothing was written)."""


@dataclass(frozen=True, slots=True)
class DecisionEntry:
    """One served decision as the API logs it (ids resolved by the policy cache, so a write needs no lookups).

    :param event_id: 1-64 characters, unique across the log.
    :param decision_point_id: the decision point's id.
    :param version_id: the serving version's id; ``None`` for the baseline arm.
    :param arm: ``champion``, ``challenger`` or ``baseline``.
    :param action: JSON: the chosen action (a list, one per slot, for several slots).
    :param propensity: the probability of ``action``, in (0, 1], or ``None``.
    :param context: JSON: what the policy saw and the full distribution.
    :param at: when it was decided (UTC).
    :param deferred: it waits for activation before rewards are accepted.
    """

    event_id: str
    decision_point_id: int
    version_id: int | None
    arm: str
    action: Any
    propensity: float | None
    context: Any
    at: datetime
    deferred: bool = False


def check_entry(i: int, e: DecisionEntry) -> None:
    """Raise ``ValueError`` naming ``rows[i]`` and the field when ``e`` cannot be logged."""
    if e.arm not in ARMS:
        raise ValueError(f"rows[{i}].arm: expected one of {list(ARMS)}, found {e.arm!r}")
    if not isinstance(e.event_id, str) or not 0 < len(e.event_id) <= 64:
        raise ValueError(f"rows[{i}].event_id: expected a string of 1-64 characters, found {e.event_id!r}")
    if e.propensity is not None and not 0.0 < e.propensity <= 1.0:
        raise ValueError(f"rows[{i}].propensity: expected a number in (0, 1], found {e.propensity!r}")
    if (e.arm == "baseline") != (e.version_id is None):
        raise ValueError(f"rows[{i}].version_id: expected one for arm {e.arm!r}" if e.version_id is None
                         else f"rows[{i}].version_id: the baseline arm has no version")


def judge_reward(row: RewardRow, decision: tuple | None, existing: tuple | None, now: datetime) -> str:
    """The outcome of one reward (the rules of :meth:`Registry.log_rewards`).

    :param decision: ``(created_at, deferred, activated_at, reward_window_s)`` of its decision, or ``None``.
    :param existing: ``(reward, slot, is_default)`` of the reward already stored for it, or ``None``.
    """
    if existing is not None:
        value, slot, is_default = existing
        if is_default:
            return WINDOW_CLOSED
        return DUPLICATE if (value, slot) == (float(row.reward), row.slot) else CONFLICT
    if decision is None:
        return UNKNOWN_EVENT
    created, deferred, activated, window_s = decision
    start = activated if deferred else created
    if start is None:
        return NOT_ACTIVATED
    if (aware(row.at) or now) > start + timedelta(seconds=window_s):
        return WINDOW_CLOSED
    return STORED


def is_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unavailable or busy (a DBAPI ``OperationalError`` /
    ``InterfaceError``), as opposed to a problem with the rows: retrying rows one by one cannot help then."""
    return any(cls.__name__ in _DISCONNECTED for cls in type(exc).__mro__)


class LogStore:
    """Batched decision and reward writes on one held DBAPI connection (SQLite or PostgreSQL via psycopg).

    :param engine: the registry's engine (its connect hooks set SQLite's WAL mode and pragmas).
    :param timeout_s: how long one batch may wait for a lock before it fails (SQLite ``busy_timeout``,
        PostgreSQL ``statement_timeout``); its requests then get a 503.
    """

    def __init__(self, engine: Engine, timeout_s: float = 5.0):
        self.engine = engine
        self.dialect = engine.dialect
        if self.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"engine: expected a sqlite or postgresql engine, found {self.dialect.name!r}")
        self.sqlite = self.dialect.name == "sqlite"
        self.timeout_s = float(timeout_s)
        self.can_write_now = self.sqlite
        self._conn: Any = None
        self._checkpointer: Any = None
        mark = "?" if self.sqlite else "%s"
        self._decision_bind = self._binders(DecisionLog.__table__, DECISION_COLUMNS)
        self._reward_bind = self._binders(RewardLog.__table__, REWARD_COLUMNS)
        self._insert_decision = (f"INSERT INTO decision_log ({', '.join(DECISION_COLUMNS)}) VALUES "
                                 f"({', '.join([mark] * len(DECISION_COLUMNS))}) ON CONFLICT (event_id) DO NOTHING")
        self._insert_reward = (f"INSERT INTO reward_log ({', '.join(REWARD_COLUMNS)}) VALUES "
                               f"({', '.join([mark] * len(REWARD_COLUMNS))}) ON CONFLICT (event_id) DO NOTHING")
        if not self.sqlite:
            self._insert_decision += " RETURNING event_id"
            self._insert_reward += " RETURNING event_id"
        self._read_time = self._reader(DecisionLog.__table__.c.created_at)
        self._select = ("SELECT d.event_id, d.created_at, d.deferred, d.activated_at, p.reward_window_s, r.reward, "
                        "r.slot, r.is_default FROM decision_log d JOIN decision_points p ON p.id = "
                        "d.decision_point_id LEFT JOIN reward_log r ON r.event_id = d.event_id WHERE d.event_id ")
        self._select_rewards = "SELECT event_id, reward, slot, is_default FROM reward_log WHERE event_id "

    # ------------------------------------------------------------------ values

    def _binders(self, table: Any, columns: Sequence[str]) -> list:
        """Per column, the column type's bind processor for this dialect (``None``: the value as is)."""
        return [table.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect) for name in columns]

    def _reader(self, column: Any):
        processor = column.type.dialect_impl(self.dialect).result_processor(self.dialect, None) if self.sqlite \
            else None
        return lambda value: aware(processor(value) if processor is not None and value is not None else value)

    @staticmethod
    def _bind(binders: list, values: tuple) -> tuple:
        return tuple(v if f is None or v is None else f(v) for f, v in zip(binders, values, strict=True))

    def _in(self, ids: Sequence[str]) -> tuple[str, tuple]:
        if self.sqlite:
            return f"IN ({', '.join('?' * len(ids))})", tuple(ids)
        return "= ANY(%s)", (list(ids),)

    # ------------------------------------------------------------------ connection

    def _open(self, *pragmas: str) -> Any:
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            for pragma in pragmas:
                cur.execute(pragma)
            if not self.sqlite:
                conn.commit()
            cur.close()
        except BaseException:
            conn.invalidate()
            raise
        return conn

    def _connection(self) -> Any:
        if self._conn is None:
            if self.sqlite:  # no waiting unless write() asks for it; checkpoints are checkpoint()'s job
                self._conn = self._open("PRAGMA busy_timeout = 0", "PRAGMA wal_autocheckpoint = 0")
            else:
                self._conn = self._open(f"SET statement_timeout = {int(self.timeout_s * 1000)}")
        return self._conn

    def close(self) -> None:
        """Drop the connections (invalidated, not pooled: their session settings are this store's)."""
        for name in ("_conn", "_checkpointer"):
            conn = getattr(self, name)
            if conn is not None:
                setattr(self, name, None)
                conn.invalidate()

    def checkpoint(self) -> None:
        """Copy committed WAL frames into the SQLite database file (``PASSIVE``: never waits for, nor blocks, a
        writer), on a connection of its own; a no-op on PostgreSQL. Call it off the event loop."""
        if not self.sqlite:
            return
        if self._checkpointer is None:
            self._checkpointer = self._open("PRAGMA busy_timeout = 0")
        cur = self._checkpointer.cursor()
        cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
        cur.fetchall()
        cur.close()

    # ------------------------------------------------------------------ writes

    def write(self, decisions: Sequence[DecisionEntry], rewards: Sequence[RewardRow]) -> tuple[list[bool], list[str]]:
        """Store ``decisions`` then ``rewards`` in one transaction, waiting up to ``timeout_s`` for the write lock;
        nothing is stored when anything fails.

        :return: per decision, ``True`` when stored (``False``: its ``event_id`` was already logged, by an earlier
            batch, another process or an earlier row of this batch); per reward, one of
            :data:`~policies.registry.log_records.REWARD_OUTCOMES`.
        :raises ValueError: for an invalid row (naming it), before anything is written.
        :raises Exception: the driver's error when the transaction fails (the caller answers 503).
        """
        if not self.sqlite:
            return self._write(decisions, rewards)
        conn = self._connection()
        conn.driver_connection.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        try:
            return self._write(decisions, rewards)
        finally:
            if self._conn is conn:
                conn.driver_connection.execute("PRAGMA busy_timeout = 0")

    def write_now(self, decisions: Sequence[DecisionEntry],
                  rewards: Sequence[RewardRow]) -> tuple[list[bool], list[str]]:
        """:meth:`write` without waiting (SQLite only): raises :class:`Busy`, having written nothing, when another
        connection holds the write lock."""
        if not self.sqlite:
            raise ValueError("write_now: only SQLite can take its write lock without waiting; use write")
        try:
            return self._write(decisions, rewards)
        except Exception as exc:
            if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == SQLITE_BUSY:  # SQLITE_BUSY or an extended code
                raise Busy(str(exc)) from exc
            raise

    def _write(self, decisions: Sequence[DecisionEntry],
               rewards: Sequence[RewardRow]) -> tuple[list[bool], list[str]]:
        for i, e in enumerate(decisions):
            check_entry(i, e)
        for i, r in enumerate(rewards):
            if r.slot is not None and (isinstance(r.slot, bool) or not isinstance(r.slot, int) or r.slot < 0):
                raise ValueError(f"rows[{i}].slot: expected a whole number >= 0 or None, found {r.slot!r}")
        if not decisions and not rewards:
            return [], []
        conn = self._connection()
        try:
            if not self.sqlite:
                return self._write_postgresql(conn, decisions, rewards)
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            stored = self._decisions(cur, decisions) if decisions else []
            outcomes = self._rewards(cur, rewards) if rewards else []
            cur.execute("COMMIT")
            cur.close()
        except BaseException as exc:
            self._abort(conn, exc)
            raise
        return stored, outcomes

    def _abort(self, conn: Any, exc: BaseException) -> None:
        """Roll back a failed batch; drop a PostgreSQL connection that failed or cannot roll back."""
        try:
            if self.sqlite:
                raw = conn.driver_connection
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
            else:
                conn.rollback()
        except Exception:
            self.close()
            return
        if not self.sqlite and is_disconnect(exc):
            self.close()

    # ---------------------------------------------------------------- SQLite: one statement per row, in order

    @staticmethod
    def _execute_each(cur: Any, sql: str, rows: list[tuple]) -> list[bool]:
        """Run ``sql`` once per row; per row, whether it inserted (``ON CONFLICT DO NOTHING`` inserts nothing)."""
        out = []
        for row in rows:
            cur.execute(sql, row)
            out.append(cur.rowcount == 1)
        return out

    def _decision_rows(self, entries: Sequence[DecisionEntry]) -> list[tuple]:
        return [self._bind(self._decision_bind, (e.event_id, e.decision_point_id, e.version_id, e.arm, e.action,
                                                 e.propensity, e.context, e.at, bool(e.deferred), None))
                for e in entries]

    def _reward_rows(self, rows: Sequence[RewardRow], pending: list[int], now: datetime) -> list[tuple]:
        return [self._bind(self._reward_bind, (rows[i].event_id, float(rows[i].reward), rows[i].at or now,
                                               rows[i].slot, False)) for i in pending]

    def _decisions(self, cur: Any, entries: Sequence[DecisionEntry]) -> list[bool]:
        return self._execute_each(cur, self._insert_decision, self._decision_rows(entries))

    def _rewards(self, cur: Any, rows: Sequence[RewardRow]) -> list[str]:
        now = utcnow()
        clause, params = self._in(sorted({r.event_id for r in rows}))
        cur.execute(self._select + clause, params)
        judged = self._judge(rows, cur.fetchall(), now)
        if not judged.pending:
            return judged.outcomes
        inserted = self._execute_each(cur, self._insert_reward, self._reward_rows(rows, judged.pending, now))
        lost = {rows[i].event_id for i, ok in zip(judged.pending, inserted, strict=True) if not ok}
        if lost:
            clause, params = self._in(sorted(lost))
            cur.execute(self._select_rewards + clause, params)
            return judged.rejudge(rows, lost, cur.fetchall(), now)
        return judged.outcomes

    # ---------------------------------------------------------------- both: the reward rules

    def _state(self, selected: list) -> tuple[dict, dict]:
        """The ``_select`` rows as ``{event_id: (created_at, deferred, activated_at, reward_window_s)}`` and
        ``{event_id: (reward, slot, is_default)}`` (the rewards already stored)."""
        decisions, existing = {}, {}
        for e, created, deferred, activated, window_s, value, slot, is_default in selected:
            decisions[e] = (self._read_time(created), bool(deferred), self._read_time(activated), float(window_s))
            if value is not None:
                existing[e] = (float(value), slot, bool(is_default))
        return decisions, existing

    def _judge(self, rows: Sequence[RewardRow], selected: list, now: datetime) -> _Judged:
        """Outcomes of ``rows`` given the ``_select`` rows of their decisions; which of them to insert."""
        decisions, existing = self._state(selected)
        outcomes, pending = [], []
        for i, r in enumerate(rows):
            outcome = judge_reward(r, decisions.get(r.event_id), existing.get(r.event_id), now)
            if outcome == STORED:  # a repeat later in this batch is judged against this one
                existing[r.event_id] = (float(r.reward), r.slot, False)
                pending.append(i)
            outcomes.append(outcome)
        return _Judged(outcomes, pending, decisions, existing)

    # ---------------------------------------------------------------- PostgreSQL: one round trip per batch

    def _values(self, sql: str, rows: list[tuple]) -> tuple[str, list]:
        """``sql`` (an ``INSERT ... VALUES (row) ...``) for all ``rows`` in one statement, and its parameters."""
        head, _, tail = sql.partition(" VALUES ")
        one, _, rest = tail.partition(")")
        return f"{head} VALUES {', '.join([one + ')'] * len(rows))}{rest}", [v for row in rows for v in row]

    def _write_postgresql(self, conn: Any, decisions: Sequence[DecisionEntry],
                          rewards: Sequence[RewardRow]) -> tuple[list[bool], list[str]]:
        """The batch in **one round trip** (psycopg's pipeline mode, one sync): ``BEGIN``; one multi-row insert of
        the decisions; one ``INSERT ... SELECT`` of the rewards that checks their decisions (known, active, inside
        the reward window) in SQL; one read of those decisions and rewards as they are now; ``COMMIT``.

        The outcome of a reward that was not inserted is judged in Python on that read (unknown, not activated,
        window closed, duplicate, conflict); a reward stored meanwhile by another process is read too, since the
        insert waits for it. Only the first reward of an event in the batch is sent: later ones are judged against
        it, which equals one-by-one order as long as their times do not go backwards; a batch where they do (no
        API request makes one) takes :meth:`_write_postgresql_stepwise`.
        """
        first_at: dict[str, datetime | None] = {}
        for r in rewards:
            if r.event_id not in first_at:
                first_at[r.event_id] = aware(r.at)
            elif r.at is not None and first_at[r.event_id] is not None and aware(r.at) < first_at[r.event_id]:
                return self._write_postgresql_stepwise(conn, decisions, rewards)
        raw = conn.driver_connection
        if not raw.autocommit:
            raw.autocommit = True  # BEGIN and COMMIT are statements of the pipeline
        now = utcnow()
        first_sent, rows, seen = set(), [], set()
        for i, r in enumerate(rewards):
            if r.event_id not in seen:
                seen.add(r.event_id)
                first_sent.add(i)
                rows.append((r.event_id, float(r.reward), aware(r.at) or now, r.slot))
        cursors = [raw.cursor() for _ in range(3)]
        with raw.pipeline():
            raw.execute("BEGIN")
            if decisions:
                cursors[0].execute(*self._values(self._insert_decision, self._decision_rows(decisions)))
            if rewards:
                cursors[1].execute(self._insert_judged_rewards(len(rows)), [v for row in rows for v in row])
                clause, params = self._in(sorted(seen))
                cursors[2].execute(self._select + clause, params)
            raw.execute("COMMIT")
        stored = _first_inserted(decisions, cursors[0].fetchall()) if decisions else []
        outcomes = []
        if rewards:
            inserted = {row[0] for row in cursors[1].fetchall()}
            decided, existing = self._state(cursors[2].fetchall())  # as they are after the insert
            for i, r in enumerate(rewards):
                if i in first_sent and r.event_id in inserted:
                    outcomes.append(STORED)
                    continue
                outcome = judge_reward(r, decided.get(r.event_id), existing.get(r.event_id), now)
                outcomes.append(WINDOW_CLOSED if outcome == STORED else outcome)  # the database's window check counts
        for cur in cursors:
            cur.close()
        return stored, outcomes

    def _insert_judged_rewards(self, n: int) -> str:
        """``INSERT`` of ``n`` rewards ``(event_id, reward, at, slot)``, each only when its decision is known,
        active and the reward arrives inside its window (the rules of :func:`judge_reward`), once per event."""
        values = ", ".join(["(%s::varchar, %s::float8, %s::timestamptz, %s::integer)"] * n)
        return ("INSERT INTO reward_log (event_id, reward, created_at, slot, is_default) "
                f"SELECT v.event_id, v.reward, v.at, v.slot, false FROM (VALUES {values}) AS v(event_id, reward, at, "
                "slot) JOIN decision_log d ON d.event_id = v.event_id JOIN decision_points p ON p.id = "
                "d.decision_point_id WHERE v.at <= CASE WHEN d.deferred THEN d.activated_at ELSE d.created_at END "
                "+ p.reward_window_s * interval '1 second' ON CONFLICT (event_id) DO NOTHING RETURNING event_id")

    def _write_postgresql_stepwise(self, conn: Any, decisions: Sequence[DecisionEntry],
                                   rewards: Sequence[RewardRow]) -> tuple[list[bool], list[str]]:
        """The batch statement by statement (a multi-row insert of the decisions, a read, a multi-row insert of
        the rewards judged in Python), in one transaction: for batches the pipelined path cannot judge exactly."""
        raw = conn.driver_connection
        now = utcnow()
        cur = raw.cursor()
        if raw.autocommit:
            cur.execute("BEGIN")
        stored = []
        if decisions:
            cur.execute(*self._values(self._insert_decision, self._decision_rows(decisions)))
            stored = _first_inserted(decisions, cur.fetchall())
        outcomes = []
        if rewards:
            clause, params = self._in(sorted({r.event_id for r in rewards}))
            cur.execute(self._select + clause, params)
            judged = self._judge(rewards, cur.fetchall(), now)
            outcomes = judged.outcomes
            if judged.pending:
                cur.execute(*self._values(self._insert_reward, self._reward_rows(rewards, judged.pending, now)))
                lost = {rewards[i].event_id for i in judged.pending} - {row[0] for row in cur.fetchall()}
                if lost:
                    clause, params = self._in(sorted(lost))
                    cur.execute(self._select_rewards + clause, params)
                    outcomes = judged.rejudge(rewards, lost, cur.fetchall(), now)
        cur.execute("COMMIT")
        cur.close()
        return stored, outcomes


def _first_inserted(decisions: Sequence[DecisionEntry], returned: list) -> list[bool]:
    """Per decision, whether it was stored: its event_id is among the ``RETURNING`` rows and it is the first row
    of the batch with that event_id."""
    inserted, first = {row[0] for row in returned}, {}
    for i, e in enumerate(decisions):
        first.setdefault(e.event_id, i)
    return [e.event_id in inserted and first[e.event_id] == i for i, e in enumerate(decisions)]


@dataclass
class _Judged:
    """Rewards judged against their decisions: ``outcomes`` per row, ``pending`` the rows to insert."""

    outcomes: list[str]
    pending: list[int]
    decisions: dict
    existing: dict

    def rejudge(self, rows: Sequence[RewardRow], lost: set[str], stored: list, now: datetime) -> list[str]:
        """Another process stored rewards for the ``lost`` events first: judge against what it stored (the
        ``_select_rewards`` rows ``stored``)."""
        for e, value, slot, is_default in stored:
            self.existing[e] = (float(value), slot, bool(is_default))
        return [judge_reward(r, self.decisions.get(r.event_id), self.existing.get(r.event_id), now)
                if r.event_id in lost else o for r, o in zip(rows, self.outcomes, strict=True)]
