"""The dashboard's figures (matplotlib, no Streamlit): forest plot, online reward over time, training curves.

Each function returns a :class:`matplotlib.figure.Figure`; the page shows it with ``st.pyplot`` and closes it.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

ROLE_COLOURS = {"candidate": "#1f77b4", "champion": "#ff7f0e", "logging": "#7f7f7f", "baseline": "#2ca02c",
                "other": "#9467bd"}
ROLE_ORDER = {"candidate": 0, "champion": 1, "baseline": 2, "logging": 3, "other": 4}
ARM_COLOURS = {"champion": "#ff7f0e", "canary": "#1f77b4", "baseline (fallback)": "#2ca02c"}


def forest_plot(table: pd.DataFrame, title: str = "Off-policy estimates with intervals") -> Figure:
    """Every (policy, estimator) estimate with its interval (line) and lower bound (triangle), grouped by estimator.

    :param table: a :func:`dashboard.view_models.evidence.forest_table` frame (one row per policy and estimator).
    """
    if len(table):
        rank = table["role"].map(lambda r: ROLE_ORDER.get(r, len(ROLE_ORDER)))
        ordered = table.assign(_rank=rank).sort_values(["estimator", "_rank"], kind="stable").reset_index(drop=True)
    else:
        ordered = table
    n = len(ordered)
    fig, ax = plt.subplots(figsize=(7.0, 0.42 * max(n, 1) + 1.4))
    if n == 0:
        ax.text(0.5, 0.5, "no OPE estimates", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    for i, row in enumerate(ordered.to_dict("records")):
        y = n - 1 - i
        colour = ROLE_COLOURS.get(row["role"], ROLE_COLOURS["other"])
        if row["ci_lo"] is not None and not pd.isna(row["ci_lo"]):
            ax.plot([row["ci_lo"], row["ci_hi"]], [y, y], color=colour, lw=2.2, solid_capstyle="butt")
        ax.plot([row["estimate"]], [y], "o", color=colour, ms=6)
        ax.plot([row["lower_bound"]], [y], marker=">", color=colour, ms=5, alpha=0.8)
    logging = ordered[ordered["role"] == "logging"]
    if len(logging):
        ax.axvline(float(logging["estimate"].iloc[0]), ls="--", color=ROLE_COLOURS["logging"], lw=1)
    ax.set_yticks(range(n))
    ax.set_yticklabels([f"{r['estimator']} · {r['policy']}" for r in ordered.to_dict("records")][::-1], fontsize=8)
    ax.set_xlabel("estimated reward per decision (dot: estimate, line: interval, ▸: lower bound)", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], color=c, lw=2, marker="o", label=role)
               for role, c in ROLE_COLOURS.items() if role in set(ordered["role"])]
    ax.legend(handles=handles, fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def reward_plot(series: pd.DataFrame, references: Mapping[str, float] | None = None,
                title: str = "Online reward per decision") -> Figure:
    """Mean reward per time bucket and arm with its interval (band), plus dashed offline reference levels.

    :param series: a :func:`dashboard.view_models.online.reward_series` frame.
    :param references: label -> level (``reference_values``).
    """
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    if series.empty:
        ax.text(0.5, 0.5, "no decisions logged yet", ha="center", va="center", transform=ax.transAxes)
    for arm, part in series.groupby("arm", sort=True):
        part = part.dropna(subset=["mean"])
        if part.empty:
            continue
        colour = ARM_COLOURS.get(arm)
        ax.plot(part["start"], part["mean"], marker="o", ms=3, label=arm, color=colour)
        band = part.dropna(subset=["lo", "hi"])
        if len(band):
            ax.fill_between(band["start"], band["lo"].astype(float), band["hi"].astype(float), alpha=0.2,
                            color=colour)
    for i, (label, level) in enumerate((references or {}).items()):
        ax.axhline(level, ls="--", lw=1, color=f"C{i + 4}", label=label)
    ax.set_ylabel("mean reward (95% interval)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def curves_plot(curves: Mapping[str, pd.DataFrame], max_curves: int = 6) -> Figure:
    """Training curves as small multiples (one panel per curve, at most ``max_curves``)."""
    names = list(curves)[:max_curves]
    cols = min(3, max(1, len(names)))
    rows = (len(names) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        ax.set_visible(True)
        frame = curves[name]
        ax.plot(frame["x"], frame["y"], lw=1.5)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def volume_plot(volume: pd.DataFrame, title: str = "Decisions per time bucket") -> Figure:
    """Stacked decisions per bucket and arm (bars) with the share of rewards joined (line, right axis).

    :param volume: a :func:`dashboard.view_models.online.volume_series` frame.
    """
    fig, ax = plt.subplots(figsize=(7.0, 3.2))
    if volume.empty:
        ax.text(0.5, 0.5, "no decisions logged yet", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        return fig
    wide = volume.pivot_table(index="start", columns="arm", values="decisions", aggfunc="sum", fill_value=0)
    positions = range(len(wide))
    bottom = [0] * len(wide)
    for arm in wide.columns:
        ax.bar(positions, wide[arm], bottom=bottom, label=arm, color=ARM_COLOURS.get(arm), alpha=0.85)
        bottom = [b + v for b, v in zip(bottom, wide[arm], strict=True)]
    totals = volume.groupby("start")[["decisions", "rewarded"]].sum().reindex(wide.index)
    join = ax.twinx()
    join.plot(list(positions), totals["rewarded"] / totals["decisions"], color="black", marker=".", lw=1,
              label="rewards joined")
    join.set_ylim(0, 1.05)
    join.set_ylabel("share of decisions with a reward", fontsize=8)
    step = max(1, len(wide) // 8)
    ax.set_xticks(list(positions)[::step])
    ax.set_xticklabels([t.strftime("%m-%d %H:%M") for t in wide.index][::step], fontsize=7, rotation=30)
    ax.set_ylabel("decisions")
    ax.set_title(title, fontsize=10)
    lines, labels = ax.get_legend_handles_labels()
    lines2, labels2 = join.get_legend_handles_labels()
    ax.legend(lines + lines2, labels + labels2, fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
