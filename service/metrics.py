"""Prometheus metrics of one server process (``GET /metrics``): requests, latency, versions served, fallbacks,
rewards and their join rate, log batches and policy loads.

Each app gets its own ``CollectorRegistry`` (several apps can live in one test process). With ``--workers N``
every worker process has its own numbers; scrape each or aggregate by ``instance``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The server's metrics, registered on a private ``CollectorRegistry``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("retailrl_api_requests_total", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("retailrl_api_request_seconds", "HTTP request latency by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.decisions = Counter("retailrl_decisions_total", "Decisions served by decision point, arm and version",
                                 ["decision_point", "arm", "version"], registry=r)
        self.fallbacks = Counter("retailrl_fallbacks_total", "Decisions where the baseline replaced a failing "
                                 "policy", ["decision_point", "reason"], registry=r)
        self.rewards = Counter("retailrl_rewards_total", "Rewards by outcome", ["outcome"], registry=r)
        self.default_rewards = Counter("retailrl_default_rewards_total", "Default rewards logged at the end of "
                                       "a reward window", registry=r)
        self.join_rate = Gauge("retailrl_reward_join_rate", "Rewards stored / decisions stored by this process",
                               registry=r)
        self.batch_size = Histogram("retailrl_log_batch_rows", "Rows per committed log batch", ["kind"],
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r)
        self.lock_waits = Counter("retailrl_log_lock_waits_total", "Log batches that found SQLite's write lock "
                                  "taken and waited for it off the event loop", registry=r)
        self.log_errors = Counter("retailrl_log_write_errors_total", "Log batches that failed to commit", ["kind"],
                                  registry=r)
        self.served_versions = Gauge("retailrl_policy_loaded", "1 for each (decision point, arm, version) this "
                                     "process serves with a loaded policy, 0 when it falls back",
                                     ["decision_point", "arm", "version"], registry=r)
        self.policy_load_errors = Counter("retailrl_policy_load_errors_total", "Policy versions that failed to "
                                          "load", ["decision_point", "version"], registry=r)
        self.registry_refreshes = Counter("retailrl_registry_refreshes_total", "Reloads of what is served after "
                                          "a registry change", registry=r)
        self._decisions_stored = 0
        self._rewards_stored = 0
        self._children: dict[tuple, tuple] = {}  # label values -> the metric children (labels() costs a lock)

    def _child(self, key: tuple, make) -> tuple:
        child = self._children.get(key)
        if child is None:
            if len(self._children) >= 10_000:  # e.g. made-up HTTP methods: stay bounded
                self._children.clear()
            child = self._children[key] = make()
        return child

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count and time one HTTP request."""
        count, latency = self._child(("req", route, method, status), lambda: (
            self.requests.labels(route, method, str(status)), self.latency.labels(route)))
        count.inc()
        latency.observe(seconds)

    def decision_served(self, decision_point: str, arm: str, version: str | None) -> None:
        """Count a served (and stored) decision."""
        self._child(("dec", decision_point, arm, version), lambda: (
            self.decisions.labels(decision_point, arm, version or "baseline"),))[0].inc()

    def reward_outcome(self, outcome: str) -> None:
        """Count a reward by its outcome."""
        self._child(("rew", outcome), lambda: (self.rewards.labels(outcome),))[0].inc()

    def stored(self, decisions: int, rewards: int) -> None:
        """Count rows a committed log batch stored (for the join rate)."""
        self._decisions_stored += decisions
        self._rewards_stored += rewards
        if self._decisions_stored:
            self.join_rate.set(self._rewards_stored / self._decisions_stored)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
