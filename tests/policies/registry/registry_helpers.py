"""Helpers shared by the registry tests: OPE reports and versions taken to a given state."""

from __future__ import annotations

PASSWORDS = {"root": "root-pass-1", "alice": "alice-pass", "bob": "bob-pass-1", "carol": "carol-pass",
             "victor": "victor-pass"}

def ope_report(estimate: float, lower_bound: float, name: str = "dr", **extra) -> dict:
    """An OPE report shaped like policies.ope's output: one estimator with its interval."""
    half = estimate - lower_bound
    return {"ope": [{"name": name, "estimate": estimate, "ci": [lower_bound, estimate + half],
                     "lower_bound": lower_bound, "diagnostics": {"ess": 1000.0}}], **extra}


def evaluated(registry, people, dp: str, policy: str = "ppo", estimate: float = 0.10, lower_bound: float = 0.08,
              request: bool = True) -> str:
    """Register a version as alice, attach an OPE report and (by default) request approval; returns its ref."""
    v = registry.register_version(people.alice, dp, policy, f"file:///artefacts/{policy}", "ab" * 32,
                                  train_config={"seed": 0}, train_metrics={"reward": estimate})
    registry.attach_report(people.alice, v.ref, ope_report(estimate, lower_bound))
    if request:
        registry.request_approval(people.alice, v.ref, "please")
    return v.ref


def live(registry, people, dp: str, policy: str = "ppo", estimate: float = 0.10, lower_bound: float = 0.08) -> str:
    """Take a fresh version all the way to live; returns its ref."""
    ref = evaluated(registry, people, dp, policy, estimate, lower_bound)
    registry.approve(people.bob, ref)
    registry.start_canary(people.bob, ref, 10)
    registry.promote(people.bob, ref)
    return ref
