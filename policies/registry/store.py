"""What every concern of the registry shares: the database, the transaction helper and the one audit writer.

Every public call of a concern object (:mod:`~policies.registry.accounts`, :mod:`~policies.registry.catalog`,
:mod:`~policies.registry.approvals`, :mod:`~policies.registry.rollouts`, :mod:`~policies.registry.event_logs`,
:mod:`~policies.registry.analytics`, :mod:`~policies.registry.audit`) is **one transaction**, opened by
:meth:`Store.tx`: it reads the rows it needs (locking them with ``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
transactions start with ``BEGIN IMMEDIATE``), checks the rules of :mod:`policies.registry.workflow`, changes state
with a compare-and-set ``UPDATE ... WHERE state = <expected>`` whose row count is checked (:meth:`Store.move`),
writes its audit row (:meth:`Store.audit`, the only code that writes one) and commits. An exception anywhere rolls
all of it back.

Acting users are :class:`~policies.registry.records.UserRecord` values; their role and active flag are re-read
inside each transaction (:meth:`Store.actor`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from policies.registry import lookups
from policies.registry import workflow as wf
from policies.registry.db import check_schema, make_engine, make_sessionmaker
from policies.registry.errors import AuthenticationFailed, ConcurrentTransition, PermissionDenied
from policies.registry.models import AuditEntry, PolicyVersion, User, utcnow
from policies.registry.records import UserRecord
from policies.registry.security import make_hasher

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def check_name(what: str, value: str) -> str:
    """``value`` when it is a registry name (1-64 letters, digits, ``_.-``); else a ``ValueError`` naming ``what``."""
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError(f"{what}: expected 1-64 letters, digits, '_', '.', '-' (starting with a letter or "
                         f"digit), found {value!r}")
    return value


def check_number(what: str, value: Any, *, lower: float | None = None, upper: float | None = None,
                 lower_open: bool = False, upper_open: bool = False) -> float:
    """``value`` as a float when it is finite and inside the bounds; else a ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise ValueError(f"{what}: expected a finite number, found {value!r}")
    value = float(value)
    too_low = lower is not None and (value <= lower if lower_open else value < lower)
    too_high = upper is not None and (value >= upper if upper_open else value > upper)
    if too_low or too_high:
        lo = "-inf" if lower is None else f"{lower:g}"
        hi = "inf" if upper is None else f"{upper:g}"
        raise ValueError(f"{what}: expected a number in {'(' if lower_open else '['}{lo}, {hi}"
                         f"{')' if upper_open else ']'}, found {value:g}")
    return value


class Store:
    """The registry's database: engine, sessions, password hasher, transactions and audit rows.

    :param url: SQLAlchemy URL (``None``: ``DATABASE_URL``, else ``registry.db`` in the data directory).
    :param engine: an existing engine (wins over ``url``).
    :param hasher: the argon2 password hasher (default: argon2-cffi's RFC 9106 low-memory profile).
    :param check: refuse a database that is not at the newest migration (``SchemaOutOfDate``).
    """

    def __init__(self, url: str | None = None, *, engine: Engine | None = None,
                 hasher: PasswordHasher | None = None, check: bool = True):
        self.engine = engine if engine is not None else make_engine(url)
        if check:
            check_schema(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.hasher = hasher if hasher is not None else make_hasher()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """One transaction: commits when the block ends, rolls everything back on an exception."""
        with self.sessions() as session, session.begin():
            yield session

    def audit(self, s: Session, actor: str, action: str, entity_type: str, entity_id: int | None,
              entity_name: str, from_state: str | None = None, to_state: str | None = None,
              reason: str | None = None, details: Any = None) -> None:
        """Append one audit row inside the caller's transaction (the registry's only audit writer)."""
        s.add(AuditEntry(at=utcnow(), actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                         entity_name=entity_name, from_state=from_state, to_state=to_state, reason=reason,
                         details=details))
        s.flush()

    def actor(self, s: Session, actor: UserRecord | None, action: str) -> User:
        """The acting user's row, re-read now: it must exist, be active and have a role allowed ``action``."""
        if actor is None:
            raise PermissionDenied(f"'{action}' needs an authenticated user (--user/--password)")
        user = s.get(User, actor.id)
        if user is None or user.username != actor.username:
            raise AuthenticationFailed(f"user {actor.username!r} no longer exists")
        if not user.active:
            raise PermissionDenied(f"user {user.username!r} is deactivated")
        wf.check_role(action, user.username, user.role)
        return user

    def self_or_admin(self, s: Session, actor: UserRecord | None, username: str) -> str:
        """The acting user's name when they act on themselves (and are active) or are an admin."""
        if actor is not None and actor.username == username:
            me = s.get(User, actor.id)
            if me is None or me.username != username or not me.active:
                raise PermissionDenied(f"user {username!r} cannot act (unknown or deactivated)")
            return me.username
        return self.actor(s, actor, "manage_users").username

    def move(self, s: Session, version: PolicyVersion, action: str, actor: str, *, reason: str | None = None,
             details: Any = None) -> str:
        """Compare-and-set the version's state along ``action`` and write the audit row; returns the new state."""
        current = version.state
        ref = lookups.ref(s, version)
        target = wf.transition(action, current, f"policy version {ref}")
        now = utcnow()
        result = s.execute(
            update(PolicyVersion)
            .where(PolicyVersion.id == version.id, PolicyVersion.state == current)
            .values(state=target, updated_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise ConcurrentTransition(f"policy version {ref}", current, target, action)
        set_committed_value(version, "state", target)
        set_committed_value(version, "updated_at", now)
        self.audit(s, actor, action, "policy_version", version.id, ref, current, target, reason, details)
        return target
