"""The demo's candidate policies for the Open Bandit Dataset ad slots, their OPE reports, and their registration.

Three candidates, each trained on the first 70% (by time) of the *random*-policy logs and evaluated off-policy on
the held-out last 30% (the logging policy is uniform, so the estimates are unbiased; evaluating on the rows a
policy was fit to would flatter it):

* ``item-ctr-greedy``: the item with the highest smoothed CTR per slot, with 10% uniform exploration;
* ``bts-prior``: the Bernoulli Thompson-sampling policy ZOZOTOWN ran, recomputed from its shipped prior;
* ``vw-squarecb``: a Vowpal Wabbit contextual bandit trained offline on the logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim_data.logs import BanditLog

EXPLORATION = 0.1
TRAIN_SHARE = 0.7


def split_by_time(log: BanditLog, train_share: float = TRAIN_SHARE) -> tuple[BanditLog, BanditLog]:
    """The first ``train_share`` of the rows by timestamp, and the rest (:func:`envs.fit.split_bandit_by_time`)."""
    from envs.fit import split_bandit_by_time

    return split_bandit_by_time(log, test_share=1.0 - train_share)


@dataclass
class Candidate:
    """A built candidate: its name, saved artefact, OPE report (dict) and report files."""

    name: str
    artefact: Path
    report: dict
    markdown: str
    report_files: dict
    train_config: dict
    train_metrics: dict


def item_ctr_greedy(log: BanditLog, exploration: float = EXPLORATION, prior_clicks: float = 1.0):
    """Per slot, the item with the highest CTR under a Beta prior centred on the overall CTR, epsilon-greedy.

    :return: a :class:`~policies.policy.FixedDistributionPolicy` of shape (n_actions, n_positions).
    """
    from policies.policy import FixedDistributionPolicy

    t = log.table
    overall = float(t["reward"].mean())
    prior_views = prior_clicks / max(overall, 1e-9)
    clicks = np.zeros((log.n_actions, log.n_positions))
    views = np.zeros((log.n_actions, log.n_positions))
    np.add.at(clicks, (log.actions, log.positions), log.rewards)
    np.add.at(views, (log.actions, log.positions), 1.0)
    ctr = (clicks + prior_clicks) / (views + prior_views)
    dist = np.full((log.n_actions, log.n_positions), exploration / log.n_actions)
    dist[ctr.argmax(axis=0), np.arange(log.n_positions)] += 1.0 - exploration
    return FixedDistributionPolicy(dist)


def bts_prior_policy(campaign: str, n_positions: int, seed: int = 0):
    """The Bernoulli-TS policy from obp's shipped prior (Monte Carlo over Beta draws)."""
    from policies.ope.obd import bts_action_dist
    from policies.policy import FixedDistributionPolicy
    from sim_data.sources.obd import load_bts_prior

    alpha, beta = load_bts_prior(campaign)
    return FixedDistributionPolicy(bts_action_dist(alpha, beta, n_positions=n_positions, seed=seed))


def vw_bandit(log: BanditLog, seed: int = 0):
    """A VW ``cb_explore_adf`` learner (squarecb) trained offline on the log's numeric context features."""
    from agents.vw_bandit import VWContextualBandit

    numeric = [c for c in log.context_columns if c.startswith("context_affinity")]
    slim = BanditLog(table=log.table[["event_id", "timestamp", "action", "position", "propensity", "reward", *numeric]],
                     n_actions=log.n_actions, n_positions=log.n_positions, provenance=log.provenance,
                     logging_policy=log.logging_policy)
    return VWContextualBandit.from_log(slim, exploration="squarecb", use_action_context=False, seed=seed)


def build_candidates(out: Path, campaign: str = "all", n_resamples: int = 200, seed: int = 0,
                     status: Callable[[str], None] = lambda _: None) -> list[Candidate]:
    """Build, save and evaluate the demo's candidates on the OBD random logs of ``campaign``."""
    from policies.ope.report import build_report
    from policies.policy import artefact_sha256
    from sim_data.sources.obd import load_obd

    train, log = split_by_time(load_obd(policy="random", campaign=campaign))
    makers = {
        "item-ctr-greedy": (lambda: item_ctr_greedy(train), {"exploration": EXPLORATION, "prior_clicks": 1.0}),
        "bts-prior": (lambda: bts_prior_policy(campaign, log.n_positions, seed), {"source": "obp prior_bts.yaml"}),
        "vw-squarecb": (lambda: vw_bandit(train, seed), {"exploration": "squarecb", "features": "context_affinity_*"}),
    }
    built = []
    for name, (make, config) in makers.items():
        status(f"building candidate {name}")
        policy = make()
        artefact = out / "artefacts" / name
        policy.save(artefact)
        if hasattr(policy, "close"):
            policy.close()
        from policies.policy import Policy

        policy = Policy.load(artefact)
        status(f"off-policy evaluation of {name} on {len(log):,} OBD random/{campaign} rows")
        report = build_report(log, policy, title=f"{name} on held-out OBD random/{campaign} rows",
                              candidate_name=name,
                              estimators="ipw,snipw,dm,dr,sndr", n_resamples=n_resamples, seed=seed)
        files = report.save(out / "reports" / name)
        if hasattr(policy, "close"):
            policy.close()
        built.append(Candidate(name, artefact, report.to_dict(), report.to_markdown(), files,
                               {"campaign": campaign, "trained_on": f"first {TRAIN_SHARE:.0%} of obd random/{campaign}",
                                "evaluated_on": f"last {1 - TRAIN_SHARE:.0%}", "seed": seed, **config},
                               {"artefact_sha256": artefact_sha256(artefact)}))
    return built


def estimate_of(candidate: Candidate, estimator: str = "dr") -> tuple[float, float]:
    """(estimate, lower bound) of an estimator in a candidate's OPE report."""
    for evaluation in candidate.report["evaluations"]:
        if evaluation["policy"] == candidate.name:
            for r in evaluation["results"]:
                if r["name"] == estimator:
                    return float(r["estimate"]), float(r["lower_bound"])
    raise KeyError(f"{candidate.name}: no {estimator!r} result in its report")


DECISION_POINT = "obd-banner"


def register_candidates(candidates: list[Candidate], url: str | None = None, estimator: str = "dr") -> dict:
    """Register the candidates with their reports and the demo users; take the best one live.

    The best candidate (highest ``estimator`` lower bound) is approved by ``demo-approver`` (four eyes: the
    analyst registered and requested it), canaried at 10% and promoted, so that the decision API has a live
    policy; the others stay awaiting approval for the dashboard.

    :return: ``{"versions": {name: ref}, "live": ref, "traffic": TrafficSplit}``.
    """
    from policies.registry import Registry
    from policies.registry.demo import DEMO_PASSWORD, DemoCandidate, seed_demo

    sample = candidates[0]
    n_actions = int(sample.report["log"]["n_actions"])
    n_positions = int(sample.report["log"]["n_positions"])
    demo = [DemoCandidate(decision_point=DECISION_POINT, kind="ad_slot",
                          action_space={"n_actions": n_actions, "n_positions": n_positions}, baseline_action=0,
                          policy=c.name, artefact=c.artefact, report=c.report, markdown=c.markdown,
                          train_config=c.train_config, train_metrics=c.train_metrics) for c in candidates]
    versions = seed_demo(demo, url)
    refs = {c.name: v.ref for c, v in zip(candidates, versions, strict=True)}
    best = max(candidates, key=lambda c: estimate_of(c, estimator)[1])
    registry = Registry(url)
    try:
        live = registry.get_version(refs[best.name])
        if live.state != "live" and not any(v.state == "live" for v in registry.list_versions(DECISION_POINT)):
            approver = registry.authenticate("demo-approver", DEMO_PASSWORD)
            if live.state == "evaluated":
                registry.approve(approver, live.ref, f"demo: highest {estimator} lower bound of the candidates")
            registry.start_canary(approver, live.ref, 10)
            registry.promote(approver, live.ref, "demo: promoted without a canary period")
        return {"versions": refs, "live": refs[best.name], "traffic": registry.traffic(DECISION_POINT),
                "states": {v.ref: v.state for v in registry.list_versions(DECISION_POINT)}}
    finally:
        registry.close()


PRICING_POINT = "cracker-pricing"


def train_quick_ppo(sim_dir: Path, out: Path, config_path) -> dict:
    """Train the quick PPO pricing policy on the simulator fit from the Cracker panel; compare with its oracle.

    :return: ``{"result": RunResult, "oracle": float, "ratio": float, "report": dict}``; the report is the
        simulator evaluation the registry stores with the version.
    """
    import gymnasium as gym

    import envs  # noqa: F401  (registers the environments)
    from agents.run_config import RunConfig
    from agents.train import run_training

    base = config_path if isinstance(config_path, RunConfig) else RunConfig.from_toml(config_path)
    raw = base.to_dict()
    raw["env"]["sim_dir"] = str(sim_dir)
    raw["out"] = str(out / "runs")
    config = RunConfig.from_dict(raw)
    result = run_training(config, progress=True)
    from agents.train import env_kwargs

    env = gym.make(config.env.id, **env_kwargs(config))
    oracle = float(env.unwrapped.oracle()["value"])
    env.close()
    mean = float(result.metrics["eval"]["mean"])
    lo, hi = result.metrics["eval"]["ci95"]
    report = {"simulator": {"env": config.env.id, "sim_dir": str(sim_dir), "eval_mean": mean, "eval_ci95": [lo, hi],
                            "n_eval_seeds": int(result.metrics["eval"]["n"]), "oracle": oracle,
                            "oracle_kind": "best static prices on the price grid under the fitted demand",
                            "ratio": mean / oracle}}
    return {"result": result, "oracle": oracle, "ratio": mean / oracle, "report": report}


def register_pricing(trained: dict, url: str | None = None):
    """Register the quick PPO policy at the Cracker pricing decision point with its simulator report."""
    from policies.registry.demo import DemoCandidate, seed_demo

    result = trained["result"]
    artefact = result.run_dir / "policy"
    n_levels = int(result.config.env.kwargs.get("n_price_levels", 5))
    n_products = int(result.policy.n_positions)  # one "slot" per product: MultiDiscrete price levels
    candidate = DemoCandidate(decision_point=PRICING_POINT, kind="pricing",
                              action_space={"type": "multi_discrete", "levels_per_product": n_levels},
                              baseline_action={"price_level": n_levels // 2, "n_products": n_products,
                                               "meaning": "every product at the middle of its price grid"},
                              policy="demo-quick-ppo", artefact=artefact,
                              report=trained["report"], train_config=result.config.to_dict(),
                              train_metrics={"eval": result.metrics["eval"]})
    return seed_demo([candidate], url)[0]
