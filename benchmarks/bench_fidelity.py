"""Long fidelity fits: the click model on all three Open Bandit Dataset campaigns, the choice model on all five
scanner panels and the synthetic recovery, each into its own fit directory; prints one summary table.

The OBD click model's penalties are chosen by cross-validation on the random-policy logs only. After the fits, a
*post-hoc* sensitivity table refits each campaign with the item-effect penalty forced to other values (everything
else as cross-validation chose) and scores them on the BTS logs: it shows the trade-off between the two goals and is
not used to choose anything.

Run: ``python -m benchmarks.bench_fidelity [OUT_DIR]`` (default ``$RETAILRL_HOME/fidelity``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()


def main(argv: list[str] | None = None) -> int:
    from envs.fit import SCANNER, fit_obd, fit_scanner, fit_synthetic
    from sim_data.io import home_dir

    argv = list(argv or [])
    root = Path(argv[0]) if argv else home_dir() / "fidelity"
    results: dict[str, dict] = {}
    obd = Table(title="Open Bandit Dataset: fit on random, replay BTS", header_style="bold")
    for col in ("campaign", "simulated CTR", "on-policy CTR", "95% CI", "inside", "log-loss", "constant", "kappa",
                "penalties (CV)", "s"):
        obd.add_column(col, justify="right", overflow="fold")
    for campaign in ("all", "men", "women"):
        start = time.perf_counter()
        f = fit_obd(root / f"obd_{campaign}", campaign=campaign, progress=console.log)
        seconds = time.perf_counter() - start
        results[f"obd_{campaign}"] = {k: f[k] for k in ("simulated_ctr", "onpolicy_ctr", "onpolicy_ci", "inside_ci",
                                                        "logloss", "constant_logloss", "beats_constant", "penalties")}
        obd.add_row(campaign, f"{f['simulated_ctr']:.5f}", f"{f['onpolicy_ctr']:.5f}",
                    f"[{f['onpolicy_ci'][0]:.5f}, {f['onpolicy_ci'][1]:.5f}]", str(f["inside_ci"]),
                    f"{f['logloss']:.5f}", f"{f['constant_logloss']:.5f}",
                    ", ".join(f"{v:.2f}" for v in f["position_bias"]["estimate"]),
                    ", ".join(f"{k} {v:g}" for k, v in f["penalties"].items()), f"{seconds:.1f}")
    sensitivity = Table(title="OBD, post hoc (not used for selection): item-effect penalty forced, scored on BTS",
                        header_style="bold")
    for col in ("campaign", "item penalty", "simulated CTR", "inside", "log-loss", "constant", "beats"):
        sensitivity.add_column(col, justify="right")
    results["obd_item_penalty_sensitivity"] = item_penalty_sensitivity(results, sensitivity)
    scanner = Table(title="Scanner panels: held-out last 20% of occasions", header_style="bold")
    for col in ("panel", "occasions", "LL/occ model", "LL/occ shares", "beats", "own elasticities", "arrivals", "s"):
        scanner.add_column(col, justify="right", overflow="fold")
    for name in SCANNER:
        start = time.perf_counter()
        f = fit_scanner(name, root / name, progress=console.log)
        seconds = time.perf_counter() - start
        h = f["heldout"]
        results[name] = {"heldout": h, "own_price_elasticities": f["own_price_elasticities"],
                         "arrivals": f["arrivals"]["held_out"] if f["arrivals"] else None}
        own = ", ".join(f"{p} {v['estimate']:.2f} [{v['lower']:.2f}, {v['upper']:.2f}]"
                        for p, v in f["own_price_elasticities"].items())
        arr = (f"{f['arrivals']['held_out']['loglik_per_period']:.3f} vs "
               f"{f['arrivals']['held_out']['baseline_loglik_per_period']:.3f}") if f["arrivals"] else "no calendar time"
        scanner.add_row(name, str(f["occasions"]), f"{h['loglik_per_occasion']:.4f}",
                        f"{h['baseline_loglik_per_occasion']:.4f}", str(h["beats_baseline"]), own, arr, f"{seconds:.1f}")
    start = time.perf_counter()
    f = fit_synthetic(root / "synthetic", progress=console.log)
    results["synthetic"] = {"coverage": {k: v["coverage"] for k, v in f["choice"].items()}, "click": f["click"],
                            "seconds": time.perf_counter() - start}
    console.print(obd)
    console.print(sensitivity)
    console.print(scanner)
    console.print(f"synthetic: coverage {results['synthetic']['coverage']}, position bias {f['click']}")
    (root / "summary.json").write_text(json.dumps(results, indent=2, default=float))
    console.print(f"fit directories and summary.json under {root}")
    return 0


def item_penalty_sensitivity(results: dict, table: Table,
                             item_penalties: tuple[float, ...] = (10000.0, 100.0, 10.0, 3.0, 1.0, 0.3)) -> dict:
    """Refit each OBD campaign on its random logs with the ``item`` penalty forced to each value (the other
    penalties as cross-validation chose them) and score the BTS logs; rows are added to ``table``."""
    from envs.models import ClickModel
    from envs.models.report import wilson_interval
    from sim_data.sources.obd import load_obd

    out: dict[str, list[dict]] = {}
    for campaign in ("all", "men", "women"):
        chosen = dict(results[f"obd_{campaign}"]["penalties"])
        position = chosen.pop("position")
        train, evaluation = load_obd(policy="random", campaign=campaign), load_obd(policy="bts", campaign=campaign)
        lo, hi = wilson_interval(float(evaluation.rewards.sum()), float(len(evaluation)))
        out[campaign] = []
        for item in item_penalties:
            model = ClickModel(interactions=False, l2=chosen | {"item": item}, position_l2=position).fit(train)
            ev = model.evaluate(evaluation)
            inside = bool(lo <= ev["simulated_ctr"] <= hi)
            out[campaign].append({"item_penalty": item, "simulated_ctr": ev["simulated_ctr"], "inside_ci": inside,
                                  "logloss": ev["logloss"], "constant_logloss": ev["constant_logloss"],
                                  "beats_constant": ev["beats_constant"]})
            table.add_row(campaign, f"{item:g}", f"{ev['simulated_ctr']:.5f}", str(inside), f"{ev['logloss']:.5f}",
                          f"{ev['constant_logloss']:.5f}", str(ev["beats_constant"]))
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
