"""Audit: the registry's append-only log, filterable by entity, actor, action, time and text."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from dashboard.view_models.tables import audit_table, filter_audit
from policies.registry import Registry, UserRecord

ENTITY_TYPES = ["(all)", "policy_version", "decision_point", "user", "api_token"]


def render(registry: Registry, user: UserRecord) -> None:
    st.header("Audit log")
    st.caption("Append-only: the database refuses every change or deletion of these rows.")
    c1, c2, c3, c4 = st.columns(4)
    entity_type = c1.selectbox("Entity type", ENTITY_TYPES, key="audit_type")
    entity = c2.text_input("Entity (exact, or a prefix ending in *)", key="audit_entity",
                           placeholder="e.g. ppo:* or banner")
    actor = c3.text_input("Actor", key="audit_actor")
    limit = c4.number_input("Newest rows", min_value=10, max_value=100_000, value=1000, step=100, key="audit_limit")
    rows = registry.audit_log(entity_type=None if entity_type == "(all)" else entity_type,
                              entity_name=entity.strip() or None, actor=actor.strip() or None, limit=int(limit))
    c5, c6, c7 = st.columns([2, 1, 2])
    actions = c5.multiselect("Actions", sorted({r.action for r in rows}), key="audit_actions")
    days = c6.date_input("Between", value=(), key="audit_days")
    text = c7.text_input("Text in reason, entity or details", key="audit_text")
    since = until = None
    if isinstance(days, tuple | list) and len(days) == 2:
        since = datetime.combine(days[0], time.min, tzinfo=UTC)
        until = datetime.combine(days[1], time.min, tzinfo=UTC) + timedelta(days=1)
    shown = filter_audit(rows, actions=actions, since=since, until=until, text=text)
    st.write(f"{len(shown)} of {len(rows)} rows")
    st.dataframe(audit_table(shown), hide_index=True, width="stretch")
