"""The registry's errors: each says what was asked, what was found and what to do instead.

All derive from :class:`RegistryError`, a ``ValueError``, so that the CLI turns them into a message and exit code 2.
"""

from __future__ import annotations


class RegistryError(ValueError):
    """Base class of every error the policy registry raises on purpose."""


class NotFound(RegistryError):
    """A decision point, policy version, user or token that does not exist."""


class AlreadyExists(RegistryError):
    """A name that must be unique is taken."""


class InvalidTransition(RegistryError):
    """A state change the workflow does not allow from the entity's current state.

    :param entity: what was to change, e.g. ``policy version pricing-ppo:3``.
    :param current: its current state.
    :param requested: the state that was requested.
    :param action: the workflow action (``approve``, ``promote`` ...).
    :param allowed_from: the states ``action`` may start from.
    """

    def __init__(self, entity: str, current: str, requested: str, action: str,
                 allowed_from: tuple[str, ...] | frozenset[str] = ()):
        self.entity = entity
        self.current = current
        self.requested = requested
        self.action = action
        self.allowed_from = tuple(sorted(allowed_from))
        hint = f"; '{action}' is allowed only from {list(self.allowed_from)}" if self.allowed_from else ""
        super().__init__(f"invalid transition for {entity}: cannot go from '{current}' to '{requested}' "
                         f"(action '{action}'){hint}")


class ConcurrentTransition(InvalidTransition):
    """Another transaction changed the state between our read and our compare-and-set update."""

    def __init__(self, entity: str, expected: str, requested: str, action: str):
        super().__init__(entity, expected, requested, action)
        self.args = (f"concurrent change of {entity}: it is no longer '{expected}', so it cannot go to "
                     f"'{requested}' (action '{action}'); another user changed it first, reload and retry",)


class PermissionDenied(RegistryError):
    """The acting user's role does not allow the action, or the user is inactive."""


class FourEyesViolation(PermissionDenied):
    """The approver is the requester or the creator of the version."""


class AuthenticationFailed(RegistryError):
    """Unknown user, wrong password, inactive user, or an unknown/revoked API token."""


class ApprovalRuleFailed(RegistryError):
    """The evidence does not support approval (missing evaluation, lower bound not above the champion ...)."""


class MissingEvaluation(ApprovalRuleFailed):
    """No evaluation report against the current champion."""


class ReportError(RegistryError):
    """An evaluation report that is not in the expected shape."""


class SchemaOutOfDate(RegistryError):
    """The database was not migrated to the revision this code expects."""
