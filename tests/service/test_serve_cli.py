"""`retailrl serve`: refuses an un-migrated database with the upgrade command; serves with several workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from benchmarks.bench_api import seed_registry

ROOT = Path(__file__).resolve().parents[2]


def test_serve_refuses_a_database_that_was_not_migrated(tmp_path):
    out = subprocess.run([sys.executable, "-m", "retailrl.cli.main", "serve", "--db",
                          f"sqlite:///{tmp_path / 'empty.db'}", "--port", "1"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert "retailrl registry upgrade" in out.stderr


def test_serve_with_two_workers(tmp_path, vw_artefact, start_server):
    seeded = seed_registry(f"sqlite:///{tmp_path / 'registry.db'}", vw_artefact)
    server = start_server(seeded.url, workers=2)
    headers = {"Authorization": f"Bearer {seeded.tokens['service']}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        for i in range(40):
            r = client.post("/v1/decisions", json={"decision_point": "banner", "context": [0.1] * 5,
                                                   "event_id": f"w-{i}"})
            assert r.status_code == 200 and r.json()["arm"] == "champion", r.text
            assert client.post("/v1/rewards", json={"event_id": f"w-{i}", "value": 1}).json()["status"] == "stored"
