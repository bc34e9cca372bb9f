"""The serving form of a VW policy: loads without importing ``agents``, its fast path formats exactly like the
learner, and the sampling helpers the API uses are reproducible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policies.policy import Policy
from policies.vw_text import ADFFormatter, action_line, shared_line
from service.sampling import choose_arm, replay_actions, rng_for_event, sample_slots, traffic_bucket

ROOT = Path(__file__).resolve().parents[2]


def test_a_saved_learner_loads_as_vw_policy_without_importing_agents(vw_artefact):
    code = ("import json, sys; from policies.policy import Policy; p = Policy.load(sys.argv[1]); "
            "print(json.dumps({'cls': type(p).__module__ + '.' + type(p).__name__, "
            "'agents': any(m == 'agents' or m.startswith('agents.') for m in sys.modules), "
            "'pmf': p.predict_values([0.5, -1.0, 0.0, 2.0, 1.5]).tolist()})); p.close()")
    out = subprocess.run([sys.executable, "-c", code, str(vw_artefact)], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["cls"] == "policies.vw_policy.VWPolicy" and got["agents"] is False
    with Policy.load(vw_artefact) as policy:
        np.testing.assert_array_equal(policy.predict([0.5, -1.0, 0.0, 2.0, 1.5]), got["pmf"])
        np.testing.assert_array_equal(policy.predict_values([0.5, -1.0, 0.0, 2.0, 1.5], [4, 1]),
                                      policy.predict([0.5, -1.0, 0.0, 2.0, 1.5], actions=[4, 1]))
        with pytest.raises(ValueError, match="expected 5 features"):
            policy.predict_values([1.0])


def test_fast_path_lines_equal_the_formatters_lines():
    row = ["red", 0.0, 2.5, -1, True, "a b|c:d"]
    table = pd.DataFrame([row])
    formatter = ADFFormatter(4, n_positions=3, action_features=pd.DataFrame({"c": ["x", "y z", "x", "w"],
                                                                           "s": [0.5, 0.0, 2.0, 1.0]}))
    for position in range(3):
        assert shared_line(row, position, 3) == formatter.shared_lines(table, position)[0]
    assert shared_line(row) == ADFFormatter(4).shared_lines(table)[0]
    assert [action_line(a, f) for a, f in enumerate([["x", 0.5], ["y z", 0.0], ["x", 2.0], ["w", 1.0]])] \
        == formatter.action_lines
    with pytest.raises(ValueError, match="finite"):
        shared_line([float("nan")])


def test_sampling_is_a_function_of_the_event_id():
    pmfs = [np.array([0.1, 0.2, 0.7]), np.array([0.5, 0.5, 0.0])]
    first = sample_slots(pmfs, rng_for_event("e-42"))
    assert first == sample_slots(pmfs, rng_for_event("e-42")) == replay_actions("e-42", pmfs)
    draws = np.array([sample_slots(pmfs, rng_for_event(f"e-{i}")) for i in range(4000)])
    assert (draws[:, 1] != 2).all()  # probability 0 is never drawn
    assert np.bincount(draws[:, 0], minlength=3) / 4000 == pytest.approx([0.1, 0.2, 0.7], abs=0.03)


def test_traffic_buckets_are_sticky_and_uniform():
    assert traffic_bucket("banner", "u1") == traffic_bucket("banner", "u1")
    assert traffic_bucket("banner", "u1") != traffic_bucket("other", "u1")
    buckets = np.array([traffic_bucket("banner", f"u{i}") for i in range(5000)])
    assert ((buckets >= 0) & (buckets < 100)).all()
    arms = np.array([choose_arm((90.0, 10.0), b) for b in buckets])
    assert arms.mean() == pytest.approx(0.10, abs=0.015)
    assert choose_arm((100.0,), 99.999) == 0 and choose_arm((0.0, 100.0), 0.0) == 1
