"""Load benchmark of the decision API: 500 decisions/s, each followed by its reward, for 60 s, against a local server.

``main()`` trains a 10-action VW policy (seeded), seeds a fresh registry with it as the live version, starts
``retailrl serve`` in a subprocess (pinned to 2 cores with ``taskset`` when available), and drives it with an
open-loop async load generator in this process (requests are sent on schedule whether or not earlier ones
answered, so a slow server cannot hide its latency). Reports p50/p99/max latency of decisions and rewards, the
achieved rates and every error. Loopback only; bounded by ``--duration`` and the request count.

The helpers (:func:`build_vw_artefact`, :func:`seed_registry`, :class:`ServerProcess`, :func:`run_load`) are
also the harness of the API's tests (``tests/service``).

Run: ``python -m benchmarks.bench_api [--rate 500] [--duration 60] [--workers 1] [--cpus 0,1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_ACTIONS = 10
N_FEATURES = 5
PASSWORD = "bench-password"


def build_vw_artefact(directory: str | Path, n_actions: int = N_ACTIONS, n_features: int = N_FEATURES,
                      rows: int = 3000, seed: int = 0) -> Path:
    """Train a VW ``--cb_explore_adf`` policy on a synthetic click world and save it (``Policy.load`` gives a
    ``policies.vw_policy.VWPolicy``)."""
    from agents.vw_bandit import VWContextualBandit
    from sim_data.synthetic import make_click_world

    log, _ = make_click_world(rows, n_actions=n_actions, n_positions=1, n_features=n_features, logging="softmax",
                              seed=seed)
    with VWContextualBandit.from_log(log, exploration="epsilon", seed=seed) as learner:
        learner.save(directory)
    return Path(directory)


@dataclass
class SeededRegistry:
    """A registry with users, API tokens and one decision point whose live version is ``live_ref``."""

    url: str
    decision_point: str
    live_ref: str
    tokens: dict[str, str]  # role-ish name -> token: "service" (requester), "viewer", "admin", "approver"
    n_actions: int


def ope_report(estimate: float = 0.1, lower_bound: float = 0.08) -> dict:
    half = estimate - lower_bound
    return {"ope": [{"name": "dr", "estimate": estimate, "ci": [lower_bound, estimate + half],
                     "lower_bound": lower_bound, "diagnostics": {"ess": 1000.0}}]}


def seed_registry(url: str, artefact: str | Path, *, decision_point: str = "banner", reward_window_s: float = 3600.0,
                  default_reward: float = 0.0, n_actions: int = N_ACTIONS, policy: str = "vw") -> SeededRegistry:
    """Migrate ``url``, create users and tokens, and take ``artefact`` through the workflow to live."""
    from policies.registry import Registry, upgrade
    from policies.registry.artefacts import artefact_sha256
    from policies.registry.security import make_hasher

    upgrade(url)
    reg = Registry(url, hasher=make_hasher(fast=True))
    try:
        root = reg.create_user(None, "root", PASSWORD, "admin")
        for name, role in (("ana", "requester"), ("bob", "approver"), ("svc", "requester"), ("vic", "viewer")):
            reg.create_user(root, name, PASSWORD, role)
        ana, bob = reg.authenticate("ana", PASSWORD), reg.authenticate("bob", PASSWORD)
        tokens = {name: reg.create_token(root, user, "api")[1]
                  for name, user in (("service", "svc"), ("viewer", "vic"), ("admin", "root"), ("approver", "bob"))}
        reg.add_decision_point(root, decision_point, "ad_slot", {"n_actions": n_actions}, 0,
                               reward_window_s=reward_window_s, default_reward=default_reward)
        v = reg.register_version(ana, decision_point, policy, Path(artefact).resolve().as_uri(),
                                 artefact_sha256(artefact))
        reg.attach_report(ana, v.ref, ope_report())
        reg.request_approval(ana, v.ref, "bench")
        reg.approve(bob, v.ref)
        reg.start_canary(bob, v.ref, 10)
        reg.promote(bob, v.ref)
        return SeededRegistry(url, decision_point, v.ref, tokens, n_actions)
    finally:
        reg.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``retailrl serve`` in a subprocess on 127.0.0.1.

    :param url: the registry database URL.
    :param workers: uvicorn worker processes.
    :param env: extra environment (e.g. ``RETAILRL_API_REFRESH_S``).
    :param cpus: pin the server to these CPUs (``taskset -c``) when taskset exists.
    """

    def __init__(self, url: str, *, workers: int = 1, env: dict[str, str] | None = None, cpus: str | None = None,
                 port: int | None = None, log_path: str | Path | None = None):
        self.url, self.workers, self.extra_env, self.cpus = url, workers, dict(env or {}), cpus
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="retailrl-api-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        import httpx

        cmd = [sys.executable, "-m", "retailrl.cli.main", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(self.workers), "--db", self.url, "--log-level", "warning"]
        if self.cpus and shutil.which("taskset"):
            cmd = ["taskset", "-c", self.cpus, *cmd]
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **self.extra_env}
        env.pop("DATABASE_URL", None)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not become healthy in {timeout_s:g} s: {self.log_tail()}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its workers (its process group; Linux ``/proc``).

        Per request, this is robust to other load on the machine, unlike latency.
        """
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the process ended meanwhile
            if int(fields[2]) == self.proc.pid:  # pgrp (field 5 of stat)
                total += int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)
        return total / tick

    def log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def kill9(self) -> None:
        """SIGKILL the server and its workers (its whole process group): no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None


@dataclass
class LoadResult:
    """What a load run saw. Latencies in seconds; ``acked_*`` are what got a 2xx."""

    sent_decisions: int = 0
    decision_latency: list[float] = field(default_factory=list)
    reward_latency: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    acked_decisions: set[str] = field(default_factory=set)
    acked_rewards: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def summary(self) -> dict:
        def pct(xs, q):
            return round(float(np.percentile(xs, q)) * 1000, 3) if xs else None

        return {"sent_decisions": self.sent_decisions, "acked_decisions": len(self.acked_decisions),
                "acked_rewards": len(self.acked_rewards), "elapsed_s": round(self.elapsed_s, 2),
                "decisions_per_s": round(len(self.acked_decisions) / self.elapsed_s, 1) if self.elapsed_s else None,
                "decision_ms": {"p50": pct(self.decision_latency, 50), "p99": pct(self.decision_latency, 99),
                                "max": pct(self.decision_latency, 100)},
                "reward_ms": {"p50": pct(self.reward_latency, 50), "p99": pct(self.reward_latency, 99),
                              "max": pct(self.reward_latency, 100)},
                "errors": dict(sorted(self.errors.items())), "error_count": sum(self.errors.values())}


class HttpPool:
    """A tiny HTTP/1.1 keep-alive client (pure asyncio): ``size`` connections to one ``host:port``, JSON in and out.

    httpx costs milliseconds of CPU per request, which on a shared 2-core machine would measure the client rather
    than the server; this costs tens of microseconds. A connection that fails is dropped and reopened on demand.
    """

    def __init__(self, base_url: str, headers: dict[str, str], size: int = 64):
        from urllib.parse import urlparse

        parsed = urlparse(base_url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{self.host}:{self.port}", **headers}.items())
        self.idle: asyncio.Queue = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(None)  # a slot; the connection opens on first use

    async def post(self, path: str, payload: dict, timeout_s: float) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        request = (f"POST {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        conn = await self.idle.get()
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout_s)
            status, data = await asyncio.wait_for(self._exchange(conn, request), timeout_s)
        except BaseException:
            if conn is not None:
                conn[1].close()
            self.idle.put_nowait(None)
            raise
        self.idle.put_nowait(conn)
        return status, data

    @staticmethod
    async def _exchange(conn, request: bytes) -> tuple[int, bytes]:
        reader, writer = conn
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await reader.readexactly(length)

    async def close(self) -> None:
        while not self.idle.empty():
            conn = self.idle.get_nowait()
            if conn is not None:
                conn[1].close()


async def run_load(base_url: str, token: str, decision_point: str, *, rate: float = 500.0, duration_s: float = 60.0,
                   n_features: int = N_FEATURES, seed: int = 0, prefix: str = "bench", timeout_s: float = 5.0,
                   stop: asyncio.Event | None = None, connections: int = 64) -> LoadResult:
    """Open-loop load: ``rate`` decisions/s for ``duration_s``, each followed by its reward (bounded in count).

    Latency is measured from the moment a request was *due* (not when a connection became free), so queueing in
    the client counts against the server as it would for real callers (no coordinated omission). The client's
    objects that exist at the start are frozen out of its garbage collector for the run, so the client's own GC
    pauses are not reported as server latency.

    :param prefix: event ids are ``<prefix>-<i>``.
    :param stop: set it to stop sending early (requests in flight finish).
    :param connections: keep-alive connections to the server.
    """
    rng = np.random.default_rng(seed)
    total = int(rate * duration_s)
    contexts = rng.normal(size=(total, n_features)).round(4).tolist()
    rewards = (rng.random(total) < 0.3).astype(float).tolist()
    result = LoadResult()
    pool = HttpPool(base_url, {"Authorization": f"Bearer {token}"}, size=connections)

    async def one(i: int, due: float) -> None:
        event_id = f"{prefix}-{i}"
        try:
            status, _ = await pool.post("/v1/decisions", {"decision_point": decision_point, "context": contexts[i],
                                                          "event_id": event_id}, timeout_s)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            result.error(f"decision {type(exc).__name__}")
            return
        result.decision_latency.append(time.perf_counter() - due)
        if status != 200:
            result.error(f"decision HTTP {status}")
            return
        result.acked_decisions.add(event_id)
        sent = time.perf_counter()
        try:
            status, _ = await pool.post("/v1/rewards", {"event_id": event_id, "value": rewards[i]}, timeout_s)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            result.error(f"reward {type(exc).__name__}")
            return
        result.reward_latency.append(time.perf_counter() - sent)
        if status != 200:
            result.error(f"reward HTTP {status}")
            return
        result.acked_rewards[event_id] = rewards[i]

    tasks = []
    # The generator's own full garbage collections (numpy, pandas... are loaded here) pause it for 100+ ms, which
    # would show up as server latency: keep what exists now out of them for the run.
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    try:
        for i in range(total):
            if stop is not None and stop.is_set():
                break
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
            result.sent_decisions += 1
        await asyncio.gather(*tasks)
    finally:
        await pool.close()
        gc.unfreeze()
    result.elapsed_s = time.perf_counter() - start
    return result


def run(coro):
    """Run ``coro`` on uvloop when it is installed (it comes with ``uvicorn[standard]``): the load generator shares
    the server's cores, so its own CPU per request must stay small."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def main(argv: list[str] | None = None) -> dict:
    """Run the load benchmark and print (and return) its summary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="decisions per second (each with a reward)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--cpus", default="0,1", help="CPUs the server is pinned to (taskset -c); '' for none")
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--batch-wait-ms", type=float, default=0.0, help="the log writer's batch window")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="retailrl-bench-api-") as tmp:
        url = args.db or f"sqlite:///{tmp}/registry.db"
        artefact = build_vw_artefact(Path(tmp) / "vw")
        seeded = seed_registry(url, artefact)
        server = ServerProcess(url, workers=args.workers, cpus=args.cpus or None,
                               env={"RETAILRL_API_SWEEP_S": "0",
                                    "RETAILRL_API_BATCH_WAIT_MS": str(args.batch_wait_ms)}).start()
        try:
            token = seeded.tokens["service"]
            if args.warmup > 0:
                run(run_load(server.base_url, token, seeded.decision_point, rate=args.rate,
                             duration_s=args.warmup, prefix="warmup"))
            cpu_before, load_before, client_before = server.cpu_seconds(), os.getloadavg(), time.process_time()
            result = run(run_load(server.base_url, token, seeded.decision_point, rate=args.rate,
                                  duration_s=args.duration))
            cpu_s = server.cpu_seconds() - cpu_before
            client_s = time.process_time() - client_before
        finally:
            server.stop()
        summary = {"benchmark": "decision API load", "rate": args.rate, "duration_s": args.duration,
                   "workers": args.workers, "batch_wait_ms": args.batch_wait_ms, "server_cpus": args.cpus or "all", "cpu_count": os.cpu_count(),
                   "load_average_before": load_before, "load_average_after": os.getloadavg(),
                   "server_cpu_s": round(cpu_s, 2),
                   "server_cpu_ms_per_request": round(1000 * cpu_s / max(1, result.sent_decisions
                                                                         + len(result.acked_decisions)), 3),
                   "server_cpu_ms_per_decision_and_reward": round(1000 * cpu_s / max(1, result.sent_decisions), 3),
                   "load_generator_cpu_ms_per_request": round(1000 * client_s / max(1, result.sent_decisions
                                                                                    + len(result.acked_decisions)), 3),
                   "policy": f"VW cb_explore_adf, {N_ACTIONS} actions",
                   "database": url.split(":", 1)[0], **result.summary()}
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
