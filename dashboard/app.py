"""The approval dashboard's entry file: ``streamlit run dashboard/app.py`` (or ``retailrl dashboard --port P``).

Nothing but the sign-in form is shown until a user of the registry has signed in; then the sidebar picks a page
from :data:`dashboard.views.PAGES`. The registry is ``DATABASE_URL`` (else ``registry.db`` in the data
directory); ``RETAILRL_DASHBOARD_IDLE_MINUTES`` sets the idle time after which a session ends.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import auth  # noqa: E402
from dashboard.config import load_config  # noqa: E402
from dashboard.views import PAGES, sign_in  # noqa: E402
from policies.registry import Registry, RegistryError  # noqa: E402
from policies.registry.config import redact  # noqa: E402


@st.cache_resource(show_spinner=False)
def open_registry(url: str) -> Registry:
    """One registry (engine and connection pool) per database URL, shared by every session."""
    return Registry(url)


def main() -> None:
    st.set_page_config(page_title="retailrl policy dashboard", layout="wide")
    try:
        config = load_config()
        registry = open_registry(config.database_url)
    except (RegistryError, ValueError) as exc:
        st.error(f"The dashboard cannot open the registry: {exc}")
        st.stop()
    user = auth.current_user(registry, st.session_state, datetime.now(UTC), config.idle_seconds)
    if user is None:
        sign_in.render(registry, config.idle_minutes)
        st.stop()
    with st.sidebar:
        st.markdown(f"Signed in as **{user.username}** ({user.role})")
        page = st.radio("Page", list(PAGES), key="nav")
        if st.button("Sign out", key="sign_out"):
            auth.sign_out(st.session_state, "You signed out.")
            st.rerun()
        st.caption(f"Registry: {redact(config.database_url)}")
    PAGES[page](registry, user)


main()
