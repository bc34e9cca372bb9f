"""A populated registry for the dashboard tests, built only through the Registry API, and AppTest helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from policies.registry import Registry

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def opereport(candidate: float, half: float, *, champion: float | None = None, logging: float = 0.030,
              ess: float = 5000.0, n_rounds: int = 10_000, warnings: list[str] | None = None) -> dict:
    """A report shaped like ``policies.ope``'s ``OPEReport.to_dict()``: candidate, logging policy, champion."""

    def result(name: str, estimate: float, ess_value: float, extra_warnings=None) -> dict:
        return {"name": name, "label": name, "estimate": estimate, "ci": [estimate - half, estimate + half],
                "confidence": 0.95, "lower_bound": estimate - half, "lower_bound_method": "t",
                "std_error": half / 2, "params": {},
                "diagnostics": {"n_rounds": n_rounds, "ess": ess_value, "ess_share": ess_value / n_rounds,
                                "max_weight": 4.0, "max_weight_share": 0.001, "warnings": extra_warnings or []}}

    evaluations = [{"policy": "candidate", "n_rounds": n_rounds, "on_policy": False, "results": [
        result("dr", candidate, ess, warnings), result("snips", candidate + 0.001, ess, warnings)]},
        {"policy": "logging", "n_rounds": n_rounds, "on_policy": True, "results": [
            {"name": "on_policy", "label": "on_policy", "estimate": logging, "ci": [logging - 0.001, logging + 0.001],
             "lower_bound": logging - 0.001, "diagnostics": {}}]}]
    if champion is not None:
        evaluations.append({"policy": "champion", "n_rounds": n_rounds, "on_policy": False,
                            "results": [result("dr", champion, n_rounds * 0.8)]})
    return {"title": "OPE", "log": {"rows": n_rounds}, "evaluations": evaluations,
            "simulator": {"mean_reward": candidate, "episodes": 200, "random_policy": 0.02}}


def populate(registry: Registry, passwords: dict) -> dict:
    """banner: ppo:1 live, ppo:2 canary (10%), linucb:1 evaluated with alice's open request, eps:1 candidate;
    greedy:1 evaluated without a request; decisions and rewards over six hours. pricing: no versions. Returns the refs."""
    people = {n: registry.authenticate(n, p) for n, p in passwords.items()}
    root, alice, bob = people["root"], people["alice"], people["bob"]
    registry.add_decision_point(root, "banner", "ad_slot", {"n_actions": 3}, 0)
    registry.add_decision_point(root, "pricing", "pricing", [0.9, 1.0, 1.1], 1)
    sha = "ab" * 32
    curve = {"curve": {"step": [0, 1000, 2000, 3000], "episode_reward": [0.01, 0.02, 0.028, 0.031]},
             "final_reward": 0.031}

    def version(policy: str, report: dict | None, request: bool) -> str:
        v = registry.register_version(alice, "banner", policy, f"file:///artefacts/{policy}", sha,
                                      train_config={"seed": 0}, train_metrics=curve)
        if report is not None:
            registry.attach_report(alice, v.ref, report)
        if request:
            registry.request_approval(alice, v.ref, "beats the champion on DR")
        return v.ref

    champion = version("ppo", opereport(0.040, 0.004), True)
    registry.approve(bob, champion, "first champion")
    registry.start_canary(bob, champion, 10)
    registry.promote(bob, champion, "good canary")
    canary = version("ppo", opereport(0.050, 0.004, champion=0.040), True)
    registry.approve(bob, canary, "better")
    registry.start_canary(bob, canary, 10)
    candidate = version("linucb", opereport(0.052, 0.003, champion=0.040, ess=60.0,
                                            warnings=["Limited overlap: the logged rows are worth only about 60 "
                                                      "of 10,000 rows (0.6%) for this policy."]), True)
    fresh = version("eps", None, False)
    unrequested = version("greedy", opereport(0.047, 0.002, champion=0.040), False)
    for i in range(120):
        at = T0 + timedelta(minutes=3 * i)
        arm, ref = (("challenger", canary) if i % 10 == 0 else ("baseline", None) if i % 17 == 0
                    else ("champion", champion))
        registry.log_decision("banner", f"ev-{i}", arm, i % 3, version=ref, propensity=0.5, at=at)
        if i % 4 != 3:
            registry.log_reward(f"ev-{i}", float(i % 2), at=at + timedelta(seconds=30))
    return {"champion": champion, "canary": canary, "candidate": candidate, "fresh": fresh, "unrequested": unrequested}


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    """Fill and submit the sign-in form (runs the app first when it has not run)."""
    if not at._tree or not at.text_input:
        at.run()
    at.text_input(key="signin_user").input(username)
    at.text_input(key="signin_password").input(password)
    at.button(key="signin_submit").click()
    return at.run()


def open_page(at: AppTest, page: str) -> AppTest:
    at.sidebar.radio(key="nav").set_value(page)
    return at.run()


def texts(at: AppTest) -> str:
    """Every message, markdown, caption and metric on the page, as one string (for 'is it shown' checks)."""
    parts = []
    for kind in ("markdown", "caption", "info", "success", "warning", "error", "header", "subheader", "title"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(parts)
