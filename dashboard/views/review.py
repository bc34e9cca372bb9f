"""Review: request approval; approve or reject with a required comment. Four eyes and roles are the registry's
rules: a disabled button says why, and the registry refuses again whatever the page shows."""

from __future__ import annotations

import streamlit as st

from dashboard.view_models.actions import review_actions
from dashboard.view_models.evidence import approval_preview, forest_table, overlap_warnings
from dashboard.view_models.tables import approvals_table, champion_and_canary, review_order
from dashboard.views._common import flash, pick_decision_point, show_flash
from policies.registry import Registry, RegistryError, ReportError, UserRecord

COMMENT_NONCE_KEY = "review_comment_nonce"


def render(registry: Registry, user: UserRecord) -> None:
    st.header("Review")
    show_flash()
    waiting = registry.open_approvals()
    if waiting:
        st.markdown(f"**{len(waiting)} approval request(s) waiting for a decision:** "
                    + ", ".join(f"{a.version_ref} (by {a.requested_by})" for a in waiting))
    name = pick_decision_point(registry, "review_dp")
    if name is None:
        return
    dp = registry.get_decision_point(name)
    versions = registry.list_versions(name)
    shown = review_order(versions, [a.version_ref for a in waiting])
    if not shown:
        st.info(f"No version of {name} is waiting for review (candidate, evaluated, approved or canary).")
        return
    labels = {f"{v.ref} ({v.state})": v for v in shown}
    version = labels[st.selectbox("Version", list(labels), key="review_version")]
    approvals = registry.approvals(version.ref)
    open_request = next((a for a in approvals if a.status == "open"), None)

    st.markdown(f"**{version.ref}** is **{version.state}**; registered by {version.created_by}."
                + (f" Approval requested by **{open_request.requested_by}**"
                   + (f": “{open_request.request_comment}”" if open_request.request_comment else "")
                   if open_request else ""))
    reports = registry.reports(version.ref)
    live, _ = champion_and_canary(versions)
    if reports:
        reference = None
        if live is not None and live.ref != version.ref:
            own = registry.reports(live.ref)
            reference = own[-1].report if own else None
        elif live is None:
            baseline = registry.reports(decision_point=name)
            reference = baseline[-1].report if baseline else None
        label = f"champion {live.ref}" if live else ("baseline" if reference is not None else "no reference")
        passes, sentence = approval_preview(dp.approval_rule, dp.approval_estimator, reports[-1].report,
                                            reference, label)
        (st.info if passes is None else st.success if passes else st.error)(
            f"Evidence (rule '{dp.approval_rule}'): {sentence}. Details on the Candidates page.")
        try:
            for warning in overlap_warnings(forest_table(version.ref, reports[-1].report)):
                st.warning(f"Diagnostics: {warning}")
        except ReportError as exc:
            st.error(f"The report cannot be read: {exc}")
    if approvals:
        st.caption("Approval history")
        st.dataframe(approvals_table(approvals), hide_index=True, width="stretch")

    states = review_actions(user, version, open_request)
    nonce = st.session_state.get(COMMENT_NONCE_KEY, 0)
    comment = st.text_area("Comment (required to approve or reject; goes to the audit log)",
                           key=f"review_comment_{version.ref}_{nonce}")
    c1, c2, c3 = st.columns(3)
    with c1:
        if st.button("Request approval", key="review_request", disabled=not states["request"].enabled):
            _run(lambda: registry.request_approval(user, version.ref, comment.strip() or None),
                 f"Approval of {version.ref} requested.")
        if not states["request"].enabled:
            st.caption(states["request"].reason)
    with c2:
        if st.button("Approve", key="review_approve", type="primary", disabled=not states["approve"].enabled):
            _decide(lambda text: registry.approve(user, version.ref, text), comment, "approve",
                    f"{version.ref} approved.")
        if not states["approve"].enabled:
            st.caption(states["approve"].reason)
    with c3:
        if st.button("Reject", key="review_reject", disabled=not states["reject"].enabled):
            _decide(lambda text: registry.reject(user, version.ref, text), comment, "reject",
                    f"{version.ref} rejected.")
        if not states["reject"].enabled:
            st.caption(states["reject"].reason)


def _decide(action, comment: str, verb: str, done: str) -> None:
    text = (comment or "").strip()
    if not text:
        st.error(f"A comment is required to {verb}: say why, for the audit log.")
        return
    _run(lambda: action(text), done)


def _run(action, done: str) -> None:
    try:
        action()
    except (RegistryError, ValueError) as exc:
        st.error(f"The registry refused: {exc}")
        return
    flash("success", done)
    st.session_state[COMMENT_NONCE_KEY] = st.session_state.get(COMMENT_NONCE_KEY, 0) + 1  # a fresh comment box
    st.rerun()
