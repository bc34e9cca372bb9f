"""Helpers for fidelity reports: binomial intervals, calibration bins, Markdown tables and matplotlib plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from sim_data.io import atomic_write

Z95 = float(stats.norm.ppf(0.975))


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default); ``(nan, nan)`` when ``n == 0``."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def grouped_rates(groups: np.ndarray, predicted: np.ndarray, observed: np.ndarray, n_groups: int) -> list[dict]:
    """Per group: rows, predicted mean, observed mean and its Wilson interval (groups with no rows are skipped)."""
    out = []
    for g in range(n_groups):
        m = groups == g
        n = int(m.sum())
        if n == 0:
            continue
        lo, hi = wilson_interval(float(observed[m].sum()), n)
        out.append({"group": g, "rows": n, "predicted": float(predicted[m].mean()), "observed": float(observed[m].mean()),
                    "lower": lo, "upper": hi})
    return out


def calibration_bins(predicted: np.ndarray, observed: np.ndarray, n_bins: int = 5) -> list[dict]:
    """Rows split into ``n_bins`` equal-count bins of the predicted probability; per bin as :func:`grouped_rates`."""
    order = np.argsort(predicted, kind="stable")
    groups = np.empty(predicted.size, dtype=np.int64)
    groups[order] = np.arange(predicted.size) * n_bins // max(predicted.size, 1)
    return grouped_rates(groups, predicted, observed, n_bins)


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; floats get 4 significant digits."""
    def cell(v: object) -> str:
        if isinstance(v, float | np.floating):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def save_figure(fig, path: Path) -> str:
    """Save a matplotlib figure as PNG atomically and close it; returns the file name (for Markdown links)."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path.name


def figure(ncols: int = 1, width: float = 5.0, height: float = 3.6):
    """A new figure with ``ncols`` axes, using the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height))
    return fig, np.atleast_1d(axes)


def plot_predicted_vs_observed(ax, rows: list[dict], label: str, title: str) -> None:
    """Observed rate with its interval against the predicted rate, one point per group, and the diagonal."""
    pred = np.array([r["predicted"] for r in rows])
    obs = np.array([r["observed"] for r in rows])
    err = np.array([[r["observed"] - r["lower"] for r in rows], [r["upper"] - r["observed"] for r in rows]])
    ax.errorbar(pred, obs, yerr=np.maximum(err, 0), fmt="o", ms=4, alpha=0.8, label=label)
    # Scale to the points, not to the widest interval: a group with a handful of rows has an interval
    # reaching far up that would squash every point into a corner (such intervals run off the frame).
    top = max(float(np.max(pred, initial=0)), float(np.max(obs, initial=0))) * 1.3 or 1.0
    ax.plot([0, top], [0, top], "k--", lw=1)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted")
    ax.set_ylabel("observed (95% interval)")
    ax.set_title(title)


def difference_interval(simulated: float, simulated_se: float, observed: float, observed_se: float,
                        z: float = Z95) -> dict:
    """Interval of ``simulated - observed`` when the two are independent (a fit on earlier rows, a replay of later
    ones): normal, with ``se = sqrt(simulated_se^2 + observed_se^2)``.

    :return: ``{"estimate", "se", "ci": [lower, upper], "contains_zero"}``; ``contains_zero`` is the agreement
        statement "the simulator and the log agree within their joint error bars".
    """
    if not (simulated_se >= 0 and observed_se >= 0):
        raise ValueError(f"standard errors: expected numbers >= 0, found {simulated_se!r} and {observed_se!r}")
    d = float(simulated - observed)
    se = float(np.hypot(simulated_se, observed_se))
    lo, hi = d - z * se, d + z * se
    return {"estimate": d, "se": se, "ci": [lo, hi], "contains_zero": bool(lo <= 0.0 <= hi)}
