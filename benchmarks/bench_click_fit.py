"""Click-model fitting time as the catalogue grows: the dense Fisher solver against the torch CG solver.

Run ``python -m benchmarks.bench_click_fit [--rows 200000] [--items 100 300 1000 3000] [--devices cpu cuda]
[--fisher-max-features 6005] [--plot PNG]``.

For each catalogue size it draws a synthetic click world (``sim_data.synthetic.make_click_world``: 5 context
features, 3 slots, a softmax logger, so the fit is IPW-weighted) and fits :class:`envs.models.click.ClickModel`
with item x context interactions (``n_features = 6 * items + 5``) at fixed penalties (``l2=3``, unpenalised
position effects; cross-validation would multiply every time by the settings scored), once per solver:

- ``fisher`` (numpy, dense ``(P, P)`` information and its solve): skipped above ``--fisher-max-features``, with
  the memory its information matrix would need;
- ``torch`` on each of ``--devices`` (conjugate-gradient scoring steps, :mod:`envs.models.click_torch`).

Each record: wall seconds of the whole ``fit`` (design, weights, fit, sandwich errors, export), the solver's
converged flag, and where both solvers ran, the largest difference between their parameters. Prints a table
(stderr) and the JSON record (stdout); ``--plot`` writes fit time against features.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from envs.models.click import ClickModel
from sim_data.synthetic import make_click_world

console = Console(stderr=True)
ITEMS = (100, 300, 1000, 3000)
FISHER_MAX_FEATURES = 6005


def _fit(log, solver: str, device: str) -> tuple[ClickModel, float]:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    start = time.perf_counter()
    model = ClickModel(solver=solver, device=device, l2=3.0, position_l2=0.0, n_segments=8, seed=0).fit(log)
    return model, time.perf_counter() - start


def run(rows: int, items: tuple[int, ...], devices: tuple[str, ...], fisher_max_features: int,
        seed: int = 0) -> dict[str, Any]:
    """Fit every (catalogue size, solver) once; returns the record (see the module docstring)."""
    import torch

    out = []
    for n_items in items:
        log, _ = make_click_world(rows, n_actions=n_items, n_features=5, logging="softmax", seed=seed)
        n_features = 6 * n_items + 5
        entry: dict[str, Any] = {"items": n_items, "features": n_features, "rows": rows,
                                 "clicks": int(log.rewards.sum()), "fits": {}}
        fitted = {}
        for solver, device in [("fisher", "cpu"), *[("torch", d) for d in devices]]:
            key = solver if solver == "fisher" else f"torch_{device}"
            if solver == "fisher" and n_features > fisher_max_features:
                gib = (n_features + 3) ** 2 * 8 / 2**30
                entry["fits"][key] = {"skipped": f"dense information {n_features + 3}^2 doubles = {gib:.1f} GiB, "
                                                 f"O(P^3) solve per step"}
                continue
            console.log(f"{n_items} items ({n_features} features): {key}")
            model, seconds = _fit(log, solver, device)
            fitted[key] = model
            entry["fits"][key] = {"seconds": seconds, "converged": model.converged_, "solver": model.solver_,
                                  "device": model.device_}
        if "fisher" in fitted:
            for key, model in fitted.items():
                if key != "fisher":
                    entry["fits"][key]["max_abs_theta_diff_vs_fisher"] = float(
                        np.abs(model.theta_ - fitted["fisher"].theta_).max())
        out.append(entry)
    return {"name": "click_fit", "unit": "s", "rows": out, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "load_avg_1min_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "machine": platform.platform()}


def _table(result: dict) -> Table:
    keys = sorted({k for r in result["rows"] for k in r["fits"]}, key=lambda k: (k != "fisher", k))
    table = Table(title=f"click model fit, {result['rows'][0]['rows']:,} rows (seconds)")
    for col in ["items", "features", "clicks", *keys]:
        table.add_column(col, justify="right")
    for r in result["rows"]:
        cells = [f"{r['items']:,}", f"{r['features']:,}", f"{r['clicks']:,}"]
        cells += [("skipped" if "skipped" in r["fits"].get(k, {}) else f"{r['fits'][k]['seconds']:.1f}")
                  if k in r["fits"] else "-" for k in keys]
        table.add_row(*cells)
    return table


def plot(result: dict, path: str) -> None:
    """Fit seconds against features, one line per solver (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    keys = sorted({k for r in result["rows"] for k in r["fits"]})
    for key in keys:
        pts = [(r["features"], r["fits"][key]["seconds"]) for r in result["rows"] if "seconds" in r["fits"].get(key, {})]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=key)
    ax.set(xscale="log", yscale="log", xlabel="features (6 x items + 5)", ylabel="fit seconds",
           title=f"click model fit, {result['rows'][0]['rows']:,} rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, run, print the table (stderr) and the JSON record (stdout); returns the record."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_click_fit", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--items", type=int, nargs="+", default=list(ITEMS))
    parser.add_argument("--devices", nargs="+", default=None, help="torch devices (default: cpu, and cuda if present)")
    parser.add_argument("--fisher-max-features", type=int, default=FISHER_MAX_FEATURES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None, help="write fit time against features to this PNG")
    args = parser.parse_args(argv)
    if args.rows < 1000 or min(args.items) < 2:
        parser.error("--rows: expected >= 1000; --items: expected whole numbers >= 2")
    import torch

    devices = tuple(args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]))
    result = run(args.rows, tuple(args.items), devices, args.fisher_max_features, args.seed)
    console.print(_table(result))
    if args.plot:
        plot(result, args.plot)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
