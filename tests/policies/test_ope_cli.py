"""`retailrl ope run` and the markdown report with its forest plot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from policies.ope.report import OPEReport
from policies.ope.run import evaluate_log, evaluate_on_policy
from policies.policy import FixedDistributionPolicy
from retailrl.cli.ope import app
from sim_data.synthetic import make_click_world

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("ope_cli")
    log, truth = make_click_world(3000, n_actions=4, n_positions=2, n_features=2, logging="uniform", seed=3)
    log.table.to_csv(root / "logs.csv", index=False)
    dist = np.array([[0.7, 0.1], [0.1, 0.1], [0.1, 0.1], [0.1, 0.7]])
    np.save(root / "pi.npy", dist)
    return root, log, dist


def run(*args):
    return runner.invoke(app, ["run", *map(str, args)])


def test_json_records_match_the_library(world):
    root, log, dist = world
    result = run("--logs", root / "logs.csv", "--action-dist", root / "pi.npy", "--estimators", "ipw,snipw,dr",
                 "--n-resamples", 50, "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == ["ipw", "snipw", "dr"]
    for r in records:
        assert {"name", "estimate", "ci", "lower_bound", "diagnostics"} <= set(r)
        assert {"ess", "max_weight", "never_taken_share", "warnings"} <= set(r["diagnostics"])
        assert r["ci"][0] <= r["estimate"] <= r["ci"][1]
    expected = evaluate_log(log, dist, estimators="ipw", n_resamples=50)
    assert records[0]["estimate"] == pytest.approx(expected.result("ipw").estimate)


def test_mapped_logs_and_policy_artefact(world, tmp_path):
    root, log, dist = world
    table = log.table.rename(columns={"action": "item", "reward": "clicked", "propensity": "pscore"})
    table.to_csv(tmp_path / "shop.csv", index=False)
    (tmp_path / "map.toml").write_text('kind = "bandit"\n[columns]\naction = "item"\nreward = "clicked"\n'
                                       'propensity = "pscore"\n')
    FixedDistributionPolicy(dist).save(tmp_path / "artefact")
    result = run("--logs", tmp_path / "shop.csv", "--mapping", tmp_path / "map.toml", "--policy-artefact",
                 tmp_path / "artefact", "--estimators", "ipw", "--n-resamples", 50, "--json")
    assert result.exit_code == 0, result.output
    direct = run("--logs", root / "logs.csv", "--action-dist", root / "pi.npy", "--estimators", "ipw",
                 "--n-resamples", 50, "--json")
    assert json.loads(result.stdout)[0]["estimate"] == pytest.approx(json.loads(direct.stdout)[0]["estimate"])


def test_registered_version_is_evaluated_from_its_artefact(world, tmp_path, monkeypatch):
    from policies.policy import artefact_sha256
    from policies.registry import Registry, upgrade

    root, _, dist = world
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    registry = Registry(url)
    admin = registry.create_user(None, "admin", "admin-pass-1", "admin")
    registry.add_decision_point(admin, "banner", "ad_slot", {"n_actions": 4, "n_positions": 2}, 0)
    FixedDistributionPolicy(dist).save(tmp_path / "artefact")
    version = registry.register_version(admin, "banner", "fixed", (tmp_path / "artefact").resolve().as_uri(),
                                        artefact_sha256(tmp_path / "artefact"))
    by_name = run("--logs", root / "logs.csv", "--policy", version.ref, "--estimators", "ipw", "--n-resamples", 50,
                  "--json")
    assert by_name.exit_code == 0, by_name.output
    direct = run("--logs", root / "logs.csv", "--action-dist", root / "pi.npy", "--estimators", "ipw",
                 "--n-resamples", 50, "--json")
    assert json.loads(by_name.stdout)[0]["estimate"] == pytest.approx(json.loads(direct.stdout)[0]["estimate"])
    np.save(tmp_path / "artefact" / "extra.npy", np.zeros(1))  # changed after registration: refused
    tampered = run("--logs", root / "logs.csv", "--policy", version.ref, "--estimators", "ipw")
    assert tampered.exit_code == 2 and "does not match the registered" in tampered.output
    missing = run("--logs", root / "logs.csv", "--policy", "nosuch@1", "--estimators", "ipw")
    assert missing.exit_code == 2 and "nosuch" in missing.output


def test_bad_inputs_give_clear_errors(world):
    root, _, _ = world
    bad = run("--logs", root / "logs.csv", "--action-dist", root / "pi.npy", "--estimators", "ipw,magic")
    assert bad.exit_code == 2 and "unknown estimator 'magic'" in bad.output
    np.save(root / "small.npy", np.full((3, 2), 1 / 3))  # the log has actions 0..3
    small = run("--logs", root / "logs.csv", "--action-dist", root / "small.npy", "--estimators", "ipw")
    assert small.exit_code == 2 and "action ids below n_actions=3" in small.output
    np.save(root / "wrong.npy", np.full((7, 4, 2), 0.25))  # 7 rounds, the log has 3000
    wrong = run("--logs", root / "logs.csv", "--action-dist", root / "wrong.npy", "--estimators", "ipw")
    assert wrong.exit_code == 2
    assert "action_dist: expected shape (n_rounds, n_actions, n_positions) with n_rounds=3000" in wrong.output
    none = run("--logs", root / "logs.csv")
    assert none.exit_code == 2 and "give the policy to evaluate" in none.output


def test_table_output_and_report(world, tmp_path):
    root, _, dist = world
    np.save(tmp_path / "champ.npy", np.full((4, 2), 0.25))
    result = run("--logs", root / "logs.csv", "--action-dist", root / "pi.npy", "--estimators", "ipw,dm",
                 "--n-resamples", 50, "--champion-action-dist", tmp_path / "champ.npy", "--report", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    assert "Off-policy estimates" in result.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "![forest plot" in md and "(forest.png)" in md
    assert "## candidate" in md and "## champion" in md and "## logging" in md
    png = (tmp_path / "rep" / "forest.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [e["policy"] for e in saved["evaluations"]] == ["candidate", "logging (logged)", "champion"]


def test_obd_logs_spec():
    dist = np.full((34, 3), 1 / 34)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        np.save(Path(d) / "u.npy", dist)
        result = run("--logs", "obd:bts/men", "--action-dist", Path(d) / "u.npy", "--estimators", "snipw",
                     "--n-resamples", 50, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert 0 < record["estimate"] < 0.05
    bad = run("--logs", "obd:bts", "--action-dist", "x.npy")
    assert bad.exit_code == 2


def test_report_object_is_plain_and_serialisable(world, tmp_path):
    _, log, dist = world
    evs = [evaluate_log(log, dist, estimators="ipw", n_resamples=20), evaluate_on_policy(log, n_resamples=20)]
    report = OPEReport(title="t", log=log.summary(), evaluations=evs)
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d
    paths = report.save(tmp_path / "r")
    assert set(paths) == {"markdown", "json", "forest_png"}
    assert evs[1].results[0].estimate == pytest.approx(log.rewards.mean())
