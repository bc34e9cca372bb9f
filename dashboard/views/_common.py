"""Small Streamlit pieces the pages share: the decision point picker, messages kept across a rerun, figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import streamlit as st
from matplotlib.figure import Figure

from policies.registry import Registry

FLASH_KEY = "flash_messages"
BUCKETS = {"1 minute": 60.0, "5 minutes": 300.0, "1 hour": 3600.0, "1 day": 86_400.0}


def flash(kind: str, message: str) -> None:
    """Keep a message to show after the next rerun (``kind``: success, info, warning, error)."""
    st.session_state.setdefault(FLASH_KEY, []).append((kind, message))


def show_flash() -> None:
    """Show and forget the kept messages."""
    for kind, message in st.session_state.pop(FLASH_KEY, []):
        getattr(st, kind)(message)


def pick_decision_point(registry: Registry, key: str) -> str | None:
    """A select box of the registry's decision points; ``None`` (with a note) when there are none."""
    names = [dp.name for dp in registry.list_decision_points()]
    if not names:
        st.info("The registry has no decision points yet. An admin adds them with "
                "`retailrl registry add-decision-point`; `retailrl demo` fills a demo registry.")
        return None
    return st.selectbox("Decision point", names, key=key)


def pick_bucket(key: str, default: str = "1 hour") -> float:
    """A select box of time-bucket widths; returns seconds."""
    label = st.selectbox("Time bucket", list(BUCKETS), index=list(BUCKETS).index(default), key=key)
    return BUCKETS[label]


def show_figure(fig: Figure) -> None:
    """Draw a matplotlib figure and free it."""
    st.pyplot(fig, clear_figure=True)
    plt.close(fig)
