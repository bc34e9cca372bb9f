"""Register a training run's exported policy as a candidate version in the policy registry.

The artefact is the run's ``policy/`` directory (the numpy policy); the registry stores its ``file://`` URI, its
SHA-256 (:func:`policies.registry.artefacts.artefact_sha256`), the run's config and its metrics. The acting user
is given, or authenticated from ``RETAILRL_USER`` / ``RETAILRL_PASSWORD`` (as the ``retailrl registry`` commands
do); the decision point must exist (an admin creates it with ``retailrl registry add-decision-point``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agents.run_config import RunConfig
from policies.registry import NotFound, Registry, UserRecord, VersionRecord, artefact_sha256
from sim_data.io import atomic_write

REGISTRATION_FILE = "registration.json"


def register_run(run: Any, *, url: str | None = None, actor: UserRecord | None = None, user: str | None = None,
                 password: str | None = None, decision_point: str | None = None,
                 policy: str | None = None) -> VersionRecord:
    """Register a finished run (a :class:`agents.train.RunResult` or its run directory) as a candidate version.

    :param url: registry database URL (default: the config's ``register.db``, else ``DATABASE_URL``, else the
        SQLite file in the data directory).
    :param actor: the acting user (wins over ``user``/``password``).
    :param user: user name (default ``$RETAILRL_USER``); ``password`` defaults to ``$RETAILRL_PASSWORD``.
    :param decision_point: default: the config's ``register.decision_point``.
    :param policy: the policy name (default: the config's ``register.policy``).
    :return: the new version (also written to ``registration.json`` in the run directory).
    """
    run_dir = Path(getattr(run, "run_dir", run))
    config_file, metrics_file, policy_dir = run_dir / "config.json", run_dir / "metrics.json", run_dir / "policy"
    for path in (config_file, metrics_file, policy_dir / "policy.json"):
        if not path.is_file():
            raise FileNotFoundError(f"run: {run_dir} is not a finished run directory (no {path.relative_to(run_dir)})")
    config = RunConfig.from_dict(json.loads(config_file.read_text()))
    metrics = json.loads(metrics_file.read_text())
    decision_point = decision_point or config.register.decision_point
    policy = policy or config.register.policy
    if not decision_point or not policy:
        raise ValueError("register: needs a decision point and a policy name ([register] decision_point and policy "
                         "in the config)")
    registry = Registry(url or config.register.db or None)
    try:
        if actor is None:
            user = user or os.environ.get("RETAILRL_USER")
            password = password if password is not None else os.environ.get("RETAILRL_PASSWORD")
            if not user or password is None:
                raise ValueError("register: the registry needs an acting user: set RETAILRL_USER and "
                                 "RETAILRL_PASSWORD (a requester, approver or admin)")
            actor = registry.authenticate(user, password)
        try:
            version = registry.register_version(
                actor, decision_point, policy, policy_dir.resolve().as_uri(), artefact_sha256(policy_dir),
                train_config=config.to_dict(), train_metrics=metrics,
                description=f"{config.algo} on {config.env.id} (retailrl train {config.name})")
        except NotFound as exc:
            raise NotFound(f"{exc}; an admin creates it with `retailrl registry add-decision-point`") from None
    finally:
        registry.close()
    record = {"ref": version.ref, "id": version.id, "decision_point": decision_point, "policy": policy,
              "artefact_uri": version.artefact_uri, "artefact_sha256": version.artefact_sha256}
    text = json.dumps(record, indent=2, sort_keys=True)
    atomic_write(run_dir / REGISTRATION_FILE, lambda tmp: tmp.write_text(text))
    return version
