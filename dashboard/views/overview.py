"""Overview: per decision point the champion, the canary and the traffic split; online reward over time."""

from __future__ import annotations

import streamlit as st

from dashboard.plots import reward_plot
from dashboard.view_models.online import per_arm_table, reference_values, reward_series
from dashboard.view_models.tables import champion_and_canary, traffic_rows
from dashboard.views._common import pick_bucket, show_figure
from policies.registry import Registry, UserRecord


def render(registry: Registry, user: UserRecord) -> None:
    st.header("Overview")
    points = registry.list_decision_points()
    if not points:
        st.info("The registry has no decision points yet. An admin adds them with "
                "`retailrl registry add-decision-point`; `retailrl demo` fills a demo registry.")
        return
    bucket_s = pick_bucket("overview_bucket")
    for dp in points:
        st.subheader(f"{dp.name} ({dp.kind})")
        versions = registry.list_versions(dp.name)
        live, canary = champion_and_canary(versions)
        split = registry.traffic(dp.name)
        canary_share = next((pct for arm, _, pct in split.arms if arm == "challenger"), None)
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Champion", live.ref if live else "none (baseline)")
        c2.metric("Canary", f"{canary.ref} at {canary_share:g}%" if canary and canary_share else "none")
        c3.metric("Kill switch", "ON: 100% baseline" if dp.killed else "off")
        c4.metric("Versions", len(versions))
        if dp.killed:
            st.error(f"The kill switch of {dp.name} is on: every decision serves the baseline action "
                     f"{dp.baseline_action!r}.")
        buckets = registry.decision_buckets(dp.name, bucket_s=bucket_s)
        reports = [r.report for v in (live, canary) if v is not None for r in reversed(registry.reports(v.ref))]
        baseline = registry.reports(decision_point=dp.name)
        references = reference_values(reports, baseline[-1].report if baseline else None, dp.approval_estimator)
        if not buckets:
            st.caption("Traffic split now")
            st.dataframe(traffic_rows(split), hide_index=True)
            st.caption("No decisions logged yet for this decision point: the online reward appears here once the "
                       "decision API serves it.")
            continue
        left, right = st.columns([1, 1])
        with left:
            show_figure(reward_plot(reward_series(buckets), references, title=f"{dp.name}: online reward"))
        with right:
            st.caption("Traffic split now")
            st.dataframe(traffic_rows(split), hide_index=True, width="stretch")
            st.caption("Online results by arm (all time)")
            st.dataframe(per_arm_table(buckets), hide_index=True, width="stretch")
