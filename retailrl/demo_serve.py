"""The demo's last stage: the decision API and the dashboard on loopback, and a burst of simulated shoppers.

Shoppers are the held-out rows of the Open Bandit Dataset's random logs (their user-item affinity features are
the context the live policy reads); whether a shopper clicks is drawn from the click model the demo fit on the
same data (``sim_obd_all/click.json``), so the rewards the API joins are the simulator's, not invented.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from retailrl.demo_candidates import DECISION_POINT, split_by_time


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_or_free(port: int) -> int:
    """``port`` when it is free on 127.0.0.1 (0 or taken: any free port)."""
    if port:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                pass
    return free_port()


def start(args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Start ``retailrl ARGS`` in the background, output to ``log_path``."""
    log = open(log_path, "w")  # noqa: SIM115  (closed when the process is reaped by the caller)
    return subprocess.Popen([sys.executable, "-m", "retailrl.cli.main", *args], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Wait until ``url`` answers 200; raise naming the URL when it does not in time or the process died."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def demo_token() -> str:
    """An API token for ``demo-analyst`` (only its hash is stored in the registry)."""
    from policies.registry import Registry
    from policies.registry.demo import DEMO_PASSWORD

    registry = Registry()
    try:
        analyst = registry.authenticate("demo-analyst", DEMO_PASSWORD)
        _, token = registry.create_token(analyst, "demo-analyst", f"demo-{int(time.time())}")
        return token
    finally:
        registry.close()


def shopper_burst(base_url: str, token: str, click_model_path: Path, n_shoppers: int = 300, seed: int = 0) -> dict:
    """Send ``n_shoppers`` held-out OBD shoppers through the API; clicks drawn from the fitted click model."""
    from envs.models.base import load_model
    from service.shoppers import send_shoppers
    from sim_data.sources.obd import load_obd

    _, held_out = split_by_time(load_obd(policy="random", campaign="all"))
    rows = held_out.table.iloc[:n_shoppers].reset_index(drop=True)
    part = dataclasses.replace(held_out, table=rows)
    model = load_model(click_model_path)
    click_prob = np.clip(model.relevance_matrix(part) * float(model.position_bias[0]), 0.0, 1.0)
    features = [c for c in rows.columns if c.startswith("context_affinity")]
    contexts = rows[features].to_numpy(dtype=float)
    return send_shoppers(base_url, token, DECISION_POINT, contexts, lambda i, a: float(click_prob[i, a]), seed=seed,
                         prefix=f"demo-{int(time.time())}")
