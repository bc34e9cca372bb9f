"""``DIR/report.md`` of ``retailrl loop``: what was fit and how well, what was trained, the OPE table, what to approve.

The plots are the fits' own (``fits/<kind>/*.png``) and one bar chart of the ad candidates' DR estimates with
their intervals beside the logged CTR (``ope_candidates.png``).
"""

from __future__ import annotations

from pathlib import Path

from envs.models.report import figure, md_table, save_figure


def _ope_plot(ads: list[dict], logged: float | None, out: Path) -> str:
    fig, ax = figure(1, width=5.5)
    names = [a["name"] for a in ads]
    est = [a["dr"]["estimate"] for a in ads]
    low = [a["dr"]["estimate"] - a["dr"]["lower_bound"] for a in ads]
    ax[0].bar(names, est, yerr=[low, [0] * len(low)], capsize=4, label="DR estimate (down to its lower bound)")
    if logged is not None:
        ax[0].axhline(logged, color="k", lw=1, ls="--", label="logged CTR (held-out)")
    ax[0].set_title("ad candidates: off-policy value on the held-out log")
    ax[0].legend(fontsize=7)
    return save_figure(fig, out / "ope_candidates.png")


def _rel(path: str, out: Path) -> str:
    try:
        return str(Path(path).relative_to(out))
    except ValueError:
        return path


def loop_markdown(r: dict, out: Path) -> str:
    lines = [f"# retailrl loop: `{Path(r['shop']).name}`", "",
             f"Tables fit: {', '.join(r['fits']) or 'none'}; seed {r['seed']}; size `{r['size']}`.", ""]
    if r["skipped"]:
        lines += ["Skipped:", ""] + [f"- **{k}**: {v}" for k, v in r["skipped"].items()] + [""]
    f = r["fits"]
    if "bandit" in f:
        b = f["bandit"]["fidelity"]
        lo, hi = b["onpolicy_ci"]
        lines += ["## Banners: click model", "",
                  md_table(["quantity", "value"], [
                      ["fit on / replayed", f"{b['train_rows']:,} earliest / {b['eval_rows']:,} latest impressions"],
                      ["simulated CTR on the replayed rows", b["simulated_ctr"]],
                      ["logged CTR [95% CI]", f"{b['onpolicy_ctr']:.4g} [{lo:.4g}, {hi:.4g}]"],
                      ["simulated inside the interval", "yes" if b["inside_ci"] else "**no**"],
                      ["log-loss model / constant", f"{b['logloss']:.4g} / {b['constant_logloss']:.4g}"],
                      ["position bias (slot 1 = 1)", ", ".join(f"{v:.3f}" for v in b["position_bias"]["estimate"])]]),
                  "", f"![click calibration]({_rel(f['bandit']['dir'], out)}/{b['source']}_calibration.png)", ""]
    if "choice" in f:
        c = f["choice"]["fidelity"]
        h = c["heldout"]
        rows = [["held-out log-lik/occasion model / brand shares",
                 f"{h['loglik_per_occasion']:.4f} / {h['baseline_loglik_per_occasion']:.4f}"],
                ["outside option", c["choice_model"]["outside_option"]["mode"]],
                ["own-price elasticities", ", ".join(f"{p} {v['estimate']:.2f}"
                                                     for p, v in c["own_price_elasticities"].items())]]
        if "naive" in c:
            cf, nv = c["control_function"]["beta_price"], c["naive"]["beta_price"]
            rows += [["price coefficient, control function [95% CI]",
                      f"{cf['estimate']:.3f} [{cf['lower']:.3f}, {cf['upper']:.3f}]"],
                     ["price coefficient, naive (no instrument) [95% CI]",
                      f"{nv['estimate']:.3f} [{nv['lower']:.3f}, {nv['upper']:.3f}]"]]
        lines += ["## Baskets: choice model", "", md_table(["quantity", "value"], rows), "",
                  f"![held-out shares and elasticities]({_rel(f['choice']['dir'], out)}/choice_file_choice.png)", ""]
    if "stock" in f:
        s = f["stock"]["fidelity"]
        lines += ["## Stock: censored demand", "",
                  md_table(["product", "demand / period [95% CI]", "naive mean of sales", "stock-out share", "family"],
                           [[p["product"], f"{p['estimate']:.3f} [{p['ci'][0]:.3f}, {p['ci'][1]:.3f}]",
                             p["naive_mean"], f"{p['stockout_share']:.0%}", p["family"]] for p in s["products"]]),
                  "", f"Lead time used by the simulator: {s['env_lead_time']} period(s).", ""]
    cands = r["candidates"]
    if "ads" in cands:
        logged = f["bandit"]["fidelity"]["onpolicy_ctr"] if "bandit" in f else None
        plot = _ope_plot(cands["ads"], logged, out)
        lines += ["## Ad candidates: off-policy evaluation on the held-out 30% of the bandit log", "",
                  md_table(["candidate", "DR estimate", "DR lower bound", "report"],
                           [[a["name"], a["dr"]["estimate"], a["dr"]["lower_bound"],
                             _rel(a["report_files"].get("markdown", ""), out)] for a in cands["ads"]]),
                  "", f"![ad candidates]({plot})", ""]
    if "pricing" in cands:
        p = cands["pricing"]
        lines += ["## Pricing candidate on the fitted choice model", "",
                  md_table(["season profit", "95% CI", "oracle (best static grid prices)", "ratio"],
                           [[p["eval_mean"], f"[{p['eval_ci95'][0]:.4g}, {p['eval_ci95'][1]:.4g}]", p["oracle"],
                             p["ratio"]]]), ""]
    if "inventory" in cands:
        i = cands["inventory"]
        lines += ["## Replenishment on the fitted demand", "",
                  f"{i['policy']}: levels {i['levels']}, expected cost {i['expected_cost_per_period']:.3f} per "
                  f"period (lead time {i['lead_time']}).", ""]
    if r["registered"]:
        lines += ["## What to approve", "",
                  md_table(["decision point", "version", "state"],
                           [[v["decision_point"], v["ref"], v["state"]] for v in r["registered"].values()]), "",
                  "Each version is registered with its evidence and awaits a second person's approval "
                  "(`retailrl registry approve REF --user APPROVER`, or the dashboard).", ""]
    return "\n".join(lines)
