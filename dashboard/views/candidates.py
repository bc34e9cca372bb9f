"""Candidates: a version's OPE estimates with intervals against the champion and the logging policy, overlap
diagnostics in plain words, simulator results and training curves."""

from __future__ import annotations

import streamlit as st

from dashboard.plots import curves_plot, forest_plot
from dashboard.view_models.evidence import (
    approval_preview,
    estimates_display,
    forest_table,
    overlap_warnings,
    scalar_metrics,
    simulator_table,
    training_curves,
)
from dashboard.view_models.tables import OPEN_STATES, champion_and_canary, review_order
from dashboard.views._common import pick_decision_point, show_figure
from policies.registry import Registry, ReportError, UserRecord


def render(registry: Registry, user: UserRecord) -> None:
    st.header("Candidates")
    name = pick_decision_point(registry, "candidates_dp")
    if name is None:
        return
    dp = registry.get_decision_point(name)
    versions = registry.list_versions(name)
    if not versions:
        st.info(f"No versions are registered for {name} yet (retailrl registry register ...).")
        return
    show_all = st.checkbox("Show closed versions too (live, retired, rejected, rolled back)", key="candidates_all")
    shown = review_order(versions, [a.version_ref for a in registry.open_approvals(name)])
    if show_all:
        shown += [v for v in reversed(versions) if v.state not in OPEN_STATES]
    if not shown:
        st.info(f"No open candidates for {name}; tick the box above to see every version.")
        return
    labels = {f"{v.ref} ({v.state})": v for v in shown}
    version = labels[st.selectbox("Version", list(labels), key="candidates_version")]
    live, _ = champion_and_canary(versions)
    st.caption(f"registered by {version.created_by} · artefact {version.artefact_uri} · sha256 "
               f"{version.artefact_sha256[:12]}…")

    reports = registry.reports(version.ref)
    if not reports:
        st.warning(f"{version.ref} has no evaluation report yet: nothing to compare. Attach one with "
                   f"`retailrl registry attach-report {version.ref} report.json`.")
        _training(version.train_metrics)
        return
    report = reports[-1]
    champion_report = None
    if live is not None and live.ref != version.ref:
        own = registry.reports(live.ref)
        champion_report = own[-1].report if own else None
    baseline = registry.reports(decision_point=name) if live is None else []
    baseline_report = baseline[-1].report if baseline else None
    st.caption(f"Report #{report.id} by {report.created_by}, evaluated against "
               f"{report.against_ref or 'no champion'}"
               + ("" if report.against_ref == (live.ref if live else None) else
                  f" — the champion is now {live.ref if live else 'none'}: evaluate it again before approval"))
    try:
        table = forest_table(version.ref, report.report, champion_ref=live.ref if live else None,
                             champion_report=champion_report, baseline_report=baseline_report)
    except ReportError as exc:
        st.error(f"The report cannot be read: {exc}")
        return

    st.subheader("Off-policy evaluation")
    if table.empty:
        st.info("This report has no OPE estimates (simulator results only).")
    else:
        left, right = st.columns([1, 1])
        with left:
            show_figure(forest_plot(table, title=f"{version.ref} vs champion and logging policy"))
        with right:
            st.dataframe(estimates_display(table), hide_index=True, width="stretch")
        warnings = overlap_warnings(table)
        if warnings:
            st.markdown("**Diagnostics: read before approving**")
            for w in warnings:
                st.warning(w)
        else:
            st.success("Diagnostics: overlap looks adequate (effective sample size and largest weight within "
                       "limits).")
        reference_report = champion_report if live is not None else baseline_report
        label = f"champion {live.ref}" if live is not None else ("baseline" if baseline_report else "no reference")
        passes, sentence = approval_preview(dp.approval_rule, dp.approval_estimator, report.report,
                                            reference_report, label)
        text = f"Approval rule '{dp.approval_rule}': {sentence}"
        (st.info if passes is None else st.success if passes else st.error)(text)

    sim = simulator_table(report.report)
    if not sim.empty:
        st.subheader("Simulator results")
        st.dataframe(sim, hide_index=True, width="content")
    _training(version.train_metrics, report.report.get("training") if isinstance(report.report, dict) else None)
    if report.markdown:
        with st.expander("Full report (markdown)"):
            st.markdown(report.markdown)
    if report.uris:
        st.caption("Links: " + ", ".join(report.uris))


def _training(train_metrics, extra=None) -> None:
    curves = {**training_curves(train_metrics), **training_curves(extra or {})}
    scalars = scalar_metrics(train_metrics)
    if not curves and scalars.empty:
        return
    st.subheader("Training")
    left, right = st.columns([3, 2])
    with left:
        if curves:
            show_figure(curves_plot(curves))
        else:
            st.caption("No training curves recorded.")
    with right:
        if not scalars.empty:
            st.dataframe(scalars, hide_index=True, width="stretch")
