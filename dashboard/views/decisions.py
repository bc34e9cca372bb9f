"""Decisions: recent decisions and their rewards, fallback counts, the reward join rate."""

from __future__ import annotations

import streamlit as st

from dashboard.plots import volume_plot
from dashboard.view_models.online import decision_totals, per_arm_table, volume_series
from dashboard.view_models.tables import decisions_table
from dashboard.views._common import pick_bucket, pick_decision_point, show_figure
from policies.registry import Registry, UserRecord


def render(registry: Registry, user: UserRecord) -> None:
    st.header("Decisions")
    name = pick_decision_point(registry, "decisions_dp")
    if name is None:
        return
    bucket_s = pick_bucket("decisions_bucket")
    buckets = registry.decision_buckets(name, bucket_s=bucket_s)
    totals = decision_totals(buckets)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Decisions", f"{totals['decisions']:,}")
    c2.metric("Reward join rate", "-" if totals["join_rate"] is None else f"{totals['join_rate']:.1%}",
              help="Share of decisions whose reward has arrived in the reward log.")
    c3.metric("Fallbacks (baseline served)", f"{totals['fallbacks']:,}" + (
              "" if totals["fallback_share"] is None else f" ({totals['fallback_share']:.1%})"),
              help="Decisions that served the decision point's baseline action: kill switch on, no champion, "
                   "or the decision service fell back.")
    c4.metric("Pending / expired rewards", f"{totals['pending']:,} / {totals['expired']:,}",
              help="Pending: still inside the reward window. Expired: the window passed without a reward "
                   "(they count with the decision point's default reward).")
    if not buckets:
        st.info(f"No decisions logged for {name} yet; the decision API writes them (retailrl serve).")
        return
    if totals["fallback_share"] and totals["fallback_share"] > 0.5:
        st.warning(f"Most decisions ({totals['fallback_share']:.0%}) served the baseline action: the kill switch "
                   f"is on, there is no champion, or the service is falling back.")
    left, right = st.columns([1, 1])
    with left:
        show_figure(volume_plot(volume_series(buckets), title=f"{name}: decisions and rewards joined"))
    with right:
        st.dataframe(per_arm_table(buckets), hide_index=True, width="stretch")
    limit = st.slider("Recent decisions to show", 10, 500, 50, step=10, key="decisions_limit")
    st.dataframe(decisions_table(registry.recent_decisions(name, limit=limit)), hide_index=True, width="stretch")
