"""Which workflow buttons a user may press now, and, when not, why (in words the page shows under the button).

The rules are read from :mod:`policies.registry.workflow` (roles, transitions, four eyes); the registry checks
them again when the action runs, so a stale page cannot do what the rules forbid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policies.registry import workflow as wf
from policies.registry.records import ApprovalRecord, DecisionPointRecord, UserRecord, VersionRecord


@dataclass(frozen=True)
class ActionState:
    """:param enabled: the button may be pressed.
    :param reason: why it is disabled (``None`` when enabled).
    """

    enabled: bool
    reason: str | None = None


ALLOWED = ActionState(True)


def _role_block(user: UserRecord, action: str, verb: str) -> ActionState | None:
    allowed = wf.PERMISSIONS[action]
    if user.role in allowed:
        return None
    return ActionState(False, f"Your role is '{user.role}'; to {verb} you need the role "
                              f"{' or '.join(repr(r) for r in sorted(allowed))}.")


def _state_block(version: VersionRecord, action: str, verb: str) -> ActionState | None:
    sources = wf.TRANSITIONS[action].sources
    if version.state in sources:
        return None
    return ActionState(False, f"{version.ref} is '{version.state}'; you can {verb} only a version that is "
                              f"{' or '.join(repr(s) for s in sorted(sources))}.")


def review_actions(user: UserRecord, version: VersionRecord, open_request: ApprovalRecord | None,
                   ) -> dict[str, ActionState]:
    """States of the Review page's buttons ``request``, ``approve`` and ``reject`` for ``user`` on ``version``."""
    if version.state == wf.CANDIDATE:
        request = ActionState(False, f"{version.ref} has no evaluation report yet; attach one first "
                                     f"(retailrl registry attach-report).")
    elif version.state != wf.EVALUATED:
        request = ActionState(False, f"{version.ref} is '{version.state}'; approval can be requested only for an "
                                     f"'evaluated' version.")
    elif open_request is not None:
        request = ActionState(False, f"An approval request is already open (by {open_request.requested_by}).")
    else:
        request = _role_block(user, "request_approval", "request approval") or ALLOWED

    approve = _role_block(user, "approve", "approve") or _state_block(version, "approve", "approve")
    if approve is None and open_request is None:
        approve = ActionState(False, "Nobody has requested approval of this version yet; request it first.")
    if approve is None and open_request.requested_by == user.username:
        approve = ActionState(False, f"Four eyes: you ({user.username}) requested this approval, so another "
                                     f"user with the approver role must decide.")
    if approve is None and version.created_by == user.username:
        approve = ActionState(False, f"Four eyes: you ({user.username}) registered this version, so another user "
                                     f"with the approver role must decide.")

    reject = _role_block(user, "reject", "reject") or _state_block(version, "reject", "reject")
    return {"request": request, "approve": approve or ALLOWED, "reject": reject or ALLOWED}


def rollout_actions(user: UserRecord, dp: DecisionPointRecord, versions: Sequence[VersionRecord],
                    ) -> dict[str, ActionState]:
    """States of the Rollout page's buttons for a decision point: ``start_canary``, ``set_traffic``, ``promote``,
    ``rollback``, ``kill`` and ``revive``."""
    canary = next((v for v in versions if v.state == wf.CANARY), None)
    live = next((v for v in versions if v.state == wf.LIVE), None)
    approved = [v for v in versions if v.state == wf.APPROVED]
    out: dict[str, ActionState] = {}

    block = _role_block(user, "start_canary", "start a canary")
    if block is None and dp.killed:
        block = ActionState(False, f"The kill switch of {dp.name} is on (100% baseline); turn it off first.")
    if block is None and canary is not None:
        block = ActionState(False, f"{canary.ref} already runs as the canary; promote or roll it back first.")
    if block is None and not approved:
        block = ActionState(False, "No version is approved; approve one on the Review page first.")
    out["start_canary"] = block or ALLOWED

    for action, verb in (("set_traffic", "change the canary's share"), ("promote", "promote")):
        block = _role_block(user, action, verb)
        if block is None and canary is None:
            block = ActionState(False, f"No canary is running on {dp.name}.")
        out[action] = block or ALLOWED

    block = _role_block(user, "rollback", "roll back")
    if block is None and canary is None and live is None:
        block = ActionState(False, f"Nothing to roll back: {dp.name} has no canary and no live version.")
    out["rollback"] = block or ALLOWED

    block = _role_block(user, "kill", "use the kill switch")
    out["kill"] = block or (ActionState(False, "The kill switch is already on.") if dp.killed else ALLOWED)
    block = _role_block(user, "revive", "use the kill switch")
    out["revive"] = block or (ALLOWED if dp.killed else ActionState(False, "The kill switch is off."))
    return out


def confirmation_matches(typed: str | None, expected: str) -> bool:
    """Whether the confirmation text the user typed is the expected name (surrounding spaces ignored)."""
    return isinstance(typed, str) and typed.strip() == expected


def required_comment(comment: str | None, what: str) -> str:
    """The stripped comment; ``ValueError`` naming ``what`` when it is empty."""
    text = (comment or "").strip()
    if not text:
        raise ValueError(f"A comment is required to {what}: say why, for the audit log.")
    return text
