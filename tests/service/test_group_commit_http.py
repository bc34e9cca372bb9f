"""Group commit over real HTTP (SQLite and PostgreSQL): concurrent decisions share transactions and every one that
got a 2xx is stored once; when a batch cannot be committed every request in it gets a 503 (none a 2xx) and
nothing of it is stored; a row the database refuses fails alone, the rest of its batch is stored."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import create_engine, select, text

from benchmarks.bench_api import seed_registry
from policies.registry import make_engine
from policies.registry.models import DecisionLog, RewardLog

CONTEXT = [0.3, -1.2, 0.5, 2.0, -0.1]


def _post_all(base_url: str, token: str, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Send ``requests`` (path, JSON body) all at once; their answers in order."""

    async def send():
        async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=60, limits=httpx.Limits(max_connections=200)) as client:
            return await asyncio.gather(*[client.post(path, json=body) for path, body in requests])

    return asyncio.run(send())


def _decision(event_id: str) -> tuple[str, dict]:
    return "/v1/decisions", {"decision_point": "banner", "context": CONTEXT, "event_id": event_id}


def _logged(url: str) -> tuple[list[str], dict[str, float]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return (list(conn.execute(select(DecisionLog.event_id)).scalars()),
                    dict(conn.execute(select(RewardLog.event_id, RewardLog.reward)).all()))
    finally:
        engine.dispose()


def _metric(base_url: str, name: str) -> float:
    lines = [line for line in httpx.get(base_url + "/metrics").text.splitlines() if line.startswith(name + " ")]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


def test_concurrent_decisions_share_commits_and_are_all_stored(own_db_url, artefact, start_server):
    seeded = seed_registry(own_db_url, artefact)
    server = start_server(seeded.url, env={"RETAILRL_API_BATCH_WAIT_MS": "200"})
    token = seeded.tokens["service"]
    rows, batches = 'retailrl_log_batch_rows_sum{kind="decision"}', 'retailrl_log_batch_rows_count{kind="decision"}'
    before = _metric(server.base_url, rows), _metric(server.base_url, batches)
    ids = [f"group-{i}" for i in range(60)]
    answers = _post_all(server.base_url, token, [_decision(e) for e in ids])
    assert [r.status_code for r in answers] == [200] * len(ids), [r.text for r in answers if r.status_code != 200]
    after = _metric(server.base_url, rows), _metric(server.base_url, batches)
    assert after[0] - before[0] == len(ids)
    assert after[1] - before[1] < len(ids)  # some transactions held several decisions
    rewards = _post_all(server.base_url, token, [("/v1/rewards", {"event_id": e, "value": i % 2})
                                                 for i, e in enumerate(ids)])
    assert {r.json()["status"] for r in rewards} == {"stored"}
    decisions, stored = _logged(seeded.url)
    assert sorted(decisions) == sorted(ids)
    assert stored == {e: float(i % 2) for i, e in enumerate(ids)}


def test_a_batch_that_cannot_commit_answers_503_to_every_request_in_it(backend, own_db_url, artefact, start_server):
    seeded = seed_registry(own_db_url, artefact)
    server = start_server(seeded.url, env={"RETAILRL_API_WRITE_TIMEOUT_S": "0.3", "RETAILRL_API_BATCH_WAIT_MS": "20",
                                           "RETAILRL_API_SWEEP_S": "0"})
    token = seeded.tokens["service"]
    earlier = [f"early-{i}" for i in range(10)]
    assert {r.status_code for r in _post_all(server.base_url, token, [_decision(e) for e in earlier])} == {200}
    fresh = [f"blocked-{i}" for i in range(10)]
    requests = [_decision(e) for e in fresh] + [("/v1/rewards", {"event_id": e, "value": 1.0}) for e in earlier]

    engine = make_engine(seeded.url)  # another writer holds the log tables past the server's write timeout
    try:
        with engine.connect() as holder:
            holder.begin()  # SQLite: BEGIN IMMEDIATE, the database's write lock
            if backend == "postgresql":
                holder.execute(text("LOCK TABLE decision_log, reward_log IN EXCLUSIVE MODE"))
            answers = _post_all(server.base_url, token, requests)
            holder.rollback()
    finally:
        engine.dispose()
    assert [r.status_code for r in answers] == [503] * len(requests), [r.text for r in answers]
    assert all("could not be stored" in r.json()["detail"] for r in answers)
    decisions, rewards = _logged(seeded.url)
    assert sorted(decisions) == sorted(earlier) and rewards == {}  # none of them was stored

    retried = _post_all(server.base_url, token, requests)  # retrying is safe and now succeeds
    assert [r.status_code for r in retried] == [200] * len(requests)
    decisions, rewards = _logged(seeded.url)
    assert sorted(decisions) == sorted(earlier + fresh) and rewards == {e: 1.0 for e in earlier}


def test_a_row_the_database_refuses_fails_alone(backend, own_db_url, artefact, start_server):
    seeded = seed_registry(own_db_url, artefact)
    engine = make_engine(seeded.url)
    try:
        with engine.begin() as conn:  # the database itself refuses one event id
            if backend == "sqlite":
                conn.execute(text("CREATE TRIGGER refuse_test BEFORE INSERT ON decision_log WHEN NEW.event_id = "
                                  "'refused' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
            else:
                conn.execute(text("CREATE FUNCTION refuse_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                  "IF NEW.event_id = 'refused' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                                  "RETURN NEW; END $$"))
                conn.execute(text("CREATE TRIGGER refuse_test BEFORE INSERT ON decision_log FOR EACH ROW "
                                  "EXECUTE FUNCTION refuse_test()"))
    finally:
        engine.dispose()
    server = start_server(seeded.url, env={"RETAILRL_API_BATCH_WAIT_MS": "200"})
    errors = 'retailrl_log_write_errors_total{kind="decision"}'
    ids = [f"fine-{i}" for i in range(10)] + ["refused"] + [f"fine-{i}" for i in range(10, 20)]
    answers = _post_all(server.base_url, seeded.tokens["service"], [_decision(e) for e in ids])
    status = {e: r.status_code for e, r in zip(ids, answers, strict=True)}
    assert status.pop("refused") == 503 and set(status.values()) == {200}
    assert sorted(_logged(seeded.url)[0]) == sorted(status)
    assert _metric(server.base_url, errors) == 1  # only the refused row failed to commit
