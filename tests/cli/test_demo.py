"""`retailrl demo --no-serve` end to end: real data, simulator fits, candidates with OPE reports, registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo_home")
    env = {**os.environ, "RETAILRL_HOME": str(home), "COLUMNS": "200"}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "retailrl.cli.main", "demo", "--no-serve"], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return home, out.stdout


def test_demo_prints_the_real_data_summary(demo_home):
    _, stdout = demo_home
    assert "Open Bandit Dataset" in stdout and "Scanner panels" in stdout
    assert "10,000" in stdout and "0.0038" in stdout


def test_demo_fits_the_simulator_and_writes_fidelity(demo_home):
    home, stdout = demo_home
    fidelity = json.loads((home / "demo" / "sim_obd_all" / "fidelity.json").read_text())
    assert {"campaign", "simulated_ctr", "onpolicy_ctr", "onpolicy_ci"} <= set(fidelity)
    assert (home / "demo" / "sim_cracker" / "params.json").is_file()
    assert "fidelity: obd" in stdout


def test_demo_registers_candidates_with_reports_and_a_live_version(demo_home):
    from policies.registry import Registry

    home, stdout = demo_home
    registry = Registry(f"sqlite:///{home / 'registry.db'}")
    try:
        versions = registry.list_versions("obd-banner")
        assert {v.policy for v in versions} == {"item-ctr-greedy", "bts-prior", "vw-squarecb"}
        assert sum(v.state == "live" for v in versions) == 1
        for v in versions:
            assert registry.reports(v.ref), f"{v.ref} has no evaluation report"
        assert {u.username for u in registry.list_users()} >= {"demo-admin", "demo-analyst", "demo-approver"}
        pricing = registry.list_versions("cracker-pricing")
        assert [v.policy for v in pricing] == ["demo-quick-ppo"]
        simulator = registry.reports(pricing[0].ref)[0].report["simulator"]
        assert 0.5 < simulator["ratio"] <= 1.05 and simulator["oracle"] > 0
    finally:
        registry.close()
    assert "demo-password" in stdout


def test_demo_live_policy_serves_simulated_shoppers_over_http(demo_home, monkeypatch):
    from retailrl.demo_serve import demo_token, free_port, shopper_burst, start, wait_healthy

    home, _ = demo_home
    monkeypatch.setenv("RETAILRL_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    port = free_port()
    api = start(["serve", "--host", "127.0.0.1", "--port", str(port)], home / "api-test.log",
                env={"RETAILRL_HOME": str(home)})
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", api)
        burst = shopper_burst(f"http://127.0.0.1:{port}", demo_token(), home / "demo" / "sim_obd_all" / "click.json",
                              n_shoppers=25)
    finally:
        api.terminate()
        api.wait(timeout=30)
    assert burst["decisions"] == 25 and burst["rewards"] == 25
    assert burst["errors"] == 0 and burst["fallbacks"] == 0
    assert burst["arms"] == {"champion": 25}
