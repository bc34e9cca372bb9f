"""What each decision point serves now: its registry traffic split with the policies loaded, refreshed on change.

:class:`PolicyCache` asks the registry for :meth:`~policies.registry.Registry.last_change_id` every
``refresh_s``; when it moved (promotion, canary, rollback, kill switch, new decision point) it re-reads every
decision point's traffic split, loads the versions it does not hold yet (checking each artefact's SHA-256 against
the registry) and swaps the whole table in one assignment, so requests in flight keep the table they started
with and none is dropped. Policies no longer served are closed one refresh later. A version that fails to load is
kept as an error: its share of traffic gets the baseline action (a counted fallback), never a 500.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from policies.policy import Policy
from policies.registry import DecisionPointRecord, Registry, VersionRecord
from policies.registry.artefacts import artefact_sha256
from policies.registry.serving import ServingSnapshot

log = logging.getLogger("retailrl.service")
RETRY_FAILED_S = 30.0


def n_actions_of(action_space: Any) -> int | None:
    """The number of actions of a decision point's ``action_space`` JSON (``{"n_actions": n}``, a list of
    actions, or a count); ``None`` when it does not say."""
    if isinstance(action_space, dict) and isinstance(action_space.get("n_actions"), int):
        return action_space["n_actions"]
    if isinstance(action_space, list):
        return len(action_space)
    if isinstance(action_space, int) and not isinstance(action_space, bool):
        return action_space
    return None


def artefact_path(uri: str) -> Path:
    """The local path of an artefact URI (``file:///...`` or a plain path); other schemes raise ``ValueError``."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    raise ValueError(f"artefact_uri {uri!r}: only file:// artefacts can be served by this server")


def load_version(version: VersionRecord, n_actions: int | None) -> Policy:
    """Load a registered version's policy after checking its artefact's SHA-256 and size of action space."""
    path = artefact_path(version.artefact_uri)
    digest = artefact_sha256(path)
    if digest != version.artefact_sha256:
        raise ValueError(f"{version.ref}: artefact {path} has sha256 {digest[:12]}..., the registry recorded "
                         f"{version.artefact_sha256[:12]}... (changed or corrupt); refusing to serve it")
    policy = Policy.load(path)
    if n_actions is not None and policy.n_actions != n_actions:
        _close(policy)
        raise ValueError(f"{version.ref}: the policy has {policy.n_actions} actions, its decision point "
                         f"{version.decision_point!r} has {n_actions}")
    return policy


def _close(policy: Any) -> None:
    close = getattr(policy, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # closing must never take the server down
            log.exception("closing a policy failed")


@dataclass(frozen=True)
class ServedArm:
    """One arm of a traffic split. ``arm`` is the registry's name (champion, challenger, baseline);
    ``version_id`` is the version's id in the registry (what the decision log stores)."""

    arm: str
    version: str | None
    percent: float
    policy: Policy | None
    error: str | None = None
    version_id: int | None = None


@dataclass(frozen=True)
class ServedPoint:
    """A decision point as served now."""

    record: DecisionPointRecord
    n_actions: int | None
    arms: tuple[ServedArm, ...]

    @property
    def percents(self) -> tuple[float, ...]:
        return tuple(a.percent for a in self.arms)


class PolicyCache:
    """The serving table of one server process.

    :param registry: the registry it reads.
    :param metrics: optional :class:`service.metrics.Metrics` (load errors, refreshes, versions served).
    """

    def __init__(self, registry: Registry, metrics: Any = None):
        self.registry = registry
        self.metrics = metrics
        self._points: dict[str, ServedPoint] = {}
        self._loaded: dict[tuple[str, str], Policy] = {}
        self._failed: dict[tuple[str, str], tuple[str, float]] = {}
        self._retiring: list[Policy] = []
        self.change_id: int | None = None  # the newest audit row on the snapshot served (for health checks)
        self.fingerprint: tuple | None = None
        self.last_ok: float | None = None
        self.last_error: str | None = None

    def get(self, name: str) -> ServedPoint | None:
        return self._points.get(name)

    def points(self) -> list[ServedPoint]:
        return list(self._points.values())

    def load(self) -> None:
        """Read the registry's current serving state and build the table; raises when the registry cannot be read
        (a server calls it before it answers its first request)."""
        self._rebuild(self.registry.serving.snapshot())
        self.last_ok, self.last_error = time.monotonic(), None

    def refresh(self, force: bool = False) -> bool:
        """Reload the serving table when the registry's serving state changed (or when ``force``, or to retry
        failed loads); keeps the current table when the registry cannot be read.

        :return: whether the table was rebuilt.
        """
        try:
            retry = any(time.monotonic() - t > RETRY_FAILED_S for _, t in self._failed.values())
            if not force and not retry and self.registry.serving.fingerprint() == self.fingerprint:
                self.last_ok = time.monotonic()
                return False
            self._rebuild(self.registry.serving.snapshot())
        except Exception as exc:  # the registry is unreachable: keep serving what we have
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("policy cache refresh failed: %s", self.last_error)
            return False
        self.last_ok, self.last_error = time.monotonic(), None
        return True

    def _policy(self, version: VersionRecord, n_actions: int | None) -> tuple[Policy | None, str | None]:
        key = (version.ref, version.artefact_sha256)
        if key in self._loaded:
            return self._loaded[key], None
        failed = self._failed.get(key)
        if failed is not None and time.monotonic() - failed[1] <= RETRY_FAILED_S:
            return None, failed[0]
        try:
            policy = load_version(version, n_actions)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"[:500]
            self._failed[key] = (message, time.monotonic())
            log.error("cannot load %s: %s", version.ref, message)
            if self.metrics is not None:
                self.metrics.policy_load_errors.labels(version.decision_point, version.ref).inc()
            return None, message
        self._failed.pop(key, None)
        self._loaded[key] = policy
        return policy, None

    def _rebuild(self, snapshot: ServingSnapshot) -> None:
        points: dict[str, ServedPoint] = {}
        used: set[tuple[str, str]] = set()
        for served in snapshot.points:
            dp = served.record
            n_actions = n_actions_of(dp.action_space)
            arms = []
            for arm, ref, percent in served.split.arms:
                policy, error, version_id = None, None, None
                if ref is not None:
                    version = served.versions[ref]
                    used.add((version.ref, version.artefact_sha256))
                    policy, error = self._policy(version, n_actions)
                    version_id = version.id
                arms.append(ServedArm(arm, ref, float(percent), policy, error, version_id))
            points[dp.name] = ServedPoint(dp, n_actions, tuple(arms))
        for policy in self._retiring:  # unused since the previous refresh: no request can still hold them
            _close(policy)
        self._retiring = [self._loaded.pop(key) for key in list(self._loaded) if key not in used]
        self._points, self.change_id, self.fingerprint = points, snapshot.change_id, snapshot.fingerprint
        if self.metrics is not None:
            self.metrics.registry_refreshes.inc()
            self.metrics.served_versions.clear()
            for p in points.values():
                for a in p.arms:
                    self.metrics.served_versions.labels(p.record.name, a.arm, a.version or "baseline").set(
                        1 if (a.policy is not None or a.version is None) else 0)

    def close(self) -> None:
        """Close every policy (VW workspaces) this cache holds."""
        for policy in [*self._loaded.values(), *self._retiring]:
            _close(policy)
        self._loaded, self._retiring, self._points = {}, [], {}
