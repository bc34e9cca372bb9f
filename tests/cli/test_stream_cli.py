"""`retailrl ope run --logs DIR` and `retailrl data validate DIR` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from policies.ope.stream import evaluate_stream
from policies.policy import LinearSoftmaxPolicy
from retailrl.cli.main import app
from sim_data.synthetic import make_click_world

runner = CliRunner()


@pytest.fixture()
def logs(tmp_path):
    log, _ = make_click_world(3000, n_actions=5, n_positions=2, n_features=2, logging="softmax", seed=8)
    parts = tmp_path / "logs"
    parts.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(log)), 3)):
        log.table.iloc[rows].to_parquet(parts / f"part-{i}.parquet", index=False)
    policy = LinearSoftmaxPolicy(np.random.default_rng(3).normal(size=(2, 5, 2)), epsilon=0.1)
    policy.save(tmp_path / "policy")
    return parts, tmp_path / "policy", log.table, policy


def test_ope_run_streams_a_directory_and_matches_the_library(logs):
    parts, artefact, _, policy = logs
    result = runner.invoke(app, ["ope", "run", "--logs", str(parts), "--policy-artefact", str(artefact),
                                 "--estimators", "ipw,dr", "--n-resamples", "50", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    expected = evaluate_stream(str(parts), policy, estimators="ipw,dr", n_resamples=50, workers=2)
    assert [r["estimate"] for r in records] == [r.estimate for r in expected.results]
    assert [r["ci"] for r in records] == [list(r.ci) for r in expected.results]
    table = runner.invoke(app, ["ope", "run", "--logs", str(parts / "part-*.parquet"), "--policy-artefact",
                                str(artefact), "--estimators", "ipw", "--n-resamples", "20"])
    assert table.exit_code == 0, table.output
    assert "streamed 3,000 rows from 3 file(s)" in table.stdout


def test_ope_run_on_a_directory_with_one_bad_file_reports_no_estimate(logs):
    parts, artefact, table, _ = logs
    bad = table.iloc[:200].copy()
    bad.loc[bad.index[123], "reward"] = np.inf
    bad.to_parquet(parts / "part-3.parquet", index=False)
    result = runner.invoke(app, ["ope", "run", "--logs", str(parts), "--policy-artefact", str(artefact),
                                 "--estimators", "ipw,snipw", "--json"])
    assert result.exit_code == 2
    assert "part-3.parquet: row 123: column 'reward'" in result.stderr
    assert result.stdout.strip() == ""  # nothing reported as an estimate


def test_ope_run_streaming_refuses_a_mapping(logs, tmp_path):
    parts, artefact, _, _ = logs
    (tmp_path / "map.toml").write_text("[columns]\n")
    result = runner.invoke(app, ["ope", "run", "--logs", str(parts), "--policy-artefact", str(artefact),
                                 "--mapping", str(tmp_path / "map.toml")])
    assert result.exit_code == 2 and "--mapping: not available when streaming" in result.stderr
    result = runner.invoke(app, ["ope", "run", "--logs", str(parts), "--policy-artefact", str(artefact),
                                 "--engine", "spark"])
    assert result.exit_code == 2 and "expected one of auto, memory, local, ray" in result.stderr


def test_data_validate_directory(logs):
    parts, _, table, _ = logs
    ok = runner.invoke(app, ["data", "validate", str(parts), "--kind", "bandit", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["rows"] == 3000
    table.iloc[990:1010].to_parquet(parts / "part-3.parquet", index=False)  # ids of part-0 and part-1 again
    bad = runner.invoke(app, ["data", "validate", str(parts), "--kind", "bandit"])
    assert bad.exit_code == 1
    assert "40 rows whose id occurs more than once (first: part-0.parquet row 990" in bad.stderr.replace("\n", " ")
    wrong = runner.invoke(app, ["data", "validate", str(parts), "--kind", "choice"])
    assert wrong.exit_code == 2 and "bandit logs only" in wrong.stderr


def _estimates(report: dict) -> dict[str, dict[str, float]]:
    return {ev["policy"]: {r["name"]: r["estimate"] for r in ev["results"]} for ev in report["evaluations"]}


def test_a_streamed_report_matches_the_in_memory_one_and_passes_the_approval_gate(logs, tmp_path):
    """`ope run --logs DIR --report OUT` writes the registry's report: the in-memory report's point estimates
    (candidate, logging policy, champion), and the approval gate reads it as it reads any report."""
    from policies.registry import Registry
    from policies.registry.db import upgrade
    from policies.registry.security import make_hasher

    parts, artefact, table, _ = logs
    champion = LinearSoftmaxPolicy(np.random.default_rng(4).normal(size=(2, 5, 2)), epsilon=0.3)
    champion.save(tmp_path / "champion")
    table.to_parquet(tmp_path / "whole.parquet", index=False)
    common = ["--policy-artefact", str(artefact), "--champion-artefact", str(tmp_path / "champion"),
              "--estimators", "ipw,snipw,dr", "--n-resamples", "40"]
    streamed = runner.invoke(app, ["ope", "run", "--logs", str(parts), "--report", str(tmp_path / "s"), *common])
    assert streamed.exit_code == 0, streamed.output
    in_memory = runner.invoke(app, ["ope", "run", "--logs", str(tmp_path / "whole.parquet"), "--engine", "memory",
                                    "--report", str(tmp_path / "m"), *common])
    assert in_memory.exit_code == 0, in_memory.output
    s_report = json.loads((tmp_path / "s" / "report.json").read_text())
    m_report = json.loads((tmp_path / "m" / "report.json").read_text())
    s_est, m_est = _estimates(s_report), _estimates(m_report)
    assert [ev["on_policy"] for ev in s_report["evaluations"]] == [False, True, False]
    assert len(s_est) == len(m_est) == 3
    for (s_name, s_vals), (m_name, m_vals) in zip(s_est.items(), m_est.items(), strict=True):
        assert s_vals.keys() == m_vals.keys(), (s_name, m_name)
        for key, value in s_vals.items():  # DR's reward model differs (bounded-sample fit): IPW/SNIPW/mean exact
            if key != "dr":
                assert value == pytest.approx(m_vals[key], rel=1e-9), (s_name, key)
    assert s_report["log"]["rows"] == len(table) and (tmp_path / "s" / "forest.png").stat().st_size > 0

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    upgrade(url)
    reg = Registry(url, hasher=make_hasher(fast=True))
    try:
        root = reg.create_user(None, "root", "pw-root-123456", "admin")
        reg.create_user(root, "ana", "pw-ana-1234567", "requester")
        reg.create_user(root, "bob", "pw-bob-1234567", "approver")
        ana, bob = reg.authenticate("ana", "pw-ana-1234567"), reg.authenticate("bob", "pw-bob-1234567")
        reg.add_decision_point(root, "banner", "ad_slot", {"n_actions": 5}, 0, approval_estimator="ipw",
                               guardrail_bound=0.0, guardrail_confidence=0.95, guardrail_min_count=20)
        v = reg.register_version(ana, "banner", "softmax", (tmp_path / "policy").as_uri(), "ab" * 32)
        reg.attach_report(ana, v.ref, s_report)
        reg.request_approval(ana, v.ref)
        assert reg.approve(bob, v.ref).state == "approved"
        (approval,) = [a for a in reg.audit_log(entity_name=v.ref) if a.action == "approve"]
        assert approval.details["candidate"]["estimate"] == s_est["candidate"]["ipw"]
    finally:
        reg.close()
