"""`retailrl bench policies --json --quick`: record structure, finite numbers, the oracles' known values.

Quick sizes train for a few thousand steps only: targets are not expected to be met, so none is asserted.
"""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from benchmarks.bench_policies import RECORD_NAMES, compute_records
from retailrl.cli.main import app

FIELDS = {"name", "value", "oracle", "ratio", "ci", "target", "met"}


def _check(record: dict) -> None:
    assert FIELDS <= set(record), record.keys()
    assert math.isfinite(record["value"])
    assert isinstance(record["met"], bool)
    if record["oracle"] is not None:
        lo, hi = record["ci"]
        assert math.isfinite(record["ratio"]) and lo <= record["ratio"] <= hi
        assert record["n_eval_seeds"] >= 30


@pytest.fixture(scope="module")
def cli_records():
    only = ["inventory_backorder_ppo", "pricing_scanner", "ads_pacing_rl", "train_speed_ppo"]
    result = CliRunner().invoke(app, ["bench", "policies", "--json", "--quick",
                                      *[a for name in only for a in ("--only", name)]])
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)}


def test_cli_quick_records_have_the_structure_and_oracles(cli_records):
    assert set(cli_records) == {"inventory_backorder_ppo", "pricing_scanner", "ads_pacing_rl", "train_speed_ppo"}
    for record in cli_records.values():
        _check(record)
    backorder = cli_records["inventory_backorder_ppo"]
    assert backorder["oracle"] == pytest.approx(9.953, abs=5e-4) and backorder["oracle_level"] == 37
    assert backorder["ratio"] == pytest.approx(backorder["oracle"] / backorder["value"])
    assert backorder["variants"]["base_stock_37_simulated"]["ratio"] == pytest.approx(1.0, abs=0.05)
    scanner = cli_records["pricing_scanner"]
    assert scanner["target"] == 0.97 and scanner["variants"]["best_grid_vector"]["ratio"] <= 1.0 + 1e-9
    pacing = cli_records["ads_pacing_rl"]
    assert pacing["variants"]["linear"]["overruns"] == 0 and pacing["overruns"] == 0
    assert 0 < pacing["variants"]["linear"]["ratio"] < 1.0
    assert cli_records["train_speed_ppo"]["value"] > 0


def test_lost_sales_records_reproduce_zipkin():
    vi, rl = compute_records(["inventory_lostsales_vi", "inventory_lostsales_rl"], quick=True)
    _check(vi)
    _check(rl)
    assert vi["value"] == pytest.approx(4.73, abs=0.02) and vi["met"] is True
    assert rl["oracle"] == pytest.approx(vi["value"])
    assert rl["variants"]["myopic_exact"]["ratio"] == pytest.approx(1 / 1.07, abs=0.01)


def test_unknown_record_is_refused():
    result = CliRunner().invoke(app, ["bench", "policies", "--json", "--only", "nope"])
    assert result.exit_code == 2
    assert "unknown record" in result.output
    assert set(RECORD_NAMES) >= {"pricing_ts_lp_T1000", "pricing_ts_lp_T10000", "ads_bandit_obd",
                                 "inventory_lostsales_rl"}


def test_seed_sweep_variants_parse_and_summaries_count_met_seeds():
    from benchmarks.bench_inventory_seeds import parse_variant, summarize

    assert parse_variant("inventory_backorder_ppo:gamma=0.8,learning_rate=lin_1e-3") == (
        "inventory_backorder_ppo", "gamma=0.8,learning_rate=lin_1e-3", {"gamma": 0.8, "learning_rate": "lin_1e-3"})
    assert parse_variant("inventory_lostsales_rl") == ("inventory_lostsales_rl", "as shipped", {})
    for bad in ("pricing_scanner:gamma=0.9", "inventory_lostsales_rl:gamma"):
        with pytest.raises(ValueError, match="--variant"):
            parse_variant(bad)
    runs = [{"seed": s, "ratio": r, "met": r >= 0.99, "target": 0.99} for s, r in enumerate([0.995, 0.98, 0.999])]
    summary = summarize("inventory_backorder_ppo", "as shipped", runs)
    assert (summary["met_count"], summary["n_seeds"], summary["worst_ratio"], summary["median_ratio"]) == (2, 3, 0.98, 0.995)
