"""Accounts: users, roles, passwords, API tokens and authentication.

- Roles are ``viewer`` < ``requester`` < ``approver`` < ``admin`` (what each may do: :data:`policies.registry.workflow.PERMISSIONS`).
- The very first user is created without an actor and must be an admin (audit actor ``system:bootstrap``); every
  later user is created by an admin.
- Passwords are at least 8 characters and stored only as argon2id hashes; admins change anyone's, every user
  their own. A deactivated user can neither log in nor act; an admin cannot deactivate themselves.
- API tokens are shown once; only their SHA-256 hash (and a 12-character prefix) is stored. Admins create and
  revoke tokens for anyone, users for themselves. A revoked token, or one of a deactivated user, fails.
- Every change writes an audit row (``user.create``, ``user.role``, ``user.activate``/``user.deactivate``,
  ``user.password``, ``token.create``, ``token.revoke``) in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import func, select

from policies.registry import lookups as lk
from policies.registry import workflow as wf
from policies.registry.errors import (
    AlreadyExists,
    AuthenticationFailed,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from policies.registry.models import (
    ApiToken,
    User,
    utcnow,
)
from policies.registry.records import (
    TokenRecord,
    UserRecord,
    aware,
)
from policies.registry.security import hash_password, hash_token, new_token, verify_password
from policies.registry.store import Store, check_name


class Accounts:
    """Users and tokens on one :class:`~policies.registry.store.Store` (every method is one transaction)."""

    def __init__(self, store: Store):
        self.store = store

    def create_user(self, actor: UserRecord | None, username: str, password: str, role: str) -> UserRecord:
        """Create a user. ``actor`` must be an admin; with no users yet, ``actor=None`` bootstraps the first admin.

        :param username: 1-64 letters, digits, ``_.-``.
        :param password: at least 8 characters; stored only as an argon2id hash.
        :param role: ``viewer``, ``requester``, ``approver`` or ``admin``.
        """
        check_name("username", username)
        wf.check_choice("role", role, wf.ROLES)
        password_hash = hash_password(self.store.hasher, password)
        with self.store.tx() as s:
            if actor is None:
                if s.execute(select(func.count(User.id))).scalar_one() > 0:
                    raise PermissionDenied("creating a user needs an admin (--user/--password); only the very "
                                           "first user may be created without one")
                if role != wf.ADMIN:
                    raise ValueError(f"role: the first user must be an admin, found {role!r}")
                actor_name = "system:bootstrap"
            else:
                actor_name = self.store.actor(s, actor, "manage_users").username
            if s.execute(select(User.id).where(User.username == username)).first() is not None:
                raise AlreadyExists(f"user {username!r} already exists")
            user = User(username=username, password_hash=password_hash, role=role, active=True, created_at=utcnow())
            s.add(user)
            s.flush()
            self.store.audit(s, actor_name, "user.create", "user", user.id, username, None, role)
            return lk.user_record(user)

    def authenticate(self, username: str, password: str) -> UserRecord:
        """The active user ``username`` when ``password`` matches; else :class:`AuthenticationFailed`."""
        with self.store.tx() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
            stored = user.password_hash if user is not None else None
        if user is None or not verify_password(self.store.hasher, stored, password or ""):
            raise AuthenticationFailed(f"authentication failed for user {username!r}: unknown user or wrong password")
        if not user.active:
            raise AuthenticationFailed(f"user {username!r} is deactivated")
        return lk.user_record(user)

    def set_role(self, actor: UserRecord, username: str, role: str) -> UserRecord:
        """Change a user's role (admins only)."""
        wf.check_choice("role", role, wf.ROLES)
        with self.store.tx() as s:
            admin = self.store.actor(s, actor, "manage_users")
            user = lk.user_by_name(s, username)
            old = user.role
            user.role = role
            self.store.audit(s, admin.username, "user.role", "user", user.id, username, old, role)
            return lk.user_record(user)

    def set_active(self, actor: UserRecord, username: str, active: bool) -> UserRecord:
        """Activate or deactivate a user (admins only; a deactivated user can neither log in nor act)."""
        with self.store.tx() as s:
            admin = self.store.actor(s, actor, "manage_users")
            user = lk.user_by_name(s, username)
            if user.id == admin.id and not active:
                raise ValueError("an admin cannot deactivate themselves; ask another admin")
            old = "active" if user.active else "inactive"
            user.active = bool(active)
            self.store.audit(s, admin.username, "user.activate" if active else "user.deactivate", "user", user.id,
                        username, old, "active" if active else "inactive")
            return lk.user_record(user)

    def set_password(self, actor: UserRecord, username: str, password: str) -> None:
        """Change a password: admins for anyone, every user for themselves."""
        password_hash = hash_password(self.store.hasher, password)
        with self.store.tx() as s:
            acting = self.store.self_or_admin(s, actor, username)
            user = lk.user_by_name(s, username)
            user.password_hash = password_hash
            self.store.audit(s, acting, "user.password", "user", user.id, username)

    def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        with self.store.tx() as s:
            return [lk.user_record(u) for u in s.execute(select(User).order_by(User.username)).scalars()]

    def create_token(self, actor: UserRecord, username: str, name: str) -> tuple[TokenRecord, str]:
        """Create an API token for ``username`` (admins for anyone, users for themselves).

        :return: the token's record and the token itself; only its SHA-256 hash is stored, so show it once.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name: expected a non-empty label for the token")
        token = new_token()
        with self.store.tx() as s:
            acting = self.store.self_or_admin(s, actor, username)
            user = lk.user_by_name(s, username)
            row = ApiToken(user_id=user.id, name=name.strip(), token_hash=hash_token(token), prefix=token[:12],
                           created_at=utcnow())
            s.add(row)
            s.flush()
            self.store.audit(s, acting, "token.create", "api_token", row.id, f"{username}/{row.name}",
                        None, "active", details={"prefix": row.prefix})
            return TokenRecord(row.id, username, row.name, row.prefix, aware(row.created_at), None), token

    def revoke_token(self, actor: UserRecord, token_id: int) -> TokenRecord:
        """Revoke a token (admins, or the token's owner)."""
        with self.store.tx() as s:
            row = s.get(ApiToken, int(token_id))
            if row is None:
                raise NotFound(f"no API token with id {token_id}")
            owner = s.get(User, row.user_id)
            if actor is not None and actor.id == owner.id:
                acting = owner.username
            else:
                acting = self.store.actor(s, actor, "manage_users").username
            if row.revoked_at is not None:
                raise InvalidTransition(f"API token {row.id}", "revoked", "revoked", "revoke", ("active",))
            row.revoked_at = utcnow()
            self.store.audit(s, acting, "token.revoke", "api_token", row.id, f"{owner.username}/{row.name}",
                        "active", "revoked")
            return TokenRecord(row.id, owner.username, row.name, row.prefix, aware(row.created_at),
                               aware(row.revoked_at))

    def list_tokens(self, username: str | None = None) -> list[TokenRecord]:
        """API tokens (never the tokens themselves), optionally of one user."""
        with self.store.tx() as s:
            query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
            if username is not None:
                query = query.where(User.username == username)
            return [TokenRecord(t.id, name, t.name, t.prefix, aware(t.created_at), aware(t.revoked_at))
                    for t, name in s.execute(query)]

    def authenticate_token(self, token: str) -> UserRecord:
        """The active user owning the unrevoked API ``token``; else :class:`AuthenticationFailed`."""
        if not isinstance(token, str) or not token:
            raise AuthenticationFailed("missing API token")
        with self.store.tx() as s:
            row = s.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                raise AuthenticationFailed("unknown or revoked API token")
            user = s.get(User, row.user_id)
            if not user.active:
                raise AuthenticationFailed(f"the token's user {user.username!r} is deactivated")
            return lk.user_record(user)
