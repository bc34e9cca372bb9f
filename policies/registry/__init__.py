"""The SQL policy registry: versions, evidence, approvals, rollouts and an append-only audit log.

Start with :class:`Registry` (the facade over one module per concern: accounts, catalog, approvals, rollouts,
event_logs, analytics, audit; every public call is one transaction) and :func:`upgrade` (Alembic migrations).
The shared transaction helper and audit writer live in :mod:`policies.registry.store`, the pure rules in
:mod:`policies.registry.workflow`; ``docs/registry.md`` draws them.
"""

from policies.registry.artefacts import artefact_sha256
from policies.registry.config import database_url
from policies.registry.db import check_schema, head_revision, make_engine, upgrade
from policies.registry.errors import (
    AlreadyExists,
    ApprovalRuleFailed,
    AuthenticationFailed,
    ConcurrentTransition,
    FourEyesViolation,
    InvalidTransition,
    MissingEvaluation,
    NotFound,
    PermissionDenied,
    RegistryError,
    ReportError,
    SchemaOutOfDate,
)
from policies.registry.guardrail import ArmStats
from policies.registry.records import (
    ApprovalRecord,
    AuditRecord,
    DecisionPointRecord,
    GuardrailResult,
    ReportRecord,
    RolloutRecord,
    TokenRecord,
    TrafficSplit,
    UserRecord,
    VersionRecord,
)
from policies.registry.repository import Registry

__all__ = [
    "AlreadyExists", "ApprovalRecord", "ApprovalRuleFailed", "ArmStats", "AuditRecord", "AuthenticationFailed",
    "ConcurrentTransition", "DecisionPointRecord", "FourEyesViolation", "GuardrailResult", "InvalidTransition",
    "MissingEvaluation", "NotFound", "PermissionDenied", "Registry", "RegistryError", "ReportError",
    "ReportRecord", "RolloutRecord", "SchemaOutOfDate", "TokenRecord", "TrafficSplit", "UserRecord",
    "VersionRecord", "artefact_sha256", "check_schema", "database_url", "head_revision", "make_engine", "upgrade",
]
