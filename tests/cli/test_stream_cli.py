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


def test_ope_run_streaming_refuses_in_memory_only_options(logs, tmp_path):
    parts, artefact, _, _ = logs
    result = runner.invoke(app, ["ope", "run", "--logs", str(parts), "--policy-artefact", str(artefact),
                                 "--report", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--report: not available when streaming" in result.stderr
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
