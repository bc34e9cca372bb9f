"""Pure parts of the registry (no database): the transition table, report parsing, artefact hashes."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from policies.registry import InvalidTransition, ReportError, artefact_sha256
from policies.registry import workflow as wf
from policies.registry.reports import apply_rule, choose_estimator, parse_estimates, validate_report


def test_transition_table_matches_the_documented_state_machine():
    edges = {(src, t.target) for t in wf.TRANSITIONS.values() for src in t.sources}
    assert ("candidate", "evaluated") in edges and ("evaluated", "approved") in edges
    assert ("approved", "canary") in edges and ("canary", "live") in edges
    assert {("canary", "rolled_back"), ("live", "rolled_back")} <= edges
    assert {s for s, t in edges if t == "rejected"} == {"candidate", "evaluated", "approved", "canary"}
    assert not any(src in wf.TERMINAL_STATES for src, _ in edges)
    assert ("candidate", "approved") not in edges and ("approved", "live") not in edges


def test_invalid_transition_message():
    with pytest.raises(InvalidTransition) as info:
        wf.transition("promote", "approved", "policy version ppo:2")
    assert str(info.value) == ("invalid transition for policy version ppo:2: cannot go from 'approved' to 'live' "
                               "(action 'promote'); 'promote' is allowed only from ['canary']")
    assert (info.value.current, info.value.requested) == ("approved", "live")


@pytest.mark.parametrize("report", [
    {"ope": [{"name": "ips", "estimate": 0.2, "ci": [0.1, 0.3]}, {"name": "dr", "estimate": 0.25,
                                                                  "ci": [0.2, 0.3], "lower_bound": 0.21}]},
    {"estimates": {"ips": {"estimate": 0.2, "ci": [0.1, 0.3]}, "dr": {"estimate": 0.25, "ci": [0.2, 0.3],
                                                                       "lower_bound": 0.21}}},
    {"ips": {"name": "ips", "estimate": 0.2, "ci": [0.1, 0.3]}, "dr": {"estimate": 0.25, "lower_bound": 0.21}},
])
def test_report_shapes(report):
    estimates = parse_estimates(report)
    assert list(estimates) == ["ips", "dr"]
    assert estimates["ips"].lower_bound == 0.1  # defaults to ci[0]
    assert estimates["dr"].lower_bound == 0.21
    assert choose_estimator(None, estimates) == "dr"
    assert choose_estimator("ips", estimates) == "ips"


@pytest.mark.parametrize(("report", "message"), [
    ({"ope": [{"name": "dr", "estimate": "high", "ci": [0, 1]}]}, "report.ope\\[0\\] \\(dr\\).estimate: expected a finite number"),
    ({"ope": [{"name": "dr", "estimate": 0.2, "ci": [0.3, 0.1]}]}, "expected lo <= hi"),
    ({"ope": [{"name": "dr", "estimate": 0.2}]}, "expected 'lower_bound' or 'ci'"),
    ({"ope": [{"estimate": 0.2, "ci": [0.1, 0.3]}]}, "expected a 'name'"),
    ({"notes": "nothing measured"}, "found neither"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_reports_are_named(report, message):
    with pytest.raises(ReportError, match=message):
        validate_report(report)


def test_ope_report_to_dict_shape_uses_the_candidate_evaluation():
    result = {"name": "dr", "label": "dr", "estimate": 0.031, "ci": [0.027, 0.035], "confidence": 0.95,
              "lower_bound": 0.026, "lower_bound_method": "t", "std_error": 0.002, "diagnostics": {"ess": 900.0},
              "params": {}}
    report = {"title": "ppo vs logging", "created_at": "2025-01-01T00:00:00+00:00", "log": {"n_rounds": 10000},
              "evaluations": [{"policy": "ppo", "n_rounds": 10000, "results": [result]},
                              {"policy": "logging", "n_rounds": 10000, "on_policy": True,
                               "results": [{**result, "estimate": 0.5, "lower_bound": 0.4}]}]}
    (estimate,) = validate_report(report).values()
    assert (estimate.name, estimate.estimate, estimate.lower_bound, estimate.diagnostics) == (
        "dr", 0.031, 0.026, {"ess": 900.0})


def test_simulator_only_report_is_evidence():
    assert validate_report({"simulator": {"mean_reward": 0.3, "episodes": 100}}) == {}


def test_rules_known_answers():
    est = parse_estimates({"ope": [{"name": "dr", "estimate": 0.12, "ci": [0.09, 0.15]}]})["dr"]
    ref = parse_estimates({"ope": [{"name": "dr", "estimate": 0.10, "ci": [0.095, 0.105]}]})["dr"]
    with pytest.raises(ValueError, match="lower bound 0.09 does not beat the champion estimate 0.1"):
        apply_rule("lower_bound_beats_estimate", "dr", est, ref, "champion")
    with pytest.raises(ValueError, match="needs a higher dr estimate and a higher lower bound"):
        apply_rule("mean_and_lower_bound", "dr", est, ref, "champion")
    assert "evaluation present" in apply_rule("evaluation_only", "dr", est, ref, "champion")
    passing = dataclasses.replace(est, lower_bound=0.101)
    assert apply_rule("lower_bound_beats_estimate", "dr", passing, ref, "champion") == (
        "rule 'lower_bound_beats_estimate': dr lower bound 0.101 > champion estimate 0.1")


def test_artefact_sha256_of_a_directory(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "model.zip").write_bytes(b"weights")
    (tmp_path / "a" / "config.json").write_text("{}")
    first = artefact_sha256(tmp_path / "a")
    assert len(first) == 64 and first == artefact_sha256(tmp_path / "a")
    (tmp_path / "a" / "config.json").write_text('{"lr": 1}')
    assert artefact_sha256(tmp_path / "a") != first
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "weights").write_bytes(b"weights")
    assert artefact_sha256(tmp_path / "b" / "weights") == hashlib.sha256(b"weights").hexdigest()
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        artefact_sha256(tmp_path / "missing")


def test_seed_demo_registers_candidates_once(tmp_path):
    from policies.registry import Registry
    from policies.registry.demo import DEMO_PASSWORD, DemoCandidate, seed_demo

    artefact = tmp_path / "ppo"
    artefact.mkdir()
    (artefact / "model.zip").write_bytes(b"w")
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    candidate = DemoCandidate("banner", "ad_slot", {"n_actions": 3}, 0, "ppo", artefact,
                              {"ope": [{"name": "dr", "estimate": 0.1, "ci": [0.08, 0.12]}]})
    (first,) = seed_demo([candidate], url)
    (again,) = seed_demo([candidate], url)
    assert first.ref == again.ref == "ppo:1" and again.state == "evaluated"
    registry = Registry(url)
    assert [a.status for a in registry.approvals("ppo:1")] == ["open"]
    approver = registry.authenticate("demo-approver", DEMO_PASSWORD)
    assert registry.approve(approver, "ppo:1").state == "approved"
    registry.close()
