"""Rollout: start a canary at a chosen share, change it, promote, roll back, kill switch. Every action needs a
second step (type the decision point's name, give a reason) and is written to the audit log by the registry."""

from __future__ import annotations

import streamlit as st

from dashboard.view_models.actions import confirmation_matches, rollout_actions
from dashboard.view_models.tables import champion_and_canary, traffic_rows, versions_table
from dashboard.views._common import flash, pick_decision_point, show_flash
from policies.registry import Registry, RegistryError, UserRecord

PENDING_KEY = "rollout_pending"


def render(registry: Registry, user: UserRecord) -> None:
    st.header("Rollout")
    show_flash()
    name = pick_decision_point(registry, "rollout_dp")
    if name is None:
        return
    dp = registry.get_decision_point(name)
    versions = registry.list_versions(name)
    live, canary = champion_and_canary(versions)
    split = registry.traffic(name)
    c1, c2, c3 = st.columns(3)
    c1.metric("Champion", live.ref if live else "none (baseline)")
    c2.metric("Canary", canary.ref if canary else "none")
    c3.metric("Kill switch", "ON" if dp.killed else "off")
    if dp.killed:
        st.error(f"Kill switch ON: 100% of {name} serves the baseline action {dp.baseline_action!r}.")
    left, right = st.columns([1, 2])
    with left:
        st.caption("Traffic split now")
        st.dataframe(traffic_rows(split), hide_index=True, width="stretch")
    with right:
        st.caption("Versions")
        st.dataframe(versions_table(versions), hide_index=True, width="stretch")

    pending = st.session_state.get(PENDING_KEY)
    if pending and pending["dp"] == name:
        _confirm(registry, user, pending)
        return

    states = rollout_actions(user, dp, versions)
    approved = [v.ref for v in versions if v.state == "approved"]
    st.subheader("Canary")
    a, b = st.columns(2)
    with a:
        target = st.selectbox("Approved version", approved or ["(none approved)"], key="rollout_version",
                              disabled=not approved)
        share = st.slider("Canary traffic (%)", 1, 50, 5, key="rollout_share")
        _button("Start canary…", "start_canary", states, dict(version=target, percent=float(share), dp=name,
                summary=f"Send {share}% of {name} to {target}; the rest stays with "
                        f"{live.ref if live else 'the baseline action'}."))
    with b:
        new_share = st.slider("Change the running canary's share (%)", 1, 99,
                              int(next((p for arm, _, p in split.arms if arm == "challenger"), 5)),
                              key="rollout_new_share", disabled=canary is None)
        _button("Change share…", "set_traffic", states, dict(
            version=canary.ref if canary else None, percent=float(new_share), dp=name,
            summary=f"Change the canary {canary.ref if canary else ''} to {new_share}% of {name}."))
        _button("Promote canary…", "promote", states, dict(
            version=canary.ref if canary else None, dp=name,
            summary=f"Make {canary.ref if canary else ''} live for 100% of {name}; "
                    f"{live.ref if live else 'nothing'} is retired (it stays the rollback target)."))
    st.subheader("Emergency")
    d, e = st.columns(2)
    with d:
        what = (f"the canary {canary.ref} (its traffic returns to {live.ref if live else 'the baseline'})" if canary
                else f"the live version {live.ref} (the last good version, or the baseline, serves again)" if live
                else "nothing")
        _button("Roll back…", "rollback", states, dict(dp=name, summary=f"Roll back {what}."))
    with e:
        if dp.killed:
            _button("Turn the kill switch off…", "revive", states, dict(
                dp=name, summary=f"Send {name}'s traffic back to the champion / canary split."))
        else:
            _button("Kill switch: 100% baseline…", "kill", states, dict(
                dp=name, summary=f"Send 100% of {name} to its baseline action {dp.baseline_action!r} now."))


def _button(label: str, action: str, states, pending: dict) -> None:
    state = states[action]
    if st.button(label, key=f"rollout_{action}", disabled=not state.enabled):
        st.session_state[PENDING_KEY] = {**pending, "action": action}
        st.rerun()
    if not state.enabled:
        st.caption(state.reason)


def _confirm(registry: Registry, user: UserRecord, pending: dict) -> None:
    action, name = pending["action"], pending["dp"]
    with st.container(border=True):
        st.warning(f"**Confirm:** {pending['summary']}")
        typed = st.text_input(f"Type the decision point's name ({name}) to confirm", key="rollout_confirm_name")
        reason = st.text_input("Reason (goes to the audit log)", key="rollout_confirm_reason")
        ok, cancel = st.columns(2)
        confirmed = ok.button("Confirm", key="rollout_confirm", type="primary")
        if cancel.button("Cancel", key="rollout_cancel"):
            _clear()
            flash("info", "Cancelled; nothing changed.")
            st.rerun()
    if not confirmed:
        return
    if not confirmation_matches(typed, name):
        st.error(f"Type {name!r} exactly to confirm; nothing changed.")
        return
    reason = (reason or "").strip()
    if action in ("rollback", "kill", "revive") and not reason:
        st.error("A reason is required for this action; nothing changed.")
        return
    run = {
        "start_canary": lambda: registry.start_canary(user, pending["version"], pending["percent"]),
        "set_traffic": lambda: registry.set_traffic(user, pending["version"], pending["percent"]),
        "promote": lambda: registry.promote(user, pending["version"], reason or None),
        "rollback": lambda: registry.rollback(user, name, reason),
        "kill": lambda: registry.kill(user, name, reason),
        "revive": lambda: registry.revive(user, name, reason),
    }[action]
    try:
        run()
    except (RegistryError, ValueError) as exc:
        st.error(f"The registry refused: {exc}")
        return
    _clear()
    flash("success", f"Done: {pending['summary']} (recorded in the audit log).")
    st.rerun()


def _clear() -> None:
    for key in (PENDING_KEY, "rollout_confirm_name", "rollout_confirm_reason"):
        st.session_state.pop(key, None)
