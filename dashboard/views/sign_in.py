"""The sign-in form: the only thing shown before a user has signed in."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard import auth
from policies.registry import AuthenticationFailed, Registry


def render(registry: Registry, idle_minutes: float) -> None:
    """Show the sign-in form; on success start the session and rerun the app."""
    st.title("retailrl policy dashboard")
    notice = st.session_state.get(auth.NOTICE_KEY)
    if notice:
        st.warning(notice)
    st.write("Sign in with your registry account. Sessions end after "
             f"{idle_minutes:g} minutes without activity.")
    with st.form("sign_in"):
        username = st.text_input("User name", key="signin_user")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary", key="signin_submit")
    if submitted:
        try:
            auth.sign_in(registry, st.session_state, username, password, datetime.now(UTC))
        except (AuthenticationFailed, ValueError) as exc:
            message = str(exc) if isinstance(exc, ValueError) else "unknown user or wrong password (or deactivated)"
            st.error(f"Sign-in failed: {message}.")
            return
        st.rerun()
