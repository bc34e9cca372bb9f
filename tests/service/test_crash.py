"""Crash safety: kill -9 the server in the middle of a load of decisions and rewards, restart it: every decision
and reward that got a 2xx is in the database, none is duplicated, and retrying is safe."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from benchmarks.bench_api import run_load, seed_registry
from policies.registry.models import DecisionLog, RewardLog


def _log(url: str) -> tuple[list[str], dict[str, float]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            decisions = list(conn.execute(select(DecisionLog.event_id)).scalars())
            rewards = {e: r for e, r in conn.execute(select(RewardLog.event_id, RewardLog.reward))}
            return decisions, rewards
    finally:
        engine.dispose()


@pytest.mark.timeout(240)
def test_every_acknowledged_decision_and_reward_survives_kill_9(own_db_url, vw_artefact, tmp_path, start_server):
    artefact = Path(shutil.copytree(vw_artefact, tmp_path / "vw"))
    seeded = seed_registry(own_db_url, artefact)
    server = start_server(seeded.url)
    token = seeded.tokens["service"]

    async def load_then_kill():
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(server.base_url, token, seeded.decision_point, rate=150.0,
                                            duration_s=20.0, stop=stop, timeout_s=5.0, prefix="crash"))
        deadline = time.monotonic() + 60
        while not (await asyncio.to_thread(_log, seeded.url))[0]:  # the load is under way once rows appear
            assert time.monotonic() < deadline and not load.done(), "no decision was stored"
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(server.kill9)  # SIGKILL: no shutdown code, no flush; requests in flight are cut
        await asyncio.sleep(0.5)
        stop.set()
        return await asyncio.wait_for(load, 60)

    result = asyncio.run(load_then_kill())
    assert result.acked_decisions and result.acked_rewards, result.summary()
    assert result.errors, "the kill should have cut requests in flight"  # else the test proves nothing

    decisions, rewards = _log(seeded.url)
    duplicated = [e for e, n in Counter(decisions).items() if n > 1]
    assert duplicated == []
    assert result.acked_decisions <= set(decisions), sorted(result.acked_decisions - set(decisions))[:10]
    missing_rewards = {e: v for e, v in result.acked_rewards.items() if rewards.get(e) != v}
    assert missing_rewards == {}

    restarted = start_server(seeded.url)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=restarted.base_url, headers=headers, timeout=30) as client:
        for event_id, value in list(result.acked_rewards.items())[:20]:  # retrying an acknowledged reward is safe
            r = client.post("/v1/rewards", json={"event_id": event_id, "value": value})
            assert r.json()["status"] == "duplicate", r.text
        for event_id in sorted(result.acked_decisions)[:5]:  # and a decision cannot be logged twice
            r = client.post("/v1/decisions", json={"decision_point": seeded.decision_point, "event_id": event_id,
                                                   "context": [0.0] * 5})
            assert r.status_code == 409
        assert client.post("/v1/decisions", json={"decision_point": seeded.decision_point, "event_id": "after",
                                                   "context": [0.0] * 5}).status_code == 200
    decisions_after, _ = _log(seeded.url)
    assert len(decisions_after) == len(set(decisions_after)) == len(decisions) + 1
