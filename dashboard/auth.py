"""Sign-in and session expiry, on any mutable mapping (Streamlit's ``st.session_state`` in the app).

The password is checked by :meth:`policies.registry.Registry.authenticate` (argon2id hashes); the session keeps
the user's record and the time of its last interaction. A session idle for longer than the configured time is
signed out with a notice; on every run the user is re-read from the registry, so a deactivated user or a
changed role takes effect at once.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

from policies.registry import Registry, UserRecord

USER_KEY = "auth_user"
LAST_SEEN_KEY = "auth_last_seen"
NOTICE_KEY = "auth_notice"


def sign_in(registry: Registry, state: MutableMapping[str, Any], username: str, password: str,
            now: datetime) -> UserRecord:
    """Check the credentials and start a session; raises ``AuthenticationFailed`` (nothing stored) when wrong.

    :param state: the session's storage.
    :param now: the time of sign-in (UTC).
    """
    if not username or not password:
        raise ValueError("enter a user name and a password")
    user = registry.authenticate(username.strip(), password)
    state[USER_KEY] = user
    state[LAST_SEEN_KEY] = now
    state.pop(NOTICE_KEY, None)
    return user


def sign_out(state: MutableMapping[str, Any], notice: str | None = None) -> None:
    """End the session; ``notice`` is shown on the sign-in form."""
    state.pop(USER_KEY, None)
    state.pop(LAST_SEEN_KEY, None)
    if notice:
        state[NOTICE_KEY] = notice
    else:
        state.pop(NOTICE_KEY, None)


def current_user(registry: Registry, state: MutableMapping[str, Any], now: datetime,
                 idle_seconds: float) -> UserRecord | None:
    """The signed-in user, or ``None`` (after signing out an expired, deactivated or deleted user's session).

    Marks the session as seen at ``now``.
    :param idle_seconds: the longest allowed gap between two interactions.
    """
    user = state.get(USER_KEY)
    if user is None:
        return None
    last_seen = state.get(LAST_SEEN_KEY)
    if last_seen is None or (now - last_seen).total_seconds() > idle_seconds:
        sign_out(state, f"Your session expired after {idle_seconds / 60:g} minutes without activity; "
                        f"sign in again.")
        return None
    fresh = next((u for u in registry.list_users() if u.id == user.id and u.username == user.username), None)
    if fresh is None or not fresh.active:
        sign_out(state, f"User {user.username!r} can no longer sign in (deactivated or removed).")
        return None
    state[USER_KEY] = fresh
    state[LAST_SEEN_KEY] = now
    return fresh
