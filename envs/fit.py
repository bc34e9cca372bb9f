"""The fidelity pipeline behind ``retailrl sim fit``: fit behaviour models from a source, measure how well they
reproduce held-out logs, and write a fit directory::

    DIR/fidelity.json     the numbers (see each ``fit_*`` function for its keys)
    DIR/fidelity.md       the same, readable, with the plots beside it (DIR/*.png)
    DIR/<kind>.json       the fitted models (ClickModel, ChoiceModel, ArrivalModel; load with envs.models.load_model)
    DIR/params.json       the environments' parameters (sections "click" and/or "demand"; see envs/params.py)

Sources: ``obd`` (Open Bandit Dataset: fit clicks on one policy's logs, replay the other's), the scanner panels
``cracker``, ``catsup``, ``yogurt``, ``tuna``, ``oj`` (choice model with a time split) and ``synthetic`` (recovery of
known parameters).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from envs.models.arrivals import ArrivalModel
from envs.models.choice import ChoiceModel
from envs.models.choice_data import split_by_time
from envs.models.choice_holdout import heldout_intervals
from envs.models.click import ClickModel
from envs.models.report import (
    calibration_bins,
    difference_interval,
    figure,
    grouped_rates,
    md_table,
    plot_predicted_vs_observed,
    save_figure,
    wilson_interval,
)
from sim_data.io import write_text
from sim_data.logs import BanditLog, ChoiceLog

SCANNER = ("cracker", "catsup", "yogurt", "tuna", "oj")
SOURCES = ("obd", *SCANNER, "synthetic")
Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def _write_outputs(out: Path, fidelity: dict, markdown: str) -> None:
    write_text(out / "fidelity.json", json.dumps(fidelity, indent=2, default=float))
    write_text(out / "fidelity.md", markdown)


def split_bandit_by_time(log: BanditLog, test_share: float = 0.2) -> tuple[BanditLog, BanditLog]:
    """The first ``1 - test_share`` of a bandit log's rows by timestamp, and the rest."""
    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test_share: expected a number in (0, 1), found {test_share!r}")
    t = log.table.sort_values("timestamp", kind="stable").reset_index(drop=True)
    cut = int(round((1 - test_share) * len(t)))
    if cut < 1 or cut >= len(t):
        raise ValueError(f"test_share={test_share} leaves no train or no test rows out of {len(t)}")

    def part(frame: pd.DataFrame) -> BanditLog:
        return BanditLog(table=frame.reset_index(drop=True), n_actions=log.n_actions, n_positions=log.n_positions,
                         action_context=log.action_context, provenance=log.provenance, logging_policy=log.logging_policy)

    return part(t.iloc[:cut]), part(t.iloc[cut:])


def _arrivals(train, test, full) -> tuple[ArrivalModel, dict]:
    held = ArrivalModel().fit(train)
    evaluation = held.evaluate(test)
    model = ArrivalModel().fit(full)
    return model, {"held_out": evaluation, "fit": model.report()}


# --------------------------------------------------------------------------------------------------- OBD
def fit_obd(out: str | Path, campaign: str = "all", train_policy: str = "random", eval_policy: str = "bts",
            path: str | Path | None = None, progress: Progress = _noop, click_kwargs: dict | None = None) -> dict:
    """Fit the click model on one policy's OBD logs and replay the other policy's logged decisions through it.

    :param out: the fit directory (created).
    :param campaign: ``all``, ``men`` or ``women``.
    :param train_policy: logs to fit on (``random``).
    :param eval_policy: logs to replay (``bts``): its (context, item, slot) rows are scored by the model.
    :param path: the full dataset's directory (default: the 10k-row sample).
    :param progress: callable receiving one line per step.
    :param click_kwargs: arguments of :class:`~envs.models.click.ClickModel` (default ``interactions=False``:
        the 10k-row sample has 38-46 clicks per random-policy table; cross-validation already shrinks the item
        main effects to nothing, and adding item x user-feature interactions only raises its log-loss).
    :return: the fidelity dict written to ``fidelity.json``: ``campaign``, ``simulated_ctr``, ``onpolicy_ctr``,
        ``onpolicy_ci``, ``inside_ci``, the error bars of :func:`replay_uncertainty` (``simulated_ci``,
        ``simulated_ci_centre``, ``simulated_se``, ``simulated_ci_method``, ``intervals_overlap``, ``difference``,
        ``agrees``), ``logloss``, ``constant_logloss``, ``beats_constant``, ``by_position``,
        ``by_item``, ``calibration``, ``position_bias``, ``penalties``, ``selection``, ``arrivals``.

    The click model's penalties are chosen by cross-validation on the ``train_policy`` logs only
    (:mod:`envs.models.click_penalty`); the ``eval_policy`` logs are used for nothing but the scores reported.
    """
    from sim_data.sources.obd import load_obd

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress(f"loading Open Bandit Dataset: {train_policy}/{campaign} and {eval_policy}/{campaign}")
    train = load_obd(policy=train_policy, campaign=campaign, path=path)
    evaluation = load_obd(policy=eval_policy, campaign=campaign, path=path)
    head = {"source": "obd", "campaign": campaign, "train_policy": train_policy, "eval_policy": eval_policy,
            "title": f"Open Bandit Dataset, campaign `{campaign}`"}
    return fit_click_replay(train, evaluation, out, head, progress=progress,
                            click_kwargs={"interactions": False} | (click_kwargs or {}))


def fit_click_replay(train: BanditLog, evaluation: BanditLog, out: Path, head: dict, progress: Progress = _noop,
                     click_kwargs: dict | None = None) -> dict:
    """Fit the click model on ``train`` and replay ``evaluation``'s logged (context, item, slot) rows through it;
    write the models, ``params.json`` and the report into ``out``.

    :param head: the fidelity dict's first keys: ``source``, ``title`` (the report's heading), ``train_policy``
        and ``eval_policy`` (words for what was fit and replayed), and any others to keep.
    :return: the fidelity dict (see :func:`fit_obd`).
    """
    train_policy, eval_policy = head["train_policy"], head["eval_policy"]
    progress(f"fitting the click model on {len(train):,} {train_policy} impressions")
    click = ClickModel(**(click_kwargs or {})).fit(train, progress=progress)
    progress(f"replaying {len(evaluation):,} {eval_policy} impressions through the model")
    ev = click.evaluate(evaluation)
    report = click.report()
    pred = click.predict(evaluation)
    y = evaluation.rewards
    lo, hi = wilson_interval(float(y.sum()), float(y.size))
    by_position = grouped_rates(evaluation.positions, pred, y, evaluation.n_positions)
    by_item = grouped_rates(evaluation.actions, pred, y, evaluation.n_actions)
    calibration = calibration_bins(pred, y, n_bins=5)
    progress("interval of the simulated CTR from the fit's parameter uncertainty")
    uncertainty = replay_uncertainty(click, train, evaluation)
    progress("fitting arrivals per hour")
    a_train, a_test = split_bandit_by_time(train)
    arrivals, arrivals_report = _arrivals(a_train, a_test, train)
    fidelity = {
        **head,
        "train_rows": len(train), "eval_rows": len(evaluation), "eval_clicks": int(y.sum()),
        "simulated_ctr": ev["simulated_ctr"], "onpolicy_ctr": ev["observed_ctr"], "onpolicy_ci": [lo, hi],
        "inside_ci": bool(lo <= ev["simulated_ctr"] <= hi), **uncertainty,
        "logloss": ev["logloss"], "constant_logloss": ev["constant_logloss"], "constant_ctr": ev["constant_ctr"],
        "beats_constant": ev["beats_constant"],
        "position_bias": report["position_bias"], "penalties": report["penalties"],
        "selection": (f"penalties chosen by {click.cv_folds}-fold x {click.cv_repeats} click-stratified "
                      f"cross-validation of the log-loss on the {train_policy} logs only"
                      if report["cross_validation"]["settings_scored"] else "penalties fixed by the caller"),
        "by_position": by_position, "by_item": by_item,
        "calibration": calibration, "click_model": report, "arrivals": arrivals_report,
        "note": (f"The {eval_policy} policy's propensities change over the log, so its on-policy CTR is the mean of "
                 "its logged clicks; the simulated CTR is the model's mean click probability over the same logged "
                 "(context, item, slot) rows. The on-policy interval is a Wilson 95% interval treating rows as independent; "
                 "the simulated interval is the fit's parameter uncertainty (envs/models/click_uncertainty.py)."),
    }
    progress("writing models, params.json and the report")
    click.save(out)
    arrivals.save(out)
    click.to_params().to_json(out / "params.json")
    _write_outputs(out, fidelity, _obd_markdown(fidelity, out))
    return fidelity


def replay_uncertainty(click: ClickModel, train: BanditLog, evaluation: BanditLog) -> dict:
    """The replay's error bars: ``simulated_ci`` (:func:`envs.models.click_uncertainty.ctr_interval`, 95%),
    ``simulated_ci_centre`` and ``simulated_se``, ``simulated_ci_method``, ``intervals_overlap`` (with the Wilson
    on-policy interval), ``difference`` (:func:`~envs.models.report.difference_interval` of the interval's centre
    minus the logged CTR, the logged CTR's binomial standard error beside the simulated one) and ``agrees`` (the
    difference interval holds 0)."""
    from envs.models.click_uncertainty import ctr_interval

    ci = ctr_interval(click, train, evaluation)
    y = evaluation.rewards
    ybar = float(y.mean())
    lo, hi = wilson_interval(float(y.sum()), float(y.size))
    diff = difference_interval(ci["estimate"], ci["se"], ybar, float(np.sqrt(ybar * (1 - ybar) / y.size)))
    return {"simulated_ci": [ci["lower"], ci["upper"]], "simulated_ci_centre": ci["estimate"],
            "simulated_se": ci["se"], "simulated_ci_method": ci["method"],
            "intervals_overlap": bool(ci["lower"] <= hi and lo <= ci["upper"]), "difference": diff,
            "agrees": diff["contains_zero"]}


def _obd_markdown(f: dict, out: Path) -> str:
    fig, ax = figure(3, width=4.6)
    plot_predicted_vs_observed(ax[0], f["calibration"], "bins", "calibration (5 equal-count bins)")
    sim, obs, (slo, shi), (olo, ohi) = f["simulated_ctr"], f["onpolicy_ctr"], f["simulated_ci"], f["onpolicy_ci"]
    ax[0].errorbar([sim], [obs], xerr=[[max(sim - slo, 0)], [max(shi - sim, 0)]],
                   yerr=[[max(obs - olo, 0)], [max(ohi - obs, 0)]], fmt="s", color="C3",
                   label="all rows (simulated, on-policy 95%)")
    ax[0].legend(fontsize=7)
    pos = f["by_position"]
    xs = np.arange(len(pos))
    ax[1].bar(xs - 0.2, [r["predicted"] for r in pos], 0.4, label="predicted")
    ax[1].bar(xs + 0.2, [r["observed"] for r in pos], 0.4, label="observed",
              yerr=np.maximum([[r["observed"] - r["lower"] for r in pos], [r["upper"] - r["observed"] for r in pos]], 0))
    ax[1].set_xticks(xs, [f"slot {r['group']}" for r in pos])
    ax[1].set_title("CTR by position")
    ax[1].legend()
    plot_predicted_vs_observed(ax[2], f["by_item"], "items", "CTR by item")
    calib = save_figure(fig, out / f"{f['source']}_calibration.png")
    lines = [
        f"# Simulator fidelity: {f['title']}", "",
        f"Click model fit on {f['train_rows']:,} `{f['train_policy']}` impressions; the `{f['eval_policy']}` "
        f"policy's {f['eval_rows']:,} logged (context, item, slot) rows replayed through it.", "",
        md_table(["quantity", "value"], [
            ["simulated CTR", f["simulated_ctr"]], ["on-policy CTR", f["onpolicy_ctr"]],
            ["on-policy 95% interval", f"[{f['onpolicy_ci'][0]:.4g}, {f['onpolicy_ci'][1]:.4g}]"],
            ["simulated inside interval", "yes" if f["inside_ci"] else "**no**"],
            ["simulated 95% interval (parameter uncertainty)",
             f"[{f['simulated_ci'][0]:.4g}, {f['simulated_ci'][1]:.4g}]"],
            ["simulated - on-policy, 95% interval",
             f"{f['difference']['estimate']:.4g} [{f['difference']['ci'][0]:.4g}, {f['difference']['ci'][1]:.4g}]"],
            ["agrees within error bars (difference interval holds 0)", "yes" if f["agrees"] else "**no**"],
            ["log-loss, click model", f["logloss"]], ["log-loss, constant CTR", f["constant_logloss"]],
            ["click model beats constant", "yes" if f["beats_constant"] else "**no**"],
            ["clicks in the replayed log", f["eval_clicks"]],
        ]), "",
        f"Model selection: {f['selection']}; chosen L2 penalties: "
        + ", ".join(f"{k} {v:g}" for k, v in f["penalties"].items()) + " (a large penalty shrinks a block to nothing). "
        f"Fit by the `{f['click_model']['solver']}` solver on `{f['click_model']['device']}` "
        f"({f['click_model']['n_features']:,} features).",
        "",
        "Position bias (kappa, slot 0 = 1): the fitted (possibly shrunk) value the simulator uses, and a refit with "
        "the position effects unpenalised, with its 95% interval (how well the data pin kappa down):", "",
        md_table(["slot", "kappa (fitted)", "kappa (unpenalised)", "lower", "upper"],
                 [[k, e, u, lo, hi] for k, (e, u, lo, hi) in enumerate(zip(
                     f["position_bias"]["estimate"], f["click_model"]["position_bias_unpenalized"]["estimate"],
                     f["click_model"]["position_bias_unpenalized"]["lower"],
                     f["click_model"]["position_bias_unpenalized"]["upper"], strict=True))]), "",
        f"![calibration, CTR by position and by item]({calib})", "",
        "CTR by position on the replayed log:", "",
        md_table(["slot", "rows", "predicted", "observed", "lower", "upper"],
                 [[r["group"], r["rows"], r["predicted"], r["observed"], r["lower"], r["upper"]] for r in pos]), "",
        "Calibration bins:", "",
        md_table(["bin", "rows", "predicted", "observed", "lower", "upper"],
                 [[r["group"], r["rows"], r["predicted"], r["observed"], r["lower"], r["upper"]] for r in f["calibration"]]),
        "", _arrivals_markdown(f["arrivals"]), "", f"_{f['note']}_", "",
    ]
    return "\n".join(lines)


def _arrivals_markdown(a: dict | None) -> str:
    if not a:
        return "Arrivals: not fitted (the log's time is not calendar time)."
    h, r = a["held_out"], a["fit"]
    return "\n".join([
        f"Arrivals: {r['model']} (effects: {', '.join(k for k, v in r['effects'].items() if v) or 'none'}), "
        f"mean {r['mean_rate']:.4g} per period, dispersion {r['dispersion']:.3g}.", "",
        md_table(["held-out periods", "log-lik/period", "constant-rate log-lik/period", "beats constant"],
                 [[h["periods"], h["loglik_per_period"], h["baseline_loglik_per_period"],
                   "yes" if h["beats_baseline"] else "no"]]),
    ])


# --------------------------------------------------------------------------------------------------- scanner
def _time_is_calendar(log: ChoiceLog) -> bool:
    """False when ``time`` is a per-shopper purchase index (1, 2, ... within each shopper), not calendar time."""
    occ = log.table.drop_duplicates("occasion_id")
    if pd.api.types.is_datetime64_any_dtype(occ["time"]):
        return True
    seq = occ.groupby("shopper_id", sort=False).cumcount() + 1
    return not bool((occ["time"].to_numpy() == seq.to_numpy()).all())


def fit_choice_log(log: ChoiceLog, out: str | Path, name: str, outside_share: float = 0.5, n_classes: int = 1,
                   test_share: float = 0.2, progress: Progress = _noop, instruments: pd.DataFrame | None = None) -> dict:
    """Fit the choice model on the first ``1 - test_share`` of occasions, score the rest, refit on everything.

    The outside option is estimated from the log's no-purchase occasions when it has them, else calibrated to
    ``outside_share`` (:class:`~envs.models.choice.ChoiceModel`, ``outside="auto"``). With ``instruments`` (a frame
    of ``time``, ``product`` and instrument columns) prices are corrected by the control function, and the naive
    fit (no correction) is reported beside it under ``naive``.

    :return: the fidelity dict: ``source``, ``heldout`` (log-likelihood vs the brand-share baseline),
        ``heldout_shares`` (predicted among the held-out purchases vs observed), ``heldout_intervals`` (their 95%
        intervals from the fit's parameter uncertainty, and the purchase rate's when no-purchase occasions are
        logged: :func:`envs.models.choice_holdout.heldout_intervals`), ``agrees`` (every difference interval holds 0),
        ``own_price_elasticities`` (with intervals), ``own_elasticities_negative``, ``coefficients``, ``arrivals``,
        and with instruments ``naive`` (its price coefficient and own-price elasticities).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = split_by_time(log, test_share)
    cf = instruments is not None

    def model_for() -> ChoiceModel:
        return ChoiceModel(outside_share=outside_share, n_classes=n_classes, control_function=cf)

    progress(f"{name}: fitting the choice model on {train.table['occasion_id'].nunique():,} occasions"
             + (" (control function)" if cf else ""))
    held = model_for().fit(train, instruments=instruments, progress=progress)
    evaluation = held.evaluate(test)
    progress(f"{name}: refitting on all occasions")
    model = model_for().fit(log, instruments=instruments, progress=progress)
    rep = model.report()
    el = model.elasticities()
    products = el["products"]
    own = {p: {"estimate": float(el["estimate"][i, i]), "lower": float(el["lower"][i, i]),
               "upper": float(el["upper"][i, i])} for i, p in enumerate(products)}
    progress(f"{name}: intervals of the held-out shares from the fit's parameter uncertainty")
    intervals = heldout_intervals(held, test)
    shares_pred = np.array([r["simulated"] for r in intervals["shares"]])
    shares_obs = np.array([r["observed"] for r in intervals["shares"]])
    arrivals_report = None
    if _time_is_calendar(log):
        progress(f"{name}: fitting arrivals per period")
        arrivals, arrivals_report = _arrivals(train, test, log)
        arrivals.save(out)
        rate = arrivals.mean_rate / (1.0 - outside_share) if model.mode_ == "calibrate" else arrivals.mean_rate
    else:
        rate = None
    fidelity = {
        "source": name, "occasions": rep["occasions"], "test_share": test_share,
        "heldout": evaluation, "beats_baseline": evaluation["beats_baseline"],
        "own_price_elasticities": own,
        "own_elasticities_negative": bool(all(v["estimate"] < 0 for v in own.values())),
        "elasticities": rep["elasticities"], "products": products,
        "heldout_shares": {"predicted": dict(zip(held.products_, shares_pred.tolist(), strict=True)),
                           "observed": dict(zip(held.products_, shares_obs.tolist(), strict=True))},
        "heldout_intervals": intervals, "agrees": intervals["n_agree"] == intervals["n_numbers"],
        "choice_model": rep, "arrivals": arrivals_report,
    }
    if cf:
        progress(f"{name}: fitting the naive model (no price correction) for comparison")
        naive = ChoiceModel(outside_share=outside_share, n_classes=n_classes).fit(log, progress=progress)
        nel = naive.elasticities()
        fidelity["naive"] = {
            "beta_price": naive.coefficient("beta_price"),
            "own_price_elasticities": {p: float(nel["estimate"][i, i]) for i, p in enumerate(nel["products"])}}
        fidelity["control_function"] = {"beta_price": model.coefficient("beta_price"),
                                        "first_stage": rep.get("first_stage")}
    model.save(out)
    try:
        model.to_params(arrival_rate=rate).to_json(out / "params.json")
        fidelity["params_written"] = True
    except ValueError as exc:        # e.g. a non-negative price coefficient: say so instead of writing bad params
        fidelity["params_written"] = False
        fidelity["params_error"] = str(exc)
    _write_outputs(out, fidelity, _choice_markdown(fidelity, out))
    return fidelity


def fit_scanner(name: str, out: str | Path, outside_share: float = 0.5, n_classes: int = 1,
                progress: Progress = _noop) -> dict:
    """:func:`fit_choice_log` on a scanner panel (``cracker``, ``catsup``, ``yogurt``, ``tuna``, ``oj``)."""
    from sim_data.sources.scanner import load_scanner

    if name not in SCANNER:
        raise ValueError(f"unknown scanner panel {name!r}: expected one of {list(SCANNER)}")
    progress(f"loading scanner panel {name}")
    return fit_choice_log(load_scanner(name), out, name, outside_share, n_classes, progress=progress)


def _choice_markdown(f: dict, out: Path) -> str:
    products = f["products"]
    fig, ax = figure(2, width=4.8)
    xs = np.arange(len(products))
    hi_rows = {r["name"]: r for r in f["heldout_intervals"]["shares"]}

    def bars(key: str, value: str) -> np.ndarray:
        return np.maximum([[hi_rows[p][value] - hi_rows[p][key][0] for p in products],
                           [hi_rows[p][key][1] - hi_rows[p][value] for p in products]], 0)

    ax[0].bar(xs - 0.2, [f["heldout_shares"]["predicted"][p] for p in products], 0.4, label="predicted",
              yerr=bars("simulated_ci", "simulated"))
    ax[0].bar(xs + 0.2, [f["heldout_shares"]["observed"][p] for p in products], 0.4, label="observed",
              yerr=bars("observed_ci", "observed"))
    ax[0].set_xticks(xs, products, rotation=30)
    ax[0].set_title("held-out purchase shares")
    ax[0].legend()
    own = f["own_price_elasticities"]
    est = np.array([own[p]["estimate"] for p in products])
    err = np.array([[own[p]["estimate"] - own[p]["lower"] for p in products],
                    [own[p]["upper"] - own[p]["estimate"] for p in products]])
    ax[1].errorbar(xs, est, yerr=np.maximum(err, 0), fmt="o")
    ax[1].axhline(0, color="k", lw=1)
    ax[1].set_xticks(xs, products, rotation=30)
    ax[1].set_title("own-price elasticities (95% CI)")
    plot = save_figure(fig, out / f"{f['source']}_choice.png")
    h = f["heldout"]
    rep = f["choice_model"]
    e = np.asarray(f["elasticities"]["estimate"])
    lo, hi = np.asarray(f["elasticities"]["lower"]), np.asarray(f["elasticities"]["upper"])
    oo = rep["outside_option"]
    lines = [
        f"# Simulator fidelity: choice model on `{f['source']}`", "",
        f"{rep['model']}, {f['occasions']:,} occasions; outside option: **{oo['mode']}** "
        f"(no-purchase share {oo['outside_share']}; market size {oo['market_size_per_period']} per period). "
        f"Standard errors: {rep['standard_errors']}.", "",
        f"Held-out: the last {f['test_share']:.0%} of occasions by time, model fit on the rest.", "",
        md_table(["quantity", "model", "brand-share baseline"], [
            ["log-likelihood per occasion", h["loglik_per_occasion"], h["baseline_loglik_per_occasion"]],
            ["hit rate", h["hit_rate"], h["baseline_hit_rate"]]]), "",
        f"Beats the baseline: {'yes' if h['beats_baseline'] else '**no**'}; "
        f"own-price elasticities all negative: {'yes' if f['own_elasticities_negative'] else '**no**'}.", "",
        "Held-out numbers with 95% intervals (simulated: the fit's parameter uncertainty, "
        f"{f['heldout_intervals']['method']}; observed: Wilson); they agree when the interval of the difference "
        f"holds 0 ({f['heldout_intervals']['n_agree']} of {f['heldout_intervals']['n_numbers']} do):", "",
        md_table(["number", "simulated", "simulated 95%", "observed", "observed 95%", "difference [95%]", "agrees"],
                 [[r["name"], r["simulated"], f"[{r['simulated_ci'][0]:.4g}, {r['simulated_ci'][1]:.4g}]",
                   r["observed"], f"[{r['observed_ci'][0]:.4g}, {r['observed_ci'][1]:.4g}]",
                   f"{r['difference']['estimate']:.4g} [{r['difference']['ci'][0]:.4g}, {r['difference']['ci'][1]:.4g}]",
                   "yes" if r["agrees"] else "**no**"]
                  for r in f["heldout_intervals"]["shares"] + [f["heldout_intervals"]["purchase_rate"]] if r]), "",
        f"![held-out shares and elasticities]({plot})", "",
        "Coefficients (fit on all occasions):", "",
        md_table(["parameter", "estimate", "se", "lower", "upper"],
                 [[k, v["estimate"], v["se"], v["lower"], v["upper"]] for k, v in rep["coefficients"].items()]), "",
        "Price elasticities (row: demand of, column: price of), estimate [95% CI]:", "",
        md_table(["", *products], [[p, *[f"{e[i, k]:.3f} [{lo[i, k]:.3f}, {hi[i, k]:.3f}]" for k in range(len(products))]]
                                   for i, p in enumerate(products)]), "",
    ]
    if rep["dropped_covariates"]:
        lines += ["Dropped covariates: " + "; ".join(f"{k}: {v}" for k, v in rep["dropped_covariates"].items()), ""]
    lines += [_arrivals_markdown(f["arrivals"]), ""]
    if not f.get("params_written", True):
        lines += [f"params.json not written: {f['params_error']}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------- synthetic
def fit_synthetic(out: str | Path, seed: int = 0, n_shoppers: int = 300, n_weeks: int = 52, click_rounds: int = 20000,
                  progress: Progress = _noop) -> dict:
    """Recovery on the synthetic worlds: the control-function and naive MNL on confounded prices, and the click
    model's position bias under a softmax logger.

    :return: the fidelity dict: ``choice`` (per estimator: coverage of the true coefficients by the 95%
        intervals), ``click`` (true and estimated position bias with intervals), ``click_weighting``
        (:func:`click_weighting_comparison`).
    """
    from sim_data.synthetic import make_click_world, make_demand_world

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress(f"drawing the demand world (seed {seed})")
    log, truth = make_demand_world(n_shoppers=n_shoppers, n_weeks=n_weeks, seed=seed)
    true = {f"alpha[{p}]": truth.alpha[p] for p in truth.products}
    true |= {"beta_price": truth.beta_price, "beta_display": truth.beta_display, "beta_feature": truth.beta_feature}
    estimators = {}
    progress("fitting the MNL with a control function (cost-shifter instrument)")
    cf = ChoiceModel(control_function=True).fit(log, instruments=truth.instruments)
    progress("fitting the naive MNL")
    naive = ChoiceModel().fit(log)
    for label, m in (("control_function", cf), ("naive", naive)):
        c = m.coefficients
        rows = {k: {"true": v, "estimate": float(c.loc[k, "estimate"]), "lower": float(c.loc[k, "lower"]),
                    "upper": float(c.loc[k, "upper"]), "covered": bool(c.loc[k, "lower"] <= v <= c.loc[k, "upper"])}
                for k, v in true.items()}
        estimators[label] = {"coefficients": rows, "coverage": float(np.mean([r["covered"] for r in rows.values()])),
                             "standard_errors": m.se_method_}
    progress(f"drawing the click world ({click_rounds:,} rounds, softmax logger) and fitting the click model")
    clog, ctruth = make_click_world(click_rounds, logging="softmax", seed=seed)
    click = ClickModel(position_l2=0.0).fit(clog, progress=progress)
    lo, hi = click.position_bias_ci()
    progress("fitting a deliberately misspecified click model (no interactions) unweighted, with IPW and with DR")
    fidelity = {
        "source": "synthetic", "seed": seed,
        "choice": estimators,
        "click": {"true_position_bias": ctruth.position_bias.tolist(), "position_bias": click.position_bias.tolist(),
                  "lower": lo.tolist(), "upper": hi.tolist(),
                  "covered": [bool(a <= t <= b) for t, a, b in zip(ctruth.position_bias, lo, hi, strict=True)]},
        "click_weighting": click_weighting_comparison(clog, ctruth),
    }
    cf.save(out)
    click.save(out)
    cf.to_params(unit_cost=truth.unit_costs).to_json(out / "params.json")
    click.to_params().to_json(out / "params.json")
    _write_outputs(out, fidelity, _synthetic_markdown(fidelity, out))
    return fidelity


def click_weighting_comparison(log: BanditLog, truth, l2: float = 10.0) -> dict:
    """How well a misspecified click model (no item x context interactions, fixed penalty ``l2``) fit unweighted,
    with IPW and doubly robust predicts the *uniform* policy's CTR on the logged contexts and slots, which the
    logger (non-uniform) did not play. The DR outcome model has the interactions (fixed penalty 1).

    :param log: a synthetic click log; :param truth: its :class:`~sim_data.synthetic.ClickTruth`.
    :return: ``{"true_uniform_ctr", "predicted": {weighting: ctr}, "error": {weighting: predicted - true}}``.
    """
    uniform = np.full((truth.n_rounds, truth.n_actions, truth.n_positions), 1.0 / truth.n_actions)
    target = truth.policy_value(uniform)
    predicted = {}
    for weighting in ("none", "ipw", "dr"):
        extra = {"imputation": {"l2": 1.0, "position_l2": 0.0}} if weighting == "dr" else {}
        model = ClickModel(weighting=weighting, interactions=False, l2=l2, position_l2=0.0, **extra).fit(log)
        predicted[weighting] = float((model.relevance_matrix(log) * model.position_bias[log.positions][:, None]).mean())
    return {"true_uniform_ctr": target, "predicted": predicted, "error": {k: v - target for k, v in predicted.items()}}


def _synthetic_markdown(f: dict, out: Path) -> str:
    fig, ax = figure(1, width=6.5)
    names = list(f["choice"]["naive"]["coefficients"])
    xs = np.arange(len(names))
    for shift, (label, est) in zip((-0.15, 0.15), f["choice"].items(), strict=True):
        rows = [est["coefficients"][n] for n in names]
        ax[0].errorbar(xs + shift, [r["estimate"] for r in rows],
                       yerr=[[r["estimate"] - r["lower"] for r in rows], [r["upper"] - r["estimate"] for r in rows]],
                       fmt="o", label=label)
    ax[0].scatter(xs, [f["choice"]["naive"]["coefficients"][n]["true"] for n in names], marker="x", color="k",
                  label="truth", zorder=3)
    ax[0].set_xticks(xs, names, rotation=30)
    ax[0].legend()
    ax[0].set_title("coefficient recovery (95% intervals)")
    plot = save_figure(fig, out / "synthetic_recovery.png")
    lines = [f"# Simulator fidelity: synthetic recovery (seed {f['seed']})", ""]
    for label, est in f["choice"].items():
        lines += [f"**{label}** MNL: {est['coverage']:.0%} of true coefficients inside the 95% intervals "
                  f"({est['standard_errors']}).", "",
                  md_table(["coefficient", "true", "estimate", "lower", "upper", "covered"],
                           [[k, r["true"], r["estimate"], r["lower"], r["upper"], "yes" if r["covered"] else "no"]
                            for k, r in est["coefficients"].items()]), ""]
    c = f["click"]
    lines += [f"![coefficient recovery]({plot})", "", "Click model position bias (softmax logger, IPW fit):", "",
              md_table(["slot", "true", "estimate", "lower", "upper"],
                       [[k, t, e, lo, hi] for k, (t, e, lo, hi) in enumerate(zip(c["true_position_bias"], c["position_bias"],
                                                                                  c["lower"], c["upper"], strict=True))]), ""]
    w = f["click_weighting"]
    lines += [f"Uniform policy's CTR (true {w['true_uniform_ctr']:.4f}) predicted by a click model without item x "
              "context interactions, fit on the softmax logger's log:", "",
              md_table(["weighting", "predicted", "error"],
                       [[k, w["predicted"][k], w["error"][k]] for k in w["predicted"]]), ""]
    return "\n".join(lines)


def fit_source(source: str, out: str | Path, **kwargs) -> dict:
    """Dispatch to :func:`fit_obd`, :func:`fit_scanner` or :func:`fit_synthetic` by source name."""
    if source == "obd":
        return fit_obd(out, **kwargs)
    if source in SCANNER:
        return fit_scanner(source, out, **kwargs)
    if source == "synthetic":
        return fit_synthetic(out, **kwargs)
    raise ValueError(f"unknown source {source!r}: expected one of {list(SOURCES)}")
