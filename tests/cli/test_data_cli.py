"""`retailrl data` end to end on the real Open Bandit Dataset sample, through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def retailrl(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RETAILRL_CACHE": str(cache), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "retailrl.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_describe_obd_random_all(cache):
    out = retailrl("data", "describe", "obd", "--policy", "random", "--campaign", "all", "--json", cache=cache)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["rows"] == 10000
    assert summary["n_actions"] == 80
    assert summary["n_positions"] == 3
    assert round(summary["ctr"], 4) == 0.0038
    assert 0 < summary["propensity_min"] <= summary["propensity_max"] <= 1


@pytest.fixture(scope="module")
def exported(cache, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "obd_random_all.csv"
    out = retailrl("data", "export", "obd", "--policy", "random", "--campaign", "all", "--out", str(path), cache=cache)
    assert out.returncode == 0, out.stderr
    return path


def test_validate_accepts_what_export_writes(exported, cache):
    out = retailrl("data", "validate", str(exported), "--kind", "bandit", "--json", cache=cache)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == 10000
    assert "propensity" in pd.read_csv(exported, nrows=1).columns


def test_validate_rejects_a_zero_propensity(exported, cache, tmp_path):
    df = pd.read_csv(exported)
    df.loc[17, "propensity"] = 0.0
    bad = tmp_path / "zero.csv"
    df.to_csv(bad, index=False)
    out = retailrl("data", "validate", str(bad), "--kind", "bandit", cache=cache)
    assert out.returncode != 0
    assert "propensity" in out.stderr and "rows 17" in out.stderr


def test_validate_rejects_a_missing_propensity_column(exported, cache, tmp_path):
    bad = tmp_path / "nopropensity.parquet"
    pd.read_csv(exported).drop(columns=["propensity"]).to_parquet(bad)
    out = retailrl("data", "validate", str(bad), "--kind", "bandit", cache=cache)
    assert out.returncode != 0
    assert "'propensity'" in out.stderr and "required column" in out.stderr


def test_validate_with_a_mapping(cache, tmp_path):
    src = tmp_path / "shop.csv"
    pd.DataFrame({"id": ["a", "b"], "when": ["2024-01-01", "2024-01-02"], "item": [0, 1], "slot": [0, 0],
                  "p": [0.5, 0.5], "click": [1, 0]}).to_csv(src, index=False)
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\nevent_id = "id"\ntimestamp = "when"\naction = "item"\nposition = "slot"\n'
                       'propensity = "p"\nreward = "click"\n')
    out = retailrl("data", "validate", str(src), "--kind", "bandit", "--mapping", str(mapping), "--json", cache=cache)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ctr"] == 0.5


def test_unknown_kind_and_missing_file_exit_cleanly(cache, tmp_path):
    out = retailrl("data", "validate", str(tmp_path / "none.csv"), "--kind", "bandit", cache=cache)
    assert out.returncode == 2 and "no such file" in out.stderr
    src = tmp_path / "x.csv"
    src.write_text("a\n1\n")
    out = retailrl("data", "validate", str(src), "--kind", "clicks", cache=cache)
    assert out.returncode == 2 and "clicks" in out.stderr


def test_synth_is_seeded_and_validates(cache, tmp_path):
    paths = []
    for name, seed in (("a.csv", 5), ("b.csv", 5), ("c.csv", 6)):
        out = retailrl("data", "synth", "click", "--rows", "500", "--seed", str(seed), "--logging", "softmax",
                       "--out", str(tmp_path / name), cache=cache)
        assert out.returncode == 0, out.stderr
        paths.append(tmp_path / name)
    a, b, c = (pd.read_csv(p) for p in paths)
    pd.testing.assert_frame_equal(a, b)
    assert not a["action"].equals(c["action"])
    out = retailrl("data", "validate", str(paths[0]), "--kind", "bandit", "--json", cache=cache)
    assert out.returncode == 0, out.stderr
    truth = json.loads((tmp_path / "a.csv.truth.json").read_text())
    assert truth["seed"] == 5 and len(truth["position_bias"]) == 3
