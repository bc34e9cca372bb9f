"""``retailrl loop shop.toml --out DIR``: a shop's own logs through the whole loop.

``shop.toml`` names the shop's tables; paths are relative to the file, every table is optional::

    [data.bandit]                  # banner impressions -> click model, ad candidates, OPE
    path = "banners.parquet"
    mapping = "banners.toml"
    [data.choice]                  # baskets -> choice model, a pricing policy
    path = "baskets.csv"
    mapping = "baskets.toml"
    instruments = ["cost_idx"]
    [data.stock]                   # daily stock -> censored demand, a replenishment policy
    path = "stock.csv"
    mapping = "stock.toml"
    [loop]                         # optional
    size = "full"                  # "tiny": the smallest budgets (tests); "full" (default)
    seed = 0

Steps, in order: validate every table (a bad one stops the loop before anything is fit or registered) -> fit the
simulators (``DIR/fits/<kind>``, as ``retailrl sim fit FILE --kind``) -> build candidates: ad-slot policies
trained on the earliest 70% of the bandit log and evaluated off-policy on the rest, a PPO pricing policy on the
fitted choice model, the best base-stock policy on the fitted demand -> register the ad and pricing candidates
with their evidence and request approval -> ``DIR/report.md``. Every policy artefact carries the shop's
``vocabulary.json``. ``DIR/loop.json`` holds the same facts as the report.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim_data.io import write_text

KINDS = ("bandit", "choice", "stock")
SIZES = ("tiny", "full")
AD_POINT = "shop-banner"
PRICING_POINT = "shop-pricing"
Status = Callable[[str], None]


@dataclass
class ShopTableSpec:
    """One ``[data.KIND]`` section: the file, its mapping and (choice) instrument columns, resolved to paths."""

    kind: str
    path: Path
    mapping: Path | None = None
    instruments: tuple[str, ...] = ()


@dataclass
class ShopConfig:
    """A parsed ``shop.toml`` (see the module docstring)."""

    tables: dict[str, ShopTableSpec]
    size: str = "full"
    seed: int = 0
    source: Path = field(default_factory=Path)

    @classmethod
    def load(cls, path: str | Path) -> ShopConfig:
        """Parse ``shop.toml``; raises ``ValueError`` naming the section or key that is wrong."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such shop file: {path}")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
        unknown = sorted(set(raw) - {"data", "loop"})
        if unknown:
            raise ValueError(f"{path}: unknown sections {unknown}; expected [data.bandit|choice|stock] and [loop]")
        data = raw.get("data", {})
        bad = sorted(set(data) - set(KINDS))
        if bad:
            raise ValueError(f"{path}: unknown tables [data.{bad[0]}]; expected some of {list(KINDS)}")
        if not data:
            raise ValueError(f"{path}: names no table; add at least one of [data.bandit], [data.choice], [data.stock]")
        base = path.parent
        tables = {}
        for kind, spec in data.items():
            where = f"{path} [data.{kind}]"
            if not isinstance(spec, dict) or "path" not in spec:
                raise ValueError(f"{where}: expected path = \"FILE\" (and optionally mapping, instruments)")
            extra = sorted(set(spec) - {"path", "mapping", "instruments"})
            if extra:
                raise ValueError(f"{where}: unknown keys {extra}; expected path, mapping, instruments")
            inst = spec.get("instruments", [])
            if not isinstance(inst, list) or not all(isinstance(c, str) for c in inst):
                raise ValueError(f"{where}: instruments must be a list of column names")
            if inst and kind != "choice":
                raise ValueError(f"{where}: only the choice table takes instruments")
            tables[kind] = ShopTableSpec(kind, base / spec["path"],
                                         base / spec["mapping"] if spec.get("mapping") else None, tuple(inst))
        loop = raw.get("loop", {})
        size = loop.get("size", "full")
        if size not in SIZES:
            raise ValueError(f"{path} [loop] size: expected one of {list(SIZES)}, found {size!r}")
        seed = loop.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"{path} [loop] seed: expected an integer, found {seed!r}")
        return cls(tables=tables, size=size, seed=seed, source=path)


def validate_tables(config: ShopConfig, status: Status) -> dict[str, Any]:
    """Read and validate every table; raises the first table's error (naming file, column and rows)."""
    from sim_data.shop import load_shop_table

    loaded = {}
    for kind, spec in config.tables.items():
        status(f"validating {spec.path} ({kind})")
        loaded[kind] = load_shop_table(spec.path, kind, spec.mapping)
        if spec.instruments:
            from envs.fit_logs import instrument_frame

            instrument_frame(loaded[kind], list(spec.instruments))
    return loaded


def _ad_candidates(table, out: Path, size: str, seed: int, status: Status) -> list:
    from policies.ope.report import build_report
    from policies.policy import Policy, artefact_sha256
    from retailrl.demo_candidates import EXPLORATION, TRAIN_SHARE, Candidate, item_ctr_greedy, split_by_time

    train, held = split_by_time(table.log)
    makers = {"item-ctr-greedy": (lambda: item_ctr_greedy(train), {"exploration": EXPLORATION, "prior_clicks": 1.0})}
    numeric = [c for c in train.context_columns if str(train.table[c].dtype).startswith(("float", "int"))]
    if numeric:
        from agents.vw_bandit import VWContextualBandit

        makers["vw-squarecb"] = (lambda: VWContextualBandit.from_log(train, exploration="squarecb",
                                                                     use_action_context=False, seed=seed),
                                 {"exploration": "squarecb", "features": numeric})
    built = []
    for name, (make, cfg) in makers.items():
        status(f"building ad candidate {name} on {len(train):,} impressions")
        policy = make()
        artefact = out / "artefacts" / name
        policy.save(artefact)
        table.vocabulary.save(artefact)
        if hasattr(policy, "close"):
            policy.close()
        policy = Policy.load(artefact)
        status(f"off-policy evaluation of {name} on the {len(held):,} held-out impressions")
        report = build_report(held, policy, title=f"{name} on the held-out shop banner log", candidate_name=name,
                              estimators="ipw,snipw,dm,dr,sndr", n_resamples=50 if size == "tiny" else 200, seed=seed)
        files = report.save(out / "reports" / name)
        if hasattr(policy, "close"):
            policy.close()
        built.append(Candidate(name, artefact, report.to_dict(), report.to_markdown(), files,
                               {"trained_on": f"first {TRAIN_SHARE:.0%} of the bandit log by time",
                                "evaluated_on": f"last {1 - TRAIN_SHARE:.0%}", "seed": seed, **cfg},
                               {"artefact_sha256": artefact_sha256(artefact)}))
    return built


def _pricing(sim_dir: Path, out: Path, size: str, seed: int) -> dict:
    from agents.run_config import RunConfig
    from retailrl.demo_candidates import train_quick_ppo

    config = Path(__file__).resolve().parents[1] / "configs" / "demo_quick_ppo.toml"
    raw = RunConfig.from_toml(config).to_dict()
    raw["name"] = "shop_pricing_ppo"
    raw["train"]["seed"] = seed
    if size == "tiny":
        raw["train"]["steps"] = 2_048
        raw["train"]["checkpoint_every"] = 2_048
        raw["eval"] = {**raw.get("eval", {}), "n_seeds": 10}
    tmp = out / "pricing_config.json"
    write_text(tmp, json.dumps(raw))
    return train_quick_ppo(sim_dir, out, RunConfig.from_dict(raw))


def _inventory(sim_dir: Path) -> dict:
    from agents.baselines_inventory import tune_base_stock
    from envs.params import InventoryParams

    params = InventoryParams.from_fit_dir(sim_dir)
    levels, cost = tune_base_stock(params)
    return {"policy": "base-stock (order-up-to) levels tuned on the fitted demand",
            "levels": [int(x) for x in levels], "expected_cost_per_period": float(cost),
            "lead_time": params.lead_time, "demand_mean": params.demand_mean.tolist()}


def run_loop(shop_file: str | Path, out: str | Path, url: str | None = None, status: Status = lambda _: None,
             register: bool = True, size: str | None = None) -> dict:
    """Run the loop (see the module docstring) and return what ``DIR/loop.json`` holds.

    :param shop_file: the shop's ``shop.toml``.
    :param out: the loop directory (created).
    :param url: the registry's database URL (default ``DATABASE_URL``, else the SQLite file).
    :param status: callable receiving one line per step.
    :param register: register the candidates (False: build and evaluate only).
    :param size: ``tiny`` or ``full``, instead of ``shop.toml``'s ``[loop] size``.
    """
    from envs.fit_logs import fit_file

    config = ShopConfig.load(shop_file)
    if size is not None:
        if size not in SIZES:
            raise ValueError(f"--size: expected one of {list(SIZES)}, found {size!r}")
        config.size = size
    tables = validate_tables(config, status)          # nothing is written before every table passed
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"shop": str(config.source), "size": config.size, "seed": config.seed,
                              "fits": {}, "skipped": {}, "candidates": {}, "registered": {}}
    for kind in KINDS:
        if kind not in config.tables:
            result["skipped"][kind] = f"no [data.{kind}] table in {config.source.name}"
    for kind, spec in config.tables.items():
        status(f"fitting the {kind} simulator from {spec.path.name}")
        fidelity = fit_file(spec.path, kind, out / "fits" / kind, mapping=spec.mapping,
                            instruments=spec.instruments, progress=status)
        result["fits"][kind] = {"dir": str(out / "fits" / kind), "fidelity": fidelity}
    ads = []
    if "bandit" in tables:
        ads = _ad_candidates(tables["bandit"], out, config.size, config.seed, status)
        result["candidates"]["ads"] = [{"name": c.name, "artefact": str(c.artefact), "report_files": c.report_files,
                                        "dr": _estimate(c)} for c in ads]
    pricing = None
    if "choice" in tables:
        if result["fits"]["choice"]["fidelity"].get("params_written", True):
            status("training the PPO pricing policy on the fitted choice model")
            pricing = _pricing(out / "fits" / "choice", out, config.size, config.seed)
            result["candidates"]["pricing"] = {**pricing["report"]["simulator"],
                                               "run_dir": str(pricing["result"].run_dir)}
        else:
            result["skipped"]["pricing"] = result["fits"]["choice"]["fidelity"]["params_error"]
    if "stock" in tables:
        status("tuning the base-stock policy on the fitted demand")
        result["candidates"]["inventory"] = _inventory(out / "fits" / "stock")
    if register and (ads or pricing):
        result["registered"] = _register(ads, pricing, url, tables)
    write_text(out / "loop.json", json.dumps(result, indent=2, default=str))
    from retailrl.loop_report import loop_markdown

    write_text(out / "report.md", loop_markdown(result, out))
    return result


def _estimate(candidate) -> dict:
    from retailrl.demo_candidates import estimate_of

    est, lower = estimate_of(candidate, "dr")
    return {"estimate": est, "lower_bound": lower}


def _register(ads: list, pricing: dict | None, url: str | None, tables: dict) -> dict:
    from policies.registry.demo import DemoCandidate, seed_demo

    demo = []
    if ads:
        log = tables["bandit"].log
        vocab = tables["bandit"].vocabulary
        demo += [DemoCandidate(decision_point=AD_POINT, kind="ad_slot",
                               action_space={"n_actions": log.n_actions, "n_positions": log.n_positions,
                                             "vocabulary": vocab.to_dict()}, baseline_action=0,
                               policy=c.name, artefact=c.artefact, report=c.report, markdown=c.markdown,
                               train_config=c.train_config, train_metrics=c.train_metrics) for c in ads]
    if pricing is not None:
        result = pricing["result"]
        n_levels = int(result.config.env.kwargs.get("n_price_levels", 5))
        demo.append(DemoCandidate(decision_point=PRICING_POINT, kind="pricing",
                                  action_space={"type": "multi_discrete", "levels_per_product": n_levels},
                                  baseline_action={"price_level": n_levels // 2}, policy="shop-pricing-ppo",
                                  artefact=result.run_dir / "policy", report=pricing["report"],
                                  train_config=result.config.to_dict(), train_metrics={"eval": result.metrics["eval"]}))
    versions = seed_demo(demo, url)
    return {c.policy: {"ref": v.ref, "state": v.state, "decision_point": c.decision_point}
            for c, v in zip(demo, versions, strict=True)}
