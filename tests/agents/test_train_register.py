"""Registering a run's exported policy as a candidate version in a temporary SQLite registry."""

from __future__ import annotations

import json

import pytest

from agents.register import register_run
from agents.run_config import RunConfig
from agents.train import run_training
from policies.registry import NotFound, Registry, artefact_sha256, upgrade
from policies.registry.security import make_hasher


@pytest.fixture
def registry_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    upgrade(url)
    reg = Registry(url, hasher=make_hasher(fast=True))
    root = reg.create_user(None, "root", "root-pass-1", "admin")
    reg.create_user(root, "alice", "alice-pass", "requester")
    reg.add_decision_point(root, "pricing", "pricing", {"n_actions": 5}, 2)
    reg.close()
    return url


def config(tmp_path, url: str, decision_point: str = "pricing") -> RunConfig:
    return RunConfig.from_dict({
        "name": "reg", "out": str(tmp_path / "runs"),
        "env": {"id": "retailrl/Pricing-v0", "n_envs": 2, "kwargs": {"horizon": 10}},
        "algo": {"name": "PPO", "hyperparams": {"n_steps": 16, "batch_size": 32, "n_epochs": 1}},
        "train": {"steps": 64}, "eval": {"n_seeds": 3},
        "register": {"enabled": True, "decision_point": decision_point, "policy": "pricing-ppo", "db": url}})


def test_a_run_is_registered_as_a_candidate(tmp_path, registry_url, monkeypatch):
    monkeypatch.setenv("RETAILRL_USER", "alice")
    monkeypatch.setenv("RETAILRL_PASSWORD", "alice-pass")
    result = run_training(config(tmp_path, registry_url), progress=False)
    version = result.registered
    assert (version.ref, version.state, version.decision_point, version.created_by) == (
        "pricing-ppo:1", "candidate", "pricing", "alice")
    assert version.artefact_sha256 == artefact_sha256(result.policy_dir)
    assert version.artefact_uri == result.policy_dir.resolve().as_uri()
    assert version.train_config == result.config.to_dict()
    assert version.train_metrics["eval"]["returns"] == result.metrics["eval"]["returns"]
    saved = json.loads((result.run_dir / "registration.json").read_text())
    assert saved["ref"] == "pricing-ppo:1" and saved["artefact_sha256"] == version.artefact_sha256
    again = register_run(result.run_dir, url=registry_url)  # re-registering numbers a new version
    assert again.ref == "pricing-ppo:2"
    reg = Registry(registry_url)
    assert [v.ref for v in reg.list_versions("pricing")] == ["pricing-ppo:1", "pricing-ppo:2"]
    assert reg.audit_log(entity_name="pricing-ppo:1")[0].actor == "alice"
    reg.close()


def test_registration_errors_say_what_to_do(tmp_path, registry_url, monkeypatch):
    cfg = config(tmp_path, registry_url).with_overrides(register=False)
    result = run_training(cfg, progress=False)
    assert result.registered is None and not (result.run_dir / "registration.json").exists()
    monkeypatch.delenv("RETAILRL_USER", raising=False)
    monkeypatch.delenv("RETAILRL_PASSWORD", raising=False)
    with pytest.raises(ValueError, match="set RETAILRL_USER and RETAILRL_PASSWORD"):
        register_run(result, url=registry_url)
    with pytest.raises(NotFound, match="no decision point named 'ads'.*retailrl registry add-decision-point"):
        register_run(result, url=registry_url, user="alice", password="alice-pass", decision_point="ads")
    with pytest.raises(FileNotFoundError, match="not a finished run directory"):
        register_run(tmp_path, url=registry_url, user="alice", password="alice-pass")
