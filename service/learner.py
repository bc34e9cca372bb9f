"""The online-learning worker: reads the joined decision/reward log, updates a VW learner, publishes candidates.

Run it as its own process (one VW workspace in it)::

    RETAILRL_LEARNER_TOKEN=rrl_... python -m service.learner --decision-point banner --policy banner-online \\
        --out /var/lib/retailrl/online [--publish-every 1000] [--publish-interval 300]

It starts from its own newest published version of ``--policy`` (resuming after the reward it had learned up
to, which that version's ``train_config`` records), else from the decision point's live version (a
:class:`~policies.vw_policy.VWPolicy`). Every logged decision with a reward (real or the default one) is one
IPS-style VW update with the logged propensity, whichever arm served it. Every ``publish_every`` events (or
``publish_interval`` seconds with new events) it saves an artefact and registers it as a **candidate** version:
promotion happens only through the registry's rules (evaluation, four-eyes approval, canary).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.registry import Registry, UserRecord, VersionRecord
from policies.registry.artefacts import artefact_sha256
from policies.vw_policy import VWPolicy
from service.policy_cache import load_version, n_actions_of

log = logging.getLogger("retailrl.learner")
TOKEN_ENV = "RETAILRL_LEARNER_TOKEN"


@dataclass
class LearnStats:
    learned: int = 0
    skipped: int = 0
    reward_sum: float = 0.0


class OnlineLearner:
    """Learns one decision point's VW policy from its joined logs.

    :param registry: the registry (logs and versions).
    :param user: who registers the candidates (a requester, approver or admin).
    :param decision_point: the decision point.
    :param policy: the policy name its candidates are registered under (e.g. ``banner-online``).
    :param out_dir: where artefacts are written (one new directory per candidate).
    :param publish_every: publish after this many newly learned events.
    """

    def __init__(self, registry: Registry, user: UserRecord, decision_point: str, policy: str,
                 out_dir: str | Path, publish_every: int = 1000):
        if isinstance(publish_every, bool) or not isinstance(publish_every, int) or publish_every < 1:
            raise ValueError(f"publish_every: expected a whole number >= 1, found {publish_every!r}")
        self.registry, self.user = registry, user
        self.decision_point, self.policy_name = decision_point, policy
        self.out_dir = Path(out_dir)
        self.publish_every = publish_every
        self.model, self.base_ref, self.watermark = self._start()
        self.stats = LearnStats()
        self.since_publish = 0

    def _start(self) -> tuple[VWPolicy, str, int]:
        dp = self.registry.get_decision_point(self.decision_point)
        own = [v for v in self.registry.list_versions(self.decision_point) if v.policy == self.policy_name]
        if own:
            base = own[-1]
            watermark = int((base.train_config or {}).get("after_reward_id", 0))
        else:
            live = [ref for arm, ref, _ in self.registry.traffic(self.decision_point).arms if arm == "champion"]
            if not live or live[0] is None:
                raise ValueError(f"decision point {self.decision_point!r} has no live version to start learning "
                                 f"from (and no earlier {self.policy_name!r} version)")
            base, watermark = self.registry.get_version(live[0]), 0
        model = load_version(base, n_actions_of(dp.action_space))
        if not isinstance(model, VWPolicy):
            getattr(model, "close", lambda: None)()
            raise ValueError(f"{base.ref} is a {type(model).__name__}; the online learner updates VW policies only")
        return model, base.ref, watermark

    def _learn_event(self, event: Any) -> bool:
        ctx = event.context
        if not isinstance(ctx, dict) or "features" not in ctx or "chosen" not in ctx or "propensities" not in ctx:
            return False
        values = ctx["features"]
        if isinstance(values, dict):
            names = self.model.feature_names
            if not names or any(n not in values for n in names):
                return False
            values = [values[n] for n in names]
        if not isinstance(values, list) or len(values) != self.model.n_features:
            return False
        candidates = ctx.get("candidates")
        learned = False
        for k, (chosen, prob) in enumerate(zip(ctx["chosen"], ctx["propensities"], strict=False)):
            if event.slot is not None and event.slot != k:
                continue
            eligible = candidates if candidates is not None else None
            if eligible is not None and chosen not in eligible:
                eligible = None  # the baseline action served outside the candidates: learn over all actions
            try:
                self.model.learn_values(values, eligible, int(chosen), float(event.reward), float(prob),
                                        min(k, self.model.n_positions - 1))
            except ValueError:
                return learned
            learned = True
        return learned

    def step(self, limit: int = 1000) -> int:
        """Learn from the next (at most ``limit``) joined events; returns how many were read."""
        events = self.registry.joined_events(self.decision_point, after_reward_id=self.watermark, limit=limit)
        for event in events:
            if self._learn_event(event):
                self.stats.learned += 1
                self.stats.reward_sum += event.reward
                self.since_publish += 1
            else:
                self.stats.skipped += 1
            self.watermark = event.reward_id
        return len(events)

    def publish(self) -> VersionRecord:
        """Save the model and register it as a candidate version of ``policy``."""
        directory = self.out_dir / f"{self.policy_name}-{self.watermark}"
        self.model.save(directory)
        version = self.registry.register_version(
            self.user, self.decision_point, self.policy_name, directory.resolve().as_uri(), artefact_sha256(directory),
            train_config={"learner": "service.learner", "base_version": self.base_ref,
                          "after_reward_id": self.watermark},
            train_metrics={"events_learned": self.stats.learned, "events_skipped": self.stats.skipped,
                           "mean_reward": self.stats.reward_sum / self.stats.learned if self.stats.learned else None})
        log.info("published %s after reward %d", version.ref, self.watermark)
        self.since_publish = 0
        return version

    def run(self, *, poll_s: float = 2.0, publish_interval_s: float = 300.0, max_seconds: float | None = None,
            once: bool = False) -> list[VersionRecord]:
        """Learn and publish until stopped (or for ``max_seconds``; ``once``: drain what is logged, publish, stop)."""
        published: list[VersionRecord] = []
        started = last_publish = time.monotonic()
        while True:
            n = self.step()
            now = time.monotonic()
            due = self.since_publish >= self.publish_every or (
                self.since_publish > 0 and now - last_publish >= publish_interval_s)
            if due or (once and n == 0 and self.since_publish > 0):
                published.append(self.publish())
                last_publish = now
            if once and n == 0:
                return published
            if max_seconds is not None and now - started >= max_seconds:
                return published
            if n == 0:
                time.sleep(poll_s)

    def close(self) -> None:
        self.model.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="retailrl online learner: joined logs -> VW -> candidate versions")
    parser.add_argument("--decision-point", required=True)
    parser.add_argument("--policy", required=True, help="policy name of the published candidates")
    parser.add_argument("--out", required=True, help="directory for the artefacts")
    parser.add_argument("--db", default=None, help="registry URL (default DATABASE_URL, else the data directory)")
    parser.add_argument("--publish-every", type=int, default=1000)
    parser.add_argument("--publish-interval", type=float, default=300.0, help="seconds")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between reads when idle")
    parser.add_argument("--once", action="store_true", help="learn what is logged, publish, exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise SystemExit(f"{TOKEN_ENV}: set it to a registry API token of a requester (it registers candidates)")
    registry = Registry(args.db)
    try:
        learner = OnlineLearner(registry, registry.authenticate_token(token), args.decision_point, args.policy,
                                args.out, args.publish_every)
        try:
            learner.run(poll_s=args.poll, publish_interval_s=args.publish_interval, once=args.once)
        finally:
            learner.close()
    finally:
        registry.close()


if __name__ == "__main__":
    main()
