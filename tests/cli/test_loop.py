"""`retailrl loop` on the example shop, through the installed CLI from a temporary directory: what it fit,
what it registered, and that a bad table stops it before the registry is touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "retailrl"


def _cli() -> list[str]:
    return [str(CLI)] if CLI.exists() else [sys.executable, "-m", "retailrl.cli.main"]


def _env(home: Path) -> dict:
    env = {**os.environ, "RETAILRL_HOME": str(home), "COLUMNS": "200"}
    env.pop("DATABASE_URL", None)
    return env


def _run(args: list[str], cwd: Path, home: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=_env(home), timeout=timeout)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    work = tmp_path_factory.mktemp("shop_work")
    made = _run([sys.executable, str(ROOT / "examples" / "shop" / "make_shop.py"), "--out", "shop"], work, work)
    assert made.returncode == 0, made.stderr[-2000:]
    return work


@pytest.fixture(scope="module")
def loop_run(shop):
    home = shop / "home"
    out = _run([*_cli(), "loop", "shop/shop.toml", "--out", "loop", "--size", "tiny"], shop, home)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return shop, home, out.stdout


def test_loop_fits_every_table_and_writes_the_report(loop_run):
    work, _, stdout = loop_run
    loop = json.loads((work / "loop" / "loop.json").read_text())
    assert set(loop["fits"]) == {"bandit", "choice", "stock"} and loop["skipped"] == {}
    for kind, section in (("bandit", "click"), ("choice", "demand"), ("stock", "inventory")):
        assert section in json.loads((work / "loop" / "fits" / kind / "params.json").read_text())
    report = (work / "loop" / "report.md").read_text()
    assert "## Ad candidates" in report and "![ad candidates](" in report
    assert (work / "loop" / "ope_candidates.png").stat().st_size > 1000
    assert "wrote" in stdout and "report.md" in stdout


def test_loop_registers_the_candidates_with_evidence_in_the_shops_ids(loop_run):
    from policies.registry import Registry

    work, home, _ = loop_run
    registry = Registry(f"sqlite:///{home / 'registry.db'}")
    try:
        banner = registry.list_versions("shop-banner")
        assert {v.policy for v in banner} == {"item-ctr-greedy", "vw-squarecb"}
        assert {v.policy for v in registry.list_versions("shop-pricing")} == {"shop-pricing-ppo"}
        point = registry.get_decision_point("shop-banner")
        truth = json.loads((work / "shop" / "truth.json").read_text())
        assert point.action_space["vocabulary"]["actions"] == sorted(truth["banner_ids"])
        for v in banner:
            assert v.state != "live"          # registered and awaiting a second person's approval
            assert registry.reports(v.ref)
            artefact = Path(v.artefact_uri.removeprefix("file://"))
            vocab = json.loads((artefact / "vocabulary.json").read_text())
            assert vocab["position_base"] == 1 and "BNR-007" in vocab["actions"]
    finally:
        registry.close()


def test_a_bad_table_stops_the_loop_before_the_registry(shop):
    work = shop / "bad"
    shutil.copytree(shop / "shop", work)
    lines = (work / "stock.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("sales_units")] = "99999"
    lines[3] = ",".join(row)
    (work / "stock.csv").write_text("\n".join(lines) + "\n")
    home = shop / "bad_home"
    out = _run([*_cli(), "loop", "bad/shop.toml", "--out", "bad_loop", "--size", "tiny"], shop, home)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "stock.csv" in text and "sold" in text and "rows 2" in text
    assert not (home / "registry.db").exists()
    assert not (shop / "bad_loop").exists()
