"""The OPE report an approver reads: a candidate against the logging policy and the current champion.

:class:`OPEReport` is a plain object: ``to_dict()`` (JSON-ready, for the registry), ``to_markdown()`` and
``save(directory)``, which writes ``report.json``, ``report.md`` and the forest plot ``forest.png`` beside it
(each atomically) and returns their paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policies.ope.base import jsonable
from policies.ope.run import PolicyEvaluation
from sim_data.io import atomic_write, write_text

REPORT_MD, REPORT_JSON, FOREST_PNG = "report.md", "report.json", "forest.png"


@dataclass
class OPEReport:
    """Evaluations of several policies on one log.

    :param title: heading of the report.
    :param log: facts about the log (``BanditLog.summary()`` or similar).
    :param evaluations: the candidate first, then the logging policy and the champion where evaluated.
    :param created_at: ISO timestamp (UTC).
    """

    title: str
    log: dict[str, Any]
    evaluations: list[PolicyEvaluation]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"title": self.title, "created_at": self.created_at, "log": self.log,
                          "evaluations": [e.to_dict() for e in self.evaluations]})

    def warnings(self) -> list[str]:
        """Every distinct warning, in order of appearance."""
        seen: dict[str, None] = {}
        for ev in self.evaluations:
            for r in ev.results:
                for w in r.diagnostics.get("warnings", []):
                    seen.setdefault(f"{ev.policy}: {w}", None)
        return list(seen)

    def to_markdown(self, forest_png: str | None = FOREST_PNG) -> str:
        lines = [f"# {self.title}", "", f"Created {self.created_at}.", ""]
        facts = ", ".join(f"{k} = {v}" for k, v in self.log.items() if v is not None)
        lines += [f"**Log:** {facts}", ""]
        if forest_png:
            lines += [f"![forest plot: estimates with intervals]({forest_png})", ""]
        for ev in self.evaluations:
            lines += [f"## {ev.policy}", ""]
            if ev.propensity_source != "logged":
                lines += [f"*Propensities: {ev.propensity_source}.* " + " ".join(ev.notes), ""]
            lines += ["| estimator | estimate | interval | lower bound | ESS | max weight | never taken |",
                      "|---|---:|---|---:|---:|---:|---:|"]
            for r in ev.results:
                d = r.diagnostics
                lines.append(f"| {r.label} | {r.estimate:.6g} | [{r.ci[0]:.6g}, {r.ci[1]:.6g}] "
                             f"({r.confidence:.0%}) | {r.lower_bound:.6g} ({r.lower_bound_method}) | "
                             f"{d.get('ess', float('nan')):,.0f} | {d.get('max_weight', float('nan')):.4g} | "
                             f"{d.get('never_taken_share', float('nan')):.1%} |")
            lines.append("")
        warnings = self.warnings()
        lines += ["## Warnings", ""] + ([f"- {w}" for w in warnings] if warnings else ["None."]) + [""]
        return "\n".join(lines)

    def forest_plot(self, path: str | Path) -> Path:
        """Draw every (policy, estimator) estimate with its interval; a dashed line marks the logging value."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [(ev, r) for ev in self.evaluations for r in ev.results]
        fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(rows) + 1.5))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (ev, r) in enumerate(rows):
            colour = colours[self.evaluations.index(ev) % len(colours)]
            y = len(rows) - 1 - i
            ax.plot([r.ci[0], r.ci[1]], [y, y], color=colour, lw=2)
            ax.plot([r.estimate], [y], "o", color=colour)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{ev.policy}: {r.label}" for ev, r in rows][::-1], fontsize=8)
        for ev in self.evaluations:
            if ev.on_policy:
                ax.axvline(ev.results[0].estimate, ls="--", color="grey", lw=1)
        ax.set_xlabel("estimated policy value (reward per round)")
        ax.set_title(self.title, fontsize=10)
        fig.tight_layout()
        path = Path(path)
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
        plt.close(fig)
        return path

    def save(self, directory: str | Path) -> dict[str, str]:
        """Write ``report.json``, ``report.md`` and ``forest.png`` into ``directory``; return their paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        png = self.forest_plot(directory / FOREST_PNG)
        md = write_text(directory / REPORT_MD, self.to_markdown(FOREST_PNG))
        js = write_text(directory / REPORT_JSON, json.dumps(self.to_dict(), indent=2))
        return {"markdown": str(md), "json": str(js), "forest_png": str(png)}


def build_report(log: Any, candidate: Any, *, champion: Any = None, title: str | None = None,
                 candidate_name: str = "candidate", champion_name: str = "champion", **options: Any) -> OPEReport:
    """Evaluate a candidate (and optionally the current champion) on ``log`` next to the logging policy's own value.

    :param log: a :class:`~sim_data.logs.BanditLog`.
    :param candidate: a :class:`~policies.policy.Policy` or an action-distribution array.
    :param champion: the policy currently serving, or ``None``.
    :param title: the report's heading.
    :param options: passed to :func:`~policies.ope.run.evaluate_log` (estimators, n_resamples, seed, ...).
    """
    from policies.ope.run import evaluate_log, evaluate_on_policy

    on_policy_keys = ("confidence", "n_resamples", "seed", "lower_bound_method")
    evaluations = [evaluate_log(log, candidate, name=candidate_name, **options),
                   evaluate_on_policy(log, **{k: v for k, v in options.items() if k in on_policy_keys})]
    if champion is not None:
        evaluations.append(evaluate_log(log, champion, name=champion_name, **options))
    return OPEReport(title=title or f"Off-policy evaluation of {candidate_name}", log=log.summary(),
                     evaluations=evaluations)
