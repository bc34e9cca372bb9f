"""`retailrl bench env --json` prints steps/s for each env beside CartPoleVectorEnv."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from retailrl.cli.main import app


def test_bench_env_json_reports_every_env_and_cartpole():
    result = CliRunner().invoke(app, ["bench", "env", "--json", "--num-envs", "8", "--steps", "3",
                                      "--single-steps", "30"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out["envs"]) == {"retailrl/AdAllocation-v0", "retailrl/Pricing-v0", "retailrl/Inventory-v0"}
    assert out["cartpole_vector_steps_per_s"] > 0
    for row in out["envs"].values():
        assert row["vector_steps_per_s"] > 0 and row["single_steps_per_s"] > 0
        assert row["ratio_to_cartpole"] == row["vector_steps_per_s"] / row["cartpole_vector_steps_per_s"]
