"""Rows the decision API writes to (and the online learner reads from) the decision and reward logs.

Used by the batch methods of :class:`policies.registry.repository.Registry` (``log_decisions``, ``log_rewards``,
``activate_decision``, ``assign_default_rewards``, ``joined_events``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

STORED, DUPLICATE, CONFLICT = "stored", "duplicate", "conflict"
UNKNOWN_EVENT, WINDOW_CLOSED, NOT_ACTIVATED = "unknown_event", "window_closed", "not_activated"
REWARD_OUTCOMES = (STORED, DUPLICATE, CONFLICT, UNKNOWN_EVENT, WINDOW_CLOSED, NOT_ACTIVATED)
"""What :meth:`Registry.log_rewards` answers per reward: stored now; the same reward was already stored
(idempotent repeat); a different reward is already stored; no such decision; its reward window has passed (or the
default reward was logged); a deferred decision that was never activated."""

ACTIVATED, ALREADY_ACTIVE = "activated", "already_active"
"""What :meth:`Registry.activate_decision` answers (or :data:`UNKNOWN_EVENT`)."""


@dataclass(frozen=True)
class DecisionRow:
    """One served decision, for :meth:`Registry.log_decisions`.

    :param decision_point: its name.
    :param event_id: 1-64 characters, unique across the log.
    :param arm: ``champion``, ``challenger`` or ``baseline``.
    :param action: JSON: the chosen action (a list, one per slot, for several slots).
    :param version: the serving version's ref (``policy:number``); ``None`` for the baseline arm.
    :param propensity: the probability of ``action`` under the serving policy, in (0, 1].
    :param context: JSON: what the policy saw (and the full distribution, for audits and OPE).
    :param at: when it was decided (UTC).
    :param deferred: it waits for :meth:`Registry.activate_decision` (its reward window starts at activation).
    """

    decision_point: str
    event_id: str
    arm: str
    action: Any
    version: str | None = None
    propensity: float | None = None
    context: Any = None
    at: datetime | None = None
    deferred: bool = False


@dataclass(frozen=True)
class RewardRow:
    """One reward, for :meth:`Registry.log_rewards`.

    :param event_id: the decision's event id.
    :param reward: a finite number.
    :param slot: the slot the reward is for (``None``: the decision as a whole).
    :param at: when it arrived (UTC); it must be inside the decision's reward window.
    """

    event_id: str
    reward: float
    slot: int | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class JoinedEvent:
    """A decision joined with its reward (real or default), as the online learner reads them.

    :param reward_id: the reward row's id (increasing: the learner's watermark).
    """

    reward_id: int
    event_id: str
    decision_point: str
    arm: str
    version_ref: str | None
    action: Any
    propensity: float | None
    context: Any
    reward: float
    slot: int | None
    is_default: bool
    decided_at: datetime
    rewarded_at: datetime
