"""The policy registry's repository: the only code that opens a session on the registry database.

Every public method of :class:`Registry` is one transaction: it reads the rows it needs (locking them with
``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions start with ``BEGIN IMMEDIATE``), checks the rules
of :mod:`policies.registry.workflow`, changes state with a compare-and-set ``UPDATE ... WHERE state = <expected>``
whose row count is checked, writes its audit row and commits. An exception anywhere rolls all of it back.

Acting users are :class:`~policies.registry.records.UserRecord` values from :meth:`Registry.authenticate` (or
:meth:`Registry.authenticate_token`); their role and active flag are re-read inside each transaction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from policies.registry import workflow as wf
from policies.registry.db import check_schema, make_engine, make_sessionmaker
from policies.registry.errors import (
    AlreadyExists,
    ApprovalRuleFailed,
    AuthenticationFailed,
    ConcurrentTransition,
    InvalidTransition,
    MissingEvaluation,
    NotFound,
    PermissionDenied,
    RegistryError,
)
from policies.registry.guardrail import ROLL_BACK, ArmStats, judge
from policies.registry.models import (
    ApiToken,
    ApprovalRequest,
    AuditEntry,
    DecisionLog,
    DecisionPoint,
    EvaluationReport,
    Policy,
    PolicyVersion,
    RewardLog,
    Rollout,
    User,
    utcnow,
)
from policies.registry.records import (
    ApprovalRecord,
    AuditRecord,
    DecisionPointRecord,
    GuardrailResult,
    ReportRecord,
    RolloutRecord,
    TokenRecord,
    TrafficSplit,
    UserRecord,
    VersionRecord,
    aware,
)
from policies.registry.reports import apply_rule, choose_estimator, parse_estimates, validate_report
from policies.registry.security import hash_password, hash_token, make_hasher, new_token, verify_password

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
GUARDRAIL_ACTOR = "system:guardrail"
VersionRef = int | str


def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError(f"{what}: expected 1-64 letters, digits, '_', '.', '-' (starting with a letter or "
                         f"digit), found {value!r}")
    return value


def _check_number(what: str, value: Any, *, lower: float | None = None, upper: float | None = None,
                  lower_open: bool = False, upper_open: bool = False) -> float:
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


class Registry:
    """The policy registry on one database.

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

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    # ------------------------------------------------------------------ helpers (inside a transaction)

    def _audit(self, s: Session, actor: str, action: str, entity_type: str, entity_id: int | None,
               entity_name: str, from_state: str | None = None, to_state: str | None = None,
               reason: str | None = None, details: Any = None) -> None:
        s.add(AuditEntry(at=utcnow(), actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                         entity_name=entity_name, from_state=from_state, to_state=to_state, reason=reason,
                         details=details))
        s.flush()

    def _actor(self, s: Session, actor: UserRecord | None, action: str) -> User:
        if actor is None:
            raise PermissionDenied(f"'{action}' needs an authenticated user (--user/--password)")
        user = s.get(User, actor.id)
        if user is None or user.username != actor.username:
            raise AuthenticationFailed(f"user {actor.username!r} no longer exists")
        if not user.active:
            raise PermissionDenied(f"user {user.username!r} is deactivated")
        wf.check_role(action, user.username, user.role)
        return user

    def _self_or_admin(self, s: Session, actor: UserRecord | None, username: str) -> str:
        """The acting user's name when they act on themselves (and are active) or are an admin."""
        if actor is not None and actor.username == username:
            me = s.get(User, actor.id)
            if me is None or me.username != username or not me.active:
                raise PermissionDenied(f"user {username!r} cannot act (unknown or deactivated)")
            return me.username
        return self._actor(s, actor, "manage_users").username

    def _user_by_name(self, s: Session, username: str) -> User:
        user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no user named {username!r}")
        return user

    def _username(self, s: Session, user_id: int | None) -> str | None:
        return None if user_id is None else s.get(User, user_id).username

    def _dp(self, s: Session, name: str, lock: bool = False) -> DecisionPoint:
        query = select(DecisionPoint).where(DecisionPoint.name == name)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        dp = s.execute(query).scalar_one_or_none()
        if dp is None:
            known = s.execute(select(DecisionPoint.name).order_by(DecisionPoint.name)).scalars().all()
            raise NotFound(f"no decision point named {name!r}; known: {known}")
        return dp

    def _version(self, s: Session, ref: VersionRef, lock: bool = False) -> PolicyVersion:
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
        query = select(PolicyVersion).where(PolicyVersion.id == version_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        version = s.execute(query).scalar_one_or_none()
        if version is None:
            raise NotFound(f"no policy version with id {version_id}")
        return version

    def _lock_dp_and_version(self, s: Session, ref: VersionRef) -> tuple[DecisionPoint, PolicyVersion]:
        """Lock the version's decision point, then the version: every transition that looks at or changes the
        decision point's champion/canary takes the locks in this order (no deadlocks between them)."""
        found = self._version(s, ref)
        dp = s.execute(select(DecisionPoint).where(DecisionPoint.id == found.decision_point_id).with_for_update()
                       .execution_options(populate_existing=True)).scalar_one()
        return dp, self._version(s, found.id, lock=True)

    def _ref(self, s: Session, version: PolicyVersion | None) -> str | None:
        if version is None:
            return None
        return f"{s.get(Policy, version.policy_id).name}:{version.version}"

    def _ref_id(self, s: Session, version_id: int | None) -> str | None:
        return None if version_id is None else self._ref(s, s.get(PolicyVersion, version_id))

    def _live(self, s: Session, dp_id: int, lock: bool = False) -> PolicyVersion | None:
        query = select(PolicyVersion).where(PolicyVersion.decision_point_id == dp_id, PolicyVersion.state == wf.LIVE)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return s.execute(query).scalar_one_or_none()

    def _canary_rollout(self, s: Session, dp_id: int, lock: bool = False) -> Rollout | None:
        query = select(Rollout).where(Rollout.decision_point_id == dp_id, Rollout.state == "canary")
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return s.execute(query).scalar_one_or_none()

    def _move(self, s: Session, version: PolicyVersion, action: str, actor: str, *, reason: str | None = None,
              details: Any = None) -> str:
        """Compare-and-set the version's state along ``action`` and write the audit row; returns the new state."""
        current = version.state
        ref = self._ref(s, version)
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
        self._audit(s, actor, action, "policy_version", version.id, ref, current, target, reason, details)
        return target

    # ------------------------------------------------------------------ records

    @staticmethod
    def _user_record(u: User) -> UserRecord:
        return UserRecord(u.id, u.username, u.role, bool(u.active), aware(u.created_at))

    @staticmethod
    def _dp_record(d: DecisionPoint) -> DecisionPointRecord:
        return DecisionPointRecord(d.id, d.name, d.kind, d.action_space, d.baseline_action, d.reward_window_s,
                                   d.default_reward, d.approval_estimator, d.approval_rule, d.guardrail_bound,
                                   d.guardrail_confidence, d.guardrail_min_count, bool(d.killed),
                                   aware(d.created_at))

    def _version_record(self, s: Session, v: PolicyVersion) -> VersionRecord:
        policy = s.get(Policy, v.policy_id)
        return VersionRecord(v.id, f"{policy.name}:{v.version}", policy.name, v.version,
                             s.get(DecisionPoint, v.decision_point_id).name, v.state, v.artefact_uri,
                             v.artefact_sha256, v.train_config, v.train_metrics, self._username(s, v.created_by),
                             aware(v.created_at), aware(v.updated_at))

    def _report_record(self, s: Session, r: EvaluationReport) -> ReportRecord:
        return ReportRecord(r.id, s.get(DecisionPoint, r.decision_point_id).name, self._ref_id(s, r.version_id),
                            r.kind, self._ref_id(s, r.against_version_id), r.report, r.markdown, list(r.uris),
                            self._username(s, r.created_by), aware(r.created_at))

    def _approval_record(self, s: Session, a: ApprovalRequest) -> ApprovalRecord:
        return ApprovalRecord(a.id, self._ref_id(s, a.version_id), self._username(s, a.requested_by),
                              a.request_comment, aware(a.requested_at), a.status, self._username(s, a.decided_by),
                              a.decision_comment, aware(a.decided_at))

    def _rollout_record(self, s: Session, r: Rollout) -> RolloutRecord:
        return RolloutRecord(r.id, s.get(DecisionPoint, r.decision_point_id).name,
                             self._ref_id(s, r.challenger_version_id), self._ref_id(s, r.champion_version_id),
                             r.traffic_percent, r.state, aware(r.started_at), aware(r.ended_at), r.end_reason)

    @staticmethod
    def _audit_record(a: AuditEntry) -> AuditRecord:
        return AuditRecord(a.id, aware(a.at), a.actor, a.action, a.entity_type, a.entity_id, a.entity_name,
                           a.from_state, a.to_state, a.reason, a.details)

    # ------------------------------------------------------------------ users and tokens

    def create_user(self, actor: UserRecord | None, username: str, password: str, role: str) -> UserRecord:
        """Create a user. ``actor`` must be an admin; with no users yet, ``actor=None`` bootstraps the first admin.

        :param username: 1-64 letters, digits, ``_.-``.
        :param password: at least 8 characters; stored only as an argon2id hash.
        :param role: ``viewer``, ``requester``, ``approver`` or ``admin``.
        """
        _check_name("username", username)
        wf.check_choice("role", role, wf.ROLES)
        password_hash = hash_password(self.hasher, password)
        with self._tx() as s:
            if actor is None:
                if s.execute(select(func.count(User.id))).scalar_one() > 0:
                    raise PermissionDenied("creating a user needs an admin (--user/--password); only the very "
                                           "first user may be created without one")
                if role != wf.ADMIN:
                    raise ValueError(f"role: the first user must be an admin, found {role!r}")
                actor_name = "system:bootstrap"
            else:
                actor_name = self._actor(s, actor, "manage_users").username
            if s.execute(select(User.id).where(User.username == username)).first() is not None:
                raise AlreadyExists(f"user {username!r} already exists")
            user = User(username=username, password_hash=password_hash, role=role, active=True, created_at=utcnow())
            s.add(user)
            s.flush()
            self._audit(s, actor_name, "user.create", "user", user.id, username, None, role)
            return self._user_record(user)

    def authenticate(self, username: str, password: str) -> UserRecord:
        """The active user ``username`` when ``password`` matches; else :class:`AuthenticationFailed`."""
        with self._tx() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
            stored = user.password_hash if user is not None else None
        if user is None or not verify_password(self.hasher, stored, password or ""):
            raise AuthenticationFailed(f"authentication failed for user {username!r}: unknown user or wrong password")
        if not user.active:
            raise AuthenticationFailed(f"user {username!r} is deactivated")
        return self._user_record(user)

    def set_role(self, actor: UserRecord, username: str, role: str) -> UserRecord:
        """Change a user's role (admins only)."""
        wf.check_choice("role", role, wf.ROLES)
        with self._tx() as s:
            admin = self._actor(s, actor, "manage_users")
            user = self._user_by_name(s, username)
            old = user.role
            user.role = role
            self._audit(s, admin.username, "user.role", "user", user.id, username, old, role)
            return self._user_record(user)

    def set_active(self, actor: UserRecord, username: str, active: bool) -> UserRecord:
        """Activate or deactivate a user (admins only; a deactivated user can neither log in nor act)."""
        with self._tx() as s:
            admin = self._actor(s, actor, "manage_users")
            user = self._user_by_name(s, username)
            if user.id == admin.id and not active:
                raise ValueError("an admin cannot deactivate themselves; ask another admin")
            old = "active" if user.active else "inactive"
            user.active = bool(active)
            self._audit(s, admin.username, "user.activate" if active else "user.deactivate", "user", user.id,
                        username, old, "active" if active else "inactive")
            return self._user_record(user)

    def set_password(self, actor: UserRecord, username: str, password: str) -> None:
        """Change a password: admins for anyone, every user for themselves."""
        password_hash = hash_password(self.hasher, password)
        with self._tx() as s:
            acting = self._self_or_admin(s, actor, username)
            user = self._user_by_name(s, username)
            user.password_hash = password_hash
            self._audit(s, acting, "user.password", "user", user.id, username)

    def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        with self._tx() as s:
            return [self._user_record(u) for u in s.execute(select(User).order_by(User.username)).scalars()]

    def create_token(self, actor: UserRecord, username: str, name: str) -> tuple[TokenRecord, str]:
        """Create an API token for ``username`` (admins for anyone, users for themselves).

        :return: the token's record and the token itself; only its SHA-256 hash is stored, so show it once.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name: expected a non-empty label for the token")
        token = new_token()
        with self._tx() as s:
            acting = self._self_or_admin(s, actor, username)
            user = self._user_by_name(s, username)
            row = ApiToken(user_id=user.id, name=name.strip(), token_hash=hash_token(token), prefix=token[:12],
                           created_at=utcnow())
            s.add(row)
            s.flush()
            self._audit(s, acting, "token.create", "api_token", row.id, f"{username}/{row.name}",
                        None, "active", details={"prefix": row.prefix})
            return TokenRecord(row.id, username, row.name, row.prefix, aware(row.created_at), None), token

    def revoke_token(self, actor: UserRecord, token_id: int) -> TokenRecord:
        """Revoke a token (admins, or the token's owner)."""
        with self._tx() as s:
            row = s.get(ApiToken, int(token_id))
            if row is None:
                raise NotFound(f"no API token with id {token_id}")
            owner = s.get(User, row.user_id)
            if actor is not None and actor.id == owner.id:
                acting = owner.username
            else:
                acting = self._actor(s, actor, "manage_users").username
            if row.revoked_at is not None:
                raise InvalidTransition(f"API token {row.id}", "revoked", "revoked", "revoke", ("active",))
            row.revoked_at = utcnow()
            self._audit(s, acting, "token.revoke", "api_token", row.id, f"{owner.username}/{row.name}",
                        "active", "revoked")
            return TokenRecord(row.id, owner.username, row.name, row.prefix, aware(row.created_at),
                               aware(row.revoked_at))

    def list_tokens(self, username: str | None = None) -> list[TokenRecord]:
        """API tokens (never the tokens themselves), optionally of one user."""
        with self._tx() as s:
            query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
            if username is not None:
                query = query.where(User.username == username)
            return [TokenRecord(t.id, name, t.name, t.prefix, aware(t.created_at), aware(t.revoked_at))
                    for t, name in s.execute(query)]

    def authenticate_token(self, token: str) -> UserRecord:
        """The active user owning the unrevoked API ``token``; else :class:`AuthenticationFailed`."""
        if not isinstance(token, str) or not token:
            raise AuthenticationFailed("missing API token")
        with self._tx() as s:
            row = s.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                raise AuthenticationFailed("unknown or revoked API token")
            user = s.get(User, row.user_id)
            if not user.active:
                raise AuthenticationFailed(f"the token's user {user.username!r} is deactivated")
            return self._user_record(user)

    # ------------------------------------------------------------------ decision points

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
        _check_name("name", name)
        wf.check_choice("kind", kind, wf.DECISION_POINT_KINDS)
        wf.check_choice("approval_rule", approval_rule, wf.APPROVAL_RULES)
        reward_window_s = _check_number("reward_window_s", reward_window_s, lower=0.0, lower_open=True)
        default_reward = _check_number("default_reward", default_reward)
        guardrail_bound = _check_number("guardrail_bound", guardrail_bound, lower=0.0)
        guardrail_confidence = _check_number("guardrail_confidence", guardrail_confidence, lower=0.0, upper=1.0,
                                             lower_open=True, upper_open=True)
        if isinstance(guardrail_min_count, bool) or not isinstance(guardrail_min_count, int) or guardrail_min_count < 2:
            raise ValueError(f"guardrail_min_count: expected a whole number >= 2, found {guardrail_min_count!r}")
        if action_space is None or baseline_action is None:
            raise ValueError("action_space and baseline_action: expected JSON values, found None")
        with self._tx() as s:
            admin = self._actor(s, actor, "add_decision_point")
            if s.execute(select(DecisionPoint.id).where(DecisionPoint.name == name)).first() is not None:
                raise AlreadyExists(f"decision point {name!r} already exists")
            dp = DecisionPoint(name=name, kind=kind, action_space=action_space, baseline_action=baseline_action,
                               reward_window_s=reward_window_s, default_reward=default_reward,
                               approval_estimator=approval_estimator or None, approval_rule=approval_rule,
                               guardrail_bound=guardrail_bound, guardrail_confidence=guardrail_confidence,
                               guardrail_min_count=guardrail_min_count, killed=False, created_at=utcnow())
            s.add(dp)
            s.flush()
            record = self._dp_record(dp)
            self._audit(s, admin.username, "decision_point.create", "decision_point", dp.id, name, None, "serving",
                        details={k: v for k, v in record.__dict__.items() if k not in ("id", "created_at")})
            return record

    def get_decision_point(self, name: str) -> DecisionPointRecord:
        with self._tx() as s:
            return self._dp_record(self._dp(s, name))

    def list_decision_points(self) -> list[DecisionPointRecord]:
        with self._tx() as s:
            return [self._dp_record(d) for d in s.execute(select(DecisionPoint).order_by(DecisionPoint.name)).scalars()]

    def attach_baseline_report(self, actor: UserRecord, decision_point: str, report: dict, *,
                               markdown: str | None = None, uris: Sequence[str] = ()) -> ReportRecord:
        """Attach an evaluation of the decision point's baseline action: the reference while there is no champion."""
        validate_report(report)
        with self._tx() as s:
            user = self._actor(s, actor, "attach_baseline_report")
            dp = self._dp(s, decision_point)
            row = EvaluationReport(decision_point_id=dp.id, version_id=None, kind="baseline",
                                   against_version_id=None, report=report, markdown=markdown, uris=list(uris),
                                   created_by=user.id, created_at=utcnow())
            s.add(row)
            s.flush()
            self._audit(s, user.username, "report.baseline", "decision_point", dp.id, dp.name,
                        details={"report_id": row.id})
            return self._report_record(s, row)

    # ------------------------------------------------------------------ versions and evidence

    def register_version(self, actor: UserRecord, decision_point: str, policy: str, artefact_uri: str,
                         artefact_sha256: str, *, train_config: Mapping | None = None,
                         train_metrics: Mapping | None = None, description: str | None = None) -> VersionRecord:
        """Register a new version (state ``candidate``) of ``policy`` (created on first use) for a decision point.

        :param artefact_uri: where the artefact lives (``file:///...``, ``s3://...``).
        :param artefact_sha256: its SHA-256 (64 lowercase hex digits; :func:`~policies.registry.artefacts.artefact_sha256`).
        :param train_config: the training run's config (JSON object).
        :param train_metrics: the training run's metrics (JSON object).
        """
        _check_name("policy", policy)
        if not isinstance(artefact_uri, str) or not artefact_uri:
            raise ValueError("artefact_uri: expected a non-empty URI")
        if not isinstance(artefact_sha256, str) or not SHA256_RE.match(artefact_sha256):
            raise ValueError(f"artefact_sha256: expected 64 lowercase hex digits, found {artefact_sha256!r}")
        for what, value in (("train_config", train_config), ("train_metrics", train_metrics)):
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{what}: expected a JSON object, found {type(value).__name__}")
        with self._tx() as s:
            user = self._actor(s, actor, "register")
            dp = self._dp(s, decision_point)
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
            self._audit(s, user.username, "register", "policy_version", version.id, f"{policy}:{number}", None,
                        wf.CANDIDATE, details={"artefact_uri": artefact_uri, "artefact_sha256": artefact_sha256})
            return self._version_record(s, version)

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
        with self._tx() as s:
            user = self._actor(s, actor, "evaluate")
            _, v = self._lock_dp_and_version(s, version)
            champion = self._live(s, v.decision_point_id)
            row = EvaluationReport(decision_point_id=v.decision_point_id, version_id=v.id, kind="version",
                                   against_version_id=champion.id if champion else None, report=report,
                                   markdown=markdown, uris=list(uris), created_by=user.id, created_at=utcnow())
            s.add(row)
            s.flush()
            self._move(s, v, "evaluate", user.username, reason=f"report #{row.id} against "
                       f"{self._ref(s, champion) or 'no champion'}", details={"report_id": row.id})
            return self._report_record(s, row)

    def request_approval(self, actor: UserRecord, version: VersionRef, comment: str | None = None) -> ApprovalRecord:
        """Open an approval request for an ``evaluated`` version (one open request per version)."""
        with self._tx() as s:
            user = self._actor(s, actor, "request_approval")
            v = self._version(s, version, lock=True)
            ref = self._ref(s, v)
            if v.state != wf.EVALUATED:
                raise InvalidTransition(f"policy version {ref}", v.state, wf.APPROVED, "request_approval",
                                        (wf.EVALUATED,))
            if self._open_request(s, v.id) is not None:
                raise AlreadyExists(f"policy version {ref} already has an open approval request")
            row = ApprovalRequest(version_id=v.id, requested_by=user.id, request_comment=comment,
                                  requested_at=utcnow(), status="open")
            s.add(row)
            s.flush()
            self._audit(s, user.username, "request_approval", "policy_version", v.id, ref, v.state, v.state,
                        reason=comment, details={"request_id": row.id})
            return self._approval_record(s, row)

    def _open_request(self, s: Session, version_id: int) -> ApprovalRequest | None:
        return s.execute(select(ApprovalRequest).where(ApprovalRequest.version_id == version_id,
                                                       ApprovalRequest.status == "open")).scalar_one_or_none()

    def _evidence(self, s: Session, v: PolicyVersion, dp: DecisionPoint, ref: str) -> tuple[str, dict]:
        """Check the approval rule for ``v``; returns the reason in words and the details for the audit row."""
        champion = self._live(s, dp.id)
        champion_ref = self._ref(s, champion)
        reports = s.execute(select(EvaluationReport).where(EvaluationReport.version_id == v.id)
                            .order_by(EvaluationReport.id.desc())).scalars().all()
        if not reports:
            raise MissingEvaluation(f"cannot approve {ref}: it has no evaluation report; attach one "
                                    f"(retailrl registry attach-report)")
        wanted = champion.id if champion else None
        current = [r for r in reports if r.against_version_id == wanted]
        if not current:
            against = sorted({self._ref_id(s, r.against_version_id) or "no champion" for r in reports})
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
        with self._tx() as s:
            user = self._actor(s, actor, "approve")
            dp, v = self._lock_dp_and_version(s, version)
            ref = self._ref(s, v)
            wf.transition("approve", v.state, f"policy version {ref}")
            request = self._open_request(s, v.id)
            if request is None:
                raise InvalidTransition(f"policy version {ref}", f"{v.state} (no open approval request)",
                                        wf.APPROVED, "approve", (wf.EVALUATED,))
            wf.check_four_eyes(user.username, self._username(s, request.requested_by),
                               self._username(s, v.created_by))
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
            self._move(s, v, "approve", user.username, reason=reason, details=details)
            return self._version_record(s, v)

    def reject(self, actor: UserRecord, version: VersionRef, comment: str | None = None) -> VersionRecord:
        """Reject a version (from ``candidate``, ``evaluated``, ``approved`` or ``canary``; approvers only).

        Its open approval request is closed as rejected; a canary's rollout ends and its traffic returns.
        """
        with self._tx() as s:
            user = self._actor(s, actor, "reject")
            _, v = self._lock_dp_and_version(s, version)
            wf.transition("reject", v.state, f"policy version {self._ref(s, v)}")
            if v.state == wf.CANARY:
                self._end_rollout(s, v.decision_point_id, "rejected", comment or "rejected")
            request = self._open_request(s, v.id)
            if request is not None:
                if request.requested_by == user.id:
                    request.status = "withdrawn"
                else:
                    request.status, request.decided_by = "rejected", user.id
                request.decision_comment, request.decided_at = comment, utcnow()
            self._move(s, v, "reject", user.username, reason=comment,
                       details={"request_id": request.id if request else None})
            return self._version_record(s, v)

    # ------------------------------------------------------------------ rollouts

    def _end_rollout(self, s: Session, dp_id: int, state: str, reason: str) -> Rollout | None:
        rollout = self._canary_rollout(s, dp_id, lock=True)
        if rollout is not None:
            rollout.state, rollout.ended_at, rollout.end_reason = state, utcnow(), reason
            s.flush()
        return rollout

    def start_canary(self, actor: UserRecord, version: VersionRef, traffic_percent: float) -> RolloutRecord:
        """Send ``traffic_percent`` (0-100, exclusive) of the decision point to an ``approved`` version.

        The rest stays with the champion (or the baseline action when there is none). One canary per decision
        point at a time; refused while the kill switch is on.
        """
        traffic_percent = wf.check_traffic_percent(traffic_percent)
        with self._tx() as s:
            user = self._actor(s, actor, "start_canary")
            dp, v = self._lock_dp_and_version(s, version)
            ref = self._ref(s, v)
            wf.transition("start_canary", v.state, f"policy version {ref}")
            if dp.killed:
                raise RegistryError(f"decision point {dp.name!r} is killed (100% baseline): revive it before "
                                    f"starting a canary")
            other = self._canary_rollout(s, dp.id)
            if other is not None:
                raise RegistryError(f"decision point {dp.name!r} already runs a canary "
                                    f"({self._ref_id(s, other.challenger_version_id)}); promote or roll it back first")
            champion = self._live(s, dp.id)
            rollout = Rollout(decision_point_id=dp.id, challenger_version_id=v.id,
                              champion_version_id=champion.id if champion else None, traffic_percent=traffic_percent,
                              state="canary", started_by=user.id, started_at=utcnow())
            s.add(rollout)
            s.flush()
            self._move(s, v, "start_canary", user.username, reason=f"canary at {traffic_percent:g}% against "
                       f"{self._ref(s, champion) or 'the baseline'}",
                       details={"rollout_id": rollout.id, "traffic_percent": traffic_percent})
            return self._rollout_record(s, rollout)

    def set_traffic(self, actor: UserRecord, version: VersionRef, traffic_percent: float) -> RolloutRecord:
        """Change a running canary's traffic share."""
        traffic_percent = wf.check_traffic_percent(traffic_percent)
        with self._tx() as s:
            user = self._actor(s, actor, "set_traffic")
            _, v = self._lock_dp_and_version(s, version)
            ref = self._ref(s, v)
            wf.transition("set_traffic", v.state, f"policy version {ref}")
            rollout = self._canary_rollout(s, v.decision_point_id, lock=True)
            old = rollout.traffic_percent
            rollout.traffic_percent = traffic_percent
            s.flush()
            self._audit(s, user.username, "set_traffic", "policy_version", v.id, ref, v.state, v.state,
                        reason=f"traffic {old:g}% -> {traffic_percent:g}%",
                        details={"rollout_id": rollout.id, "from": old, "to": traffic_percent})
            return self._rollout_record(s, rollout)

    def promote(self, actor: UserRecord, version: VersionRef, comment: str | None = None) -> VersionRecord:
        """Make a ``canary`` version live (100%); the previous champion becomes ``retired`` (the rollback target)."""
        with self._tx() as s:
            user = self._actor(s, actor, "promote")
            dp, v = self._lock_dp_and_version(s, version)
            ref = self._ref(s, v)
            wf.transition("promote", v.state, f"policy version {ref}")
            champion = self._live(s, dp.id, lock=True)
            if champion is not None:
                self._move(s, champion, "retire", user.username, reason=f"replaced by {ref}")
            rollout = self._end_rollout(s, dp.id, "promoted", comment or "promoted")
            self._move(s, v, "promote", user.username, reason=comment,
                       details={"rollout_id": rollout.id if rollout else None,
                                "previous_champion": self._ref(s, champion)})
            return self._version_record(s, v)

    def _rollback(self, s: Session, dp: DecisionPoint, actor_name: str, reason: str | None,
                  details: dict | None = None) -> PolicyVersion:
        rollout = self._canary_rollout(s, dp.id, lock=True)
        if rollout is not None:
            v = self._version(s, rollout.challenger_version_id, lock=True)
            self._end_rollout(s, dp.id, "rolled_back", reason or "rolled back")
            self._move(s, v, "rollback", actor_name, reason=reason,
                       details={**(details or {}), "rollout_id": rollout.id,
                                "traffic_to": self._ref_id(s, rollout.champion_version_id) or "baseline"})
            return v
        live = self._live(s, dp.id, lock=True)
        if live is None:
            raise InvalidTransition(f"decision point {dp.name}", "no canary or live version", wf.ROLLED_BACK,
                                    "rollback", (wf.CANARY, wf.LIVE))
        last_good = s.execute(
            select(PolicyVersion).where(PolicyVersion.decision_point_id == dp.id, PolicyVersion.state == wf.RETIRED)
            .order_by(PolicyVersion.updated_at.desc(), PolicyVersion.id.desc()).limit(1)
            .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
        self._move(s, live, "rollback", actor_name, reason=reason,
                   details={**(details or {}), "restored": self._ref(s, last_good) or "baseline"})
        if last_good is not None:
            self._move(s, last_good, "restore", actor_name, reason=f"last good version, after rolling back "
                       f"{self._ref(s, live)}")
        return live

    def rollback(self, actor: UserRecord, decision_point: str, reason: str | None = None) -> VersionRecord:
        """Roll back in one step: a running canary (traffic returns to the champion), else the live version
        (the last good version, the most recently retired one, is live again; with none, the baseline serves).

        :return: the version that was rolled back.
        """
        with self._tx() as s:
            user = self._actor(s, actor, "rollback")
            dp = self._dp(s, decision_point, lock=True)
            v = self._rollback(s, dp, user.username, reason)
            return self._version_record(s, v)

    def kill(self, actor: UserRecord, decision_point: str, reason: str | None = None) -> DecisionPointRecord:
        """Kill switch: send 100% of the decision point to its baseline action (versions keep their states)."""
        return self._set_killed(actor, decision_point, True, reason)

    def revive(self, actor: UserRecord, decision_point: str, reason: str | None = None) -> DecisionPointRecord:
        """Turn the kill switch off: traffic goes back to the champion / canary split."""
        return self._set_killed(actor, decision_point, False, reason)

    def _set_killed(self, actor: UserRecord, decision_point: str, killed: bool,
                    reason: str | None) -> DecisionPointRecord:
        action = "kill" if killed else "revive"
        with self._tx() as s:
            user = self._actor(s, actor, action)
            dp = self._dp(s, decision_point, lock=True)
            current, target = ("killed", "serving") if dp.killed else ("serving", "killed")
            if bool(dp.killed) == killed:
                raise InvalidTransition(f"decision point {dp.name}", current, current, action,
                                        ("serving",) if killed else ("killed",))
            changed = s.execute(update(DecisionPoint).where(DecisionPoint.id == dp.id, DecisionPoint.killed == dp.killed)
                                .values(killed=killed).execution_options(synchronize_session=False))
            if changed.rowcount != 1:
                raise ConcurrentTransition(f"decision point {dp.name}", current, target, action)
            set_committed_value(dp, "killed", killed)
            self._audit(s, user.username, action, "decision_point", dp.id, dp.name, current, target, reason)
            return self._dp_record(dp)

    def traffic(self, decision_point: str) -> TrafficSplit:
        """Where the decision point's traffic goes now (what the decision API serves)."""
        with self._tx() as s:
            dp = self._dp(s, decision_point)
            if dp.killed:
                return TrafficSplit(dp.name, True, (("baseline", None, 100.0),))
            champion = self._live(s, dp.id)
            rest = ("champion", self._ref(s, champion)) if champion else ("baseline", None)
            rollout = self._canary_rollout(s, dp.id)
            if rollout is None:
                return TrafficSplit(dp.name, False, ((*rest, 100.0),))
            challenger = ("challenger", self._ref_id(s, rollout.challenger_version_id), rollout.traffic_percent)
            return TrafficSplit(dp.name, False, ((*rest, 100.0 - rollout.traffic_percent), challenger))

    # ------------------------------------------------------------------ decision and reward logs, guardrail

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
            propensity = _check_number("propensity", propensity, lower=0.0, upper=1.0, lower_open=True)
        if (arm == "baseline") != (version is None):
            raise ValueError(f"version: expected one for arm {arm!r}" if version is None
                             else "version: the baseline arm has no version")
        with self._tx() as s:
            dp = self._dp(s, decision_point)
            version_id = None
            if version is not None:
                v = self._version(s, version)
                if v.decision_point_id != dp.id:
                    raise ValueError(f"version {self._ref(s, v)} does not belong to decision point {dp.name!r}")
                version_id = v.id
            s.add(DecisionLog(event_id=event_id, decision_point_id=dp.id, version_id=version_id, arm=arm,
                              action=action, propensity=propensity, context=context, created_at=at or utcnow()))
            try:
                s.flush()
            except IntegrityError:
                raise AlreadyExists(f"event_id {event_id!r} is already logged") from None

    def log_reward(self, event_id: str, reward: float, *, at: datetime | None = None) -> None:
        """Record the reward of a logged decision (one per decision)."""
        reward = _check_number("reward", reward)
        with self._tx() as s:
            if s.execute(select(DecisionLog.id).where(DecisionLog.event_id == event_id)).first() is None:
                raise NotFound(f"no logged decision with event_id {event_id!r}")
            if s.execute(select(RewardLog.id).where(RewardLog.event_id == event_id)).first() is not None:
                raise AlreadyExists(f"event_id {event_id!r} already has a reward")
            s.add(RewardLog(event_id=event_id, reward=reward, created_at=at or utcnow()))

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
        with self._tx() as s:
            dp = self._dp(s, decision_point, lock=True)
            rollout = self._canary_rollout(s, dp.id, lock=True)
            if rollout is None:
                return GuardrailResult(dp.name, "no_canary", f"decision point {dp.name!r} runs no canary")
            canary_ref = self._ref_id(s, rollout.challenger_version_id)
            label = (f"champion {self._ref_id(s, rollout.champion_version_id)}"
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

    # ------------------------------------------------------------------ reading

    def get_version(self, version: VersionRef) -> VersionRecord:
        with self._tx() as s:
            return self._version_record(s, self._version(s, version))

    def list_versions(self, decision_point: str | None = None, state: str | None = None) -> list[VersionRecord]:
        """Versions, by decision point, policy and number; optionally of one decision point / in one state."""
        if state is not None:
            wf.check_choice("state", state, wf.VERSION_STATES)
        with self._tx() as s:
            query = select(PolicyVersion).join(Policy, Policy.id == PolicyVersion.policy_id)
            if decision_point is not None:
                query = query.where(PolicyVersion.decision_point_id == self._dp(s, decision_point).id)
            if state is not None:
                query = query.where(PolicyVersion.state == state)
            query = query.order_by(PolicyVersion.decision_point_id, Policy.name, PolicyVersion.version)
            return [self._version_record(s, v) for v in s.execute(query).scalars()]

    def reports(self, version: VersionRef | None = None, decision_point: str | None = None) -> list[ReportRecord]:
        """Evaluation reports of a version, or baseline reports of a decision point, oldest first."""
        with self._tx() as s:
            query = select(EvaluationReport).order_by(EvaluationReport.id)
            if version is not None:
                query = query.where(EvaluationReport.version_id == self._version(s, version).id)
            elif decision_point is not None:
                query = query.where(EvaluationReport.decision_point_id == self._dp(s, decision_point).id,
                                    EvaluationReport.kind == "baseline")
            else:
                raise ValueError("reports: give a version or a decision_point")
            return [self._report_record(s, r) for r in s.execute(query).scalars()]

    def approvals(self, version: VersionRef) -> list[ApprovalRecord]:
        with self._tx() as s:
            v = self._version(s, version)
            rows = s.execute(select(ApprovalRequest).where(ApprovalRequest.version_id == v.id)
                             .order_by(ApprovalRequest.id)).scalars()
            return [self._approval_record(s, a) for a in rows]

    def rollouts(self, decision_point: str) -> list[RolloutRecord]:
        with self._tx() as s:
            dp = self._dp(s, decision_point)
            rows = s.execute(select(Rollout).where(Rollout.decision_point_id == dp.id).order_by(Rollout.id)).scalars()
            return [self._rollout_record(s, r) for r in rows]

    def audit_log(self, *, entity_type: str | None = None, entity_name: str | None = None,
                  actor: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        """Audit rows, oldest first (the newest ``limit`` when given).

        :param entity_name: an exact name (``pricing-ppo:3``) or a prefix ending in ``*`` (``pricing-ppo:*``).
        """
        with self._tx() as s:
            query = select(AuditEntry)
            if entity_type is not None:
                query = query.where(AuditEntry.entity_type == entity_type)
            if entity_name is not None:
                query = (query.where(AuditEntry.entity_name.startswith(entity_name[:-1], autoescape=True))
                         if entity_name.endswith("*") else query.where(AuditEntry.entity_name == entity_name))
            if actor is not None:
                query = query.where(AuditEntry.actor == actor)
            query = query.order_by(AuditEntry.id.desc())
            if limit is not None:
                query = query.limit(int(limit))
            return [self._audit_record(a) for a in reversed(s.execute(query).scalars().all())]

    # ================================================================== dashboard support (read-only)
    # Reads added for the approval dashboard (dashboard/). They change nothing and write no audit rows.
    # Rows are plain dicts (documented per method) so that the dashboard can turn them into tables.

    def _epoch_seconds(self, column: Any) -> Any:
        """SQL for ``column`` (a UTC timestamp) as seconds since the Unix epoch, on SQLite and PostgreSQL."""
        from sqlalchemy import Float, cast

        if self.engine.dialect.name == "sqlite":
            return cast(func.strftime("%s", column), Float)
        return func.extract("epoch", column)

    def _bucket_index(self, column: Any, bucket_s: float) -> Any:
        """SQL for ``floor(epoch(column) / bucket_s)`` (epochs are positive, so truncation is the floor)."""
        from sqlalchemy import Integer, cast

        ratio = self._epoch_seconds(column) / bucket_s
        if self.engine.dialect.name == "sqlite":
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

        bucket_s = _check_number("bucket_s", bucket_s, lower=0.0, lower_open=True)
        with self._tx() as s:
            dp = self._dp(s, decision_point)
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
                    refs[version_id] = self._ref_id(s, version_id)
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
        with self._tx() as s:
            dp = self._dp(s, decision_point)
            query = (select(DecisionLog, RewardLog.reward, RewardLog.created_at)
                     .outerjoin(RewardLog, RewardLog.event_id == DecisionLog.event_id)
                     .where(DecisionLog.decision_point_id == dp.id)
                     .order_by(DecisionLog.created_at.desc(), DecisionLog.id.desc()).limit(limit))
            refs: dict[int | None, str | None] = {None: None}
            out = []
            for d, reward, rewarded_at in s.execute(query).all():
                if d.version_id not in refs:
                    refs[d.version_id] = self._ref_id(s, d.version_id)
                out.append({"event_id": d.event_id, "at": aware(d.created_at), "arm": d.arm,
                            "version_ref": refs[d.version_id], "action": d.action, "propensity": d.propensity,
                            "context": d.context, "reward": reward, "rewarded_at": aware(rewarded_at)})
            return out

    def open_approvals(self, decision_point: str | None = None) -> list[ApprovalRecord]:
        """Open approval requests (oldest first), optionally of one decision point's versions."""
        with self._tx() as s:
            query = (select(ApprovalRequest).join(PolicyVersion, PolicyVersion.id == ApprovalRequest.version_id)
                     .where(ApprovalRequest.status == "open").order_by(ApprovalRequest.id))
            if decision_point is not None:
                query = query.where(PolicyVersion.decision_point_id == self._dp(s, decision_point).id)
            return [self._approval_record(s, a) for a in s.execute(query).scalars()]

    # ================================================================== decision API support (service/)
    # Batch writes of the decision and reward logs for the decision API (one transaction per batch, so that the
    # API can acknowledge a request only once its row is committed), deferred activation, explicit default
    # rewards, the joined log the online learner reads, and a cheap change counter for the API's policy cache.
    # Rows are the dataclasses of policies.registry.log_records.

    def _upsert_insert(self, model: Any) -> Any:
        """``INSERT`` with the dialect's ``ON CONFLICT`` support (SQLite and PostgreSQL)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(model)

    def last_change_id(self) -> int:
        """The newest audit row's id (0 when none): it grows with every change to versions, rollouts, kill
        switches and decision points, so a server polls it to know when to reload what it serves."""
        with self._tx() as s:
            return int(s.execute(select(func.max(AuditEntry.id))).scalar_one() or 0)

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
                _check_number(f"rows[{i}].propensity", r.propensity, lower=0.0, upper=1.0, lower_open=True)
            if (r.arm == "baseline") != (r.version is None):
                raise ValueError(f"rows[{i}].version: expected one for arm {r.arm!r}" if r.version is None
                                 else f"rows[{i}].version: the baseline arm has no version")
        now = utcnow()
        # Names and refs map to ids that never change (nothing deletes decision points or versions): remember them.
        dp_ids: dict[str, int] = self.__dict__.setdefault("_log_dp_ids", {})
        version_ids: dict[str, tuple[int, int]] = self.__dict__.setdefault("_log_version_ids", {})
        unknown_dps = {r.decision_point for r in rows} - set(dp_ids)
        unknown_versions = {r.version for r in rows if r.version is not None} - set(version_ids)
        if unknown_dps or unknown_versions:
            with self._tx() as s:
                for name in unknown_dps:
                    dp_ids[name] = self._dp(s, name).id
                for ref in unknown_versions:
                    v = self._version(s, ref)
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
        with self.engine.begin() as conn:
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
        from policies.registry import log_records as lr

        if not rows:
            return []
        for i, r in enumerate(rows):
            _check_number(f"rows[{i}].reward", r.reward)
            if r.slot is not None and (isinstance(r.slot, bool) or not isinstance(r.slot, int) or r.slot < 0):
                raise ValueError(f"rows[{i}].slot: expected a whole number >= 0 or None, found {r.slot!r}")
        now = utcnow()
        ids = sorted({r.event_id for r in rows})
        with self.engine.begin() as conn:  # one Core transaction, one joined read: the API's hot path
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
        from policies.registry import log_records as lr

        with self._tx() as s:
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
        grace_s = _check_number("grace_s", grace_s, lower=0.0)
        now = now or utcnow()
        total = 0
        with self._tx() as s:
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
        from policies.registry.log_records import JoinedEvent

        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise ValueError(f"limit: expected a whole number in [1, 100000], found {limit!r}")
        with self._tx() as s:
            dp = self._dp(s, decision_point)
            query = (select(RewardLog, DecisionLog).join(DecisionLog, DecisionLog.event_id == RewardLog.event_id)
                     .where(DecisionLog.decision_point_id == dp.id, RewardLog.id > int(after_reward_id))
                     .order_by(RewardLog.id).limit(limit))
            refs: dict[int | None, str | None] = {None: None}
            out = []
            for r, d in s.execute(query).all():
                if d.version_id not in refs:
                    refs[d.version_id] = self._ref_id(s, d.version_id)
                out.append(JoinedEvent(r.id, d.event_id, dp.name, d.arm, refs[d.version_id], d.action, d.propensity,
                                       d.context, float(r.reward), r.slot, bool(r.is_default), aware(d.created_at),
                                       aware(r.created_at)))
            return out
