"""The registry's rules in one place: version states, the transitions between them, who may do what.

State machine of a policy version (``docs/registry.md`` draws it)::

    candidate --evaluate--> evaluated --approve--> approved --start_canary--> canary --promote--> live
    candidate | evaluated | approved | canary --reject--> rejected
    canary | live --rollback--> rolled_back
    live --retire--> retired        (when another version is promoted over it)
    retired --restore--> live       (when the live version is rolled back: "the last good version")

Nothing leaves ``rejected`` or ``rolled_back``. Every check raises; nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.registry.errors import FourEyesViolation, InvalidTransition, PermissionDenied

CANDIDATE, EVALUATED, APPROVED, CANARY, LIVE = "candidate", "evaluated", "approved", "canary", "live"
RETIRED, REJECTED, ROLLED_BACK = "retired", "rejected", "rolled_back"
VERSION_STATES = (CANDIDATE, EVALUATED, APPROVED, CANARY, LIVE, RETIRED, REJECTED, ROLLED_BACK)
TERMINAL_STATES = frozenset({REJECTED, ROLLED_BACK})

VIEWER, REQUESTER, APPROVER, ADMIN = "viewer", "requester", "approver", "admin"
ROLES = (VIEWER, REQUESTER, APPROVER, ADMIN)

DECISION_POINT_KINDS = ("ad_slot", "pricing", "inventory")
APPROVAL_RULES = ("lower_bound_beats_estimate", "mean_and_lower_bound", "evaluation_only")
DEFAULT_APPROVAL_RULE = "lower_bound_beats_estimate"
DEFAULT_ESTIMATOR = "dr"


@dataclass(frozen=True)
class Transition:
    """One workflow action on a policy version: the states it may start from and the state it leads to."""

    action: str
    sources: frozenset[str]
    target: str


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("evaluate", frozenset({CANDIDATE, EVALUATED}), EVALUATED),
    Transition("approve", frozenset({EVALUATED}), APPROVED),
    Transition("reject", frozenset({CANDIDATE, EVALUATED, APPROVED, CANARY}), REJECTED),
    Transition("start_canary", frozenset({APPROVED}), CANARY),
    Transition("set_traffic", frozenset({CANARY}), CANARY),
    Transition("promote", frozenset({CANARY}), LIVE),
    Transition("retire", frozenset({LIVE}), RETIRED),
    Transition("rollback", frozenset({CANARY, LIVE}), ROLLED_BACK),
    Transition("restore", frozenset({RETIRED}), LIVE),
)}

# Which roles may perform which action. Approving and rejecting an approval request is the approver's
# alone (four eyes); admins manage users and decision points; moving traffic is for approvers and admins.
PERMISSIONS: dict[str, frozenset[str]] = {
    "manage_users": frozenset({ADMIN}),
    "add_decision_point": frozenset({ADMIN}),
    "attach_baseline_report": frozenset({REQUESTER, APPROVER, ADMIN}),
    "register": frozenset({REQUESTER, APPROVER, ADMIN}),
    "evaluate": frozenset({REQUESTER, APPROVER, ADMIN}),
    "request_approval": frozenset({REQUESTER, APPROVER, ADMIN}),
    "approve": frozenset({APPROVER}),
    "reject": frozenset({APPROVER}),
    "start_canary": frozenset({APPROVER, ADMIN}),
    "set_traffic": frozenset({APPROVER, ADMIN}),
    "promote": frozenset({APPROVER, ADMIN}),
    "rollback": frozenset({APPROVER, ADMIN}),
    "kill": frozenset({APPROVER, ADMIN}),
    "revive": frozenset({APPROVER, ADMIN}),
}


def transition(action: str, current: str, entity: str) -> str:
    """The state ``action`` leads to from ``current``; raises :class:`InvalidTransition` when not allowed.

    :param action: a key of :data:`TRANSITIONS`.
    :param current: the entity's current state.
    :param entity: the entity in words, for the message (``policy version pricing-ppo:3``).
    """
    try:
        rule = TRANSITIONS[action]
    except KeyError:
        raise ValueError(f"action: expected one of {sorted(TRANSITIONS)}, found {action!r}") from None
    if current not in rule.sources:
        raise InvalidTransition(entity, current, rule.target, action, rule.sources)
    return rule.target


def check_role(action: str, username: str, role: str) -> None:
    """Raise :class:`PermissionDenied` unless ``role`` may perform ``action``."""
    allowed = PERMISSIONS.get(action)
    if allowed is None:
        raise ValueError(f"action: expected one of {sorted(PERMISSIONS)}, found {action!r}")
    if role not in allowed:
        raise PermissionDenied(f"user {username!r} has role '{role}', but '{action}' needs one of "
                               f"{sorted(allowed)}")


def check_four_eyes(approver: str, requester: str, creator: str) -> None:
    """Raise :class:`FourEyesViolation` when the approver requested the approval or created the version."""
    if approver == requester:
        raise FourEyesViolation(f"four eyes: {approver!r} requested this approval and cannot also approve it; "
                                f"another user with the approver role must decide")
    if approver == creator:
        raise FourEyesViolation(f"four eyes: {approver!r} registered this version and cannot approve it; "
                                f"another user with the approver role must decide")


def check_traffic_percent(traffic_percent: float) -> float:
    """``traffic_percent`` as a float in (0, 100); raises ``ValueError`` otherwise (100% is a promotion)."""
    try:
        value = float(traffic_percent)
    except (TypeError, ValueError):
        raise ValueError(f"traffic_percent: expected a number in (0, 100), found {traffic_percent!r}") from None
    if not 0.0 < value < 100.0:
        raise ValueError(f"traffic_percent: expected a number in (0, 100) (use promote for 100%), found {value:g}")
    return value


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``; else a ``ValueError`` naming ``name`` and the choices."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, found {value!r}")
    return value
