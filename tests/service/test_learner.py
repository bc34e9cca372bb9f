"""The online learner: joined logs in, a candidate version out (registered, never promoted), known answer:
after learning from logs where only action 3 pays, the candidate prefers action 3; it resumes where it stopped."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_api import PASSWORD, seed_registry
from policies.policy import Policy
from policies.registry import Registry
from policies.registry.log_records import DecisionRow, RewardRow
from policies.vw_policy import VWPolicy
from service.learner import OnlineLearner

PAYING = 3


@pytest.fixture
def logged(own_db_url, vw_artefact, tmp_path):
    """A registry whose banner log holds 1500 uniformly logged decisions (propensity 0.1); only action 3 pays."""
    artefact = Path(shutil.copytree(vw_artefact, tmp_path / "vw"))
    seeded = seed_registry(own_db_url, artefact)
    rng = np.random.default_rng(0)
    reg = Registry(seeded.url)
    rows, rewards = [], []
    for i in range(1500):
        action = int(rng.integers(10))
        features = rng.normal(size=5).round(3).tolist()
        context = {"features": features, "slots": 1, "candidates": None, "chosen": [action], "propensities": [0.1]}
        rows.append(DecisionRow("banner", f"log-{i}", "champion", action, version=seeded.live_ref, propensity=0.1,
                                context=context))
        rewards.append(RewardRow(f"log-{i}", 1.0 if action == PAYING else 0.0))
    assert all(reg.log_decisions(rows))
    assert set(reg.log_rewards(rewards)) == {"stored"}
    reg.log_decisions([DecisionRow("banner", "foreign", "baseline", 0, context={"other": "shape"})])
    reg.log_rewards([RewardRow("foreign", 1.0)])
    yield seeded, reg
    reg.close()


def test_the_learner_publishes_a_candidate_that_learned_the_paying_action(logged, tmp_path):
    seeded, reg = logged
    with Policy.load(Path(tmp_path / "vw")) as base:
        before = base.predict([0.0] * 5)[PAYING]
    ana = reg.authenticate("ana", PASSWORD)
    learner = OnlineLearner(reg, ana, "banner", "banner-online", tmp_path / "online", publish_every=100_000)
    try:
        assert learner.base_ref == seeded.live_ref
        (version,) = learner.run(once=True)
        assert (learner.stats.learned, learner.stats.skipped) == (1500, 1)
    finally:
        learner.close()
    assert version.state == "candidate" and version.policy == "banner-online"
    assert version.train_config["base_version"] == seeded.live_ref
    assert reg.traffic("banner").arms == (("champion", seeded.live_ref, 100.0),)  # nothing promoted by itself

    with Policy.load(Path(version.artefact_uri.removeprefix("file://"))) as candidate:
        assert isinstance(candidate, VWPolicy)
        pmfs = np.array([candidate.predict(x) for x in np.random.default_rng(1).normal(size=(20, 5))])
    assert before < 0.5 and (pmfs.argmax(axis=1) == PAYING).all()

    again = OnlineLearner(reg, ana, "banner", "banner-online", tmp_path / "online")  # resumes after its watermark
    try:
        assert again.base_ref == version.ref and again.step() == 0
        reg.log_decisions([DecisionRow("banner", "new", "champion", PAYING, version=seeded.live_ref, propensity=0.1,
                                       context={"features": [0.0] * 5, "candidates": None, "chosen": [PAYING],
                                                "propensities": [0.1]})])
        reg.log_rewards([RewardRow("new", 1.0)])
        assert again.step() == 1 and again.stats.learned == 1
    finally:
        again.close()


def test_the_learner_needs_a_vw_policy_to_start_from(logged, tmp_path):
    _, reg = logged
    ana = reg.authenticate("ana", PASSWORD)
    with pytest.raises(ValueError, match="publish_every"):
        OnlineLearner(reg, ana, "banner", "x", tmp_path, publish_every=0)
    bob = reg.authenticate("bob", PASSWORD)
    reg.rollback(bob, "banner", "no champion")
    with pytest.raises(ValueError, match="no live version"):
        OnlineLearner(reg, ana, "banner", "fresh", tmp_path)


def test_the_learner_command_publishes_through_the_cli(logged, tmp_path):
    import os
    import subprocess
    import sys

    seeded, reg = logged
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "RETAILRL_LEARNER_TOKEN": seeded.tokens["service"]}
    out = subprocess.run([sys.executable, "-m", "retailrl.cli.main", "learner", "--decision-point", "banner",
                          "--policy", "banner-cli", "--out", str(tmp_path / "cli"), "--db", seeded.url, "--once"],
                         capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    published = [v for v in reg.list_versions("banner") if v.policy == "banner-cli"]
    assert len(published) == 2  # 1500 rewards with --publish-every 1000: one at 1000, one for the rest
    assert {v.state for v in published} == {"candidate"}
