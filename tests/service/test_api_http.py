"""The decision API over real HTTP against a running ``retailrl serve`` (SQLite and PostgreSQL): decisions from the
live VW policy with known distributions, durable logging, rewards (idempotent, windowed, default), deferred
activation, authentication, validation, and registry changes picked up while serving."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, select

from benchmarks.bench_api import PASSWORD, ope_report, seed_registry
from policies.policy import Policy
from policies.registry import Registry
from policies.registry.artefacts import artefact_sha256
from policies.registry.models import DecisionLog, RewardLog
from policies.vw_policy import VWPolicy
from service.sampling import replay_actions

CONTEXT = [0.3, -1.2, 0.5, 2.0, -0.1]


def _rows(url: str, model, *event_ids: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(model).where(model.event_id.in_(event_ids))).mappings())
    finally:
        engine.dispose()


def _wait_for(predicate, timeout_s: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _decide(client, **kw) -> httpx.Response:
    return client.post("/v1/decisions", json={"decision_point": "banner", "context": CONTEXT, **kw})


def test_a_decision_comes_from_the_live_vw_policy_and_is_logged_before_the_answer(client, seeded, artefact):
    r = _decide(client, event_id="ev-1", unit_id="shopper-7")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["arm"], body["version"], body["fallback"], body["deferred"]) == ("champion", seeded.live_ref,
                                                                                  False, False)
    (slot,) = body["slots"]
    pmf = np.array([d["probability"] for d in slot["distribution"]])
    assert [d["action"] for d in slot["distribution"]] == list(range(10))
    with Policy.load(artefact) as policy:  # the known answer: the same model, loaded here
        assert isinstance(policy, VWPolicy)
        np.testing.assert_allclose(pmf, policy.predict(CONTEXT), atol=1e-12)
    assert body["actions"] == [slot["action"]] and slot["probability"] == pmf[slot["action"]] > 0
    assert replay_actions("ev-1", [pmf]) == [slot["action"]]  # sampling is seeded by the event id

    (row,) = _rows(seeded.url, DecisionLog, "ev-1")  # acknowledged means stored
    assert (row["event_id"], row["arm"], row["action"]) == ("ev-1", "champion", slot["action"])
    assert row["propensity"] == pytest.approx(slot["probability"])
    assert row["context"]["features"] == CONTEXT and row["context"]["unit_id"] == "shopper-7"
    np.testing.assert_allclose(row["context"]["pmf"][0], pmf)

    again = _decide(client, event_id="ev-1")
    assert again.status_code == 409 and "already logged" in again.json()["detail"]
    fresh = _decide(client)
    assert fresh.status_code == 200 and len(fresh.json()["event_id"]) == 32


def test_candidates_slots_and_item_features(client, seeded):
    actions = [{"id": 7}, {"id": 2, "features": [1.5, "red"]}, {"id": 4}]
    r = _decide(client, event_id="slate-1", actions=actions, slots=2)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["slots"]) == 2 and all(a in (7, 2, 4) for a in body["actions"])
    for slot in body["slots"]:
        assert [d["action"] for d in slot["distribution"]] == [7, 2, 4]
        assert sum(d["probability"] for d in slot["distribution"]) == pytest.approx(1.0)
    (row,) = _rows(seeded.url, DecisionLog, "slate-1")
    assert row["action"] == body["actions"] and row["context"]["candidates"] == [7, 2, 4]
    assert row["context"]["action_features"] == {"2": [1.5, "red"]}
    assert row["propensity"] == pytest.approx(np.prod([s["probability"] for s in body["slots"]]))


def test_rewards_are_joined_idempotent_and_checked(client, seeded):
    assert _decide(client, event_id="r-1").status_code == 200
    first = client.post("/v1/rewards", json={"event_id": "r-1", "value": 1.0})
    assert first.status_code == 200 and first.json() == {"event_id": "r-1", "status": "stored"}
    repeat = client.post("/v1/rewards", json={"event_id": "r-1", "value": 1})
    assert repeat.status_code == 200 and repeat.json()["status"] == "duplicate"
    changed = client.post("/v1/rewards", json={"event_id": "r-1", "value": 0.0})
    assert changed.status_code == 409 and "different reward" in changed.json()["detail"]
    unknown = client.post("/v1/rewards", json={"event_id": "nope", "value": 1.0})
    assert unknown.status_code == 404
    (reward,) = _rows(seeded.url, RewardLog, "r-1")
    assert (reward["event_id"], reward["reward"], reward["is_default"]) == ("r-1", 1.0, False)


def test_deferred_decisions_need_activation_before_rewards(client, seeded):
    assert _decide(client, event_id="d-1", deferred=True).json()["deferred"] is True
    early = client.post("/v1/rewards", json={"event_id": "d-1", "value": 1.0})
    assert early.status_code == 409 and "activate" in early.json()["detail"]
    assert client.post("/v1/decisions/d-1/activate").json() == {"event_id": "d-1", "status": "activated"}
    assert client.post("/v1/decisions/d-1/activate").json()["status"] == "already_active"
    assert client.post("/v1/decisions/missing/activate").status_code == 404
    assert client.post("/v1/rewards", json={"event_id": "d-1", "value": 2.0}).json()["status"] == "stored"


def test_the_reward_window_closes_and_the_default_reward_is_logged(client, seeded):
    reg = Registry(seeded.url)
    try:
        root = reg.authenticate("root", PASSWORD)
        reg.add_decision_point(root, "quick", "ad_slot", {"n_actions": 3}, 2, reward_window_s=0.5,
                               default_reward=-1.0)
    finally:
        reg.close()
    body = {"decision_point": "quick", "context": [1.0], "event_id": "q-1"}
    r = _wait_for(lambda: (resp := client.post("/v1/decisions", json=body)).status_code == 200 and resp,
                  what="the server to pick up the new decision point")
    assert r.json()["arm"] == "baseline" and r.json()["actions"] == [2]  # no champion yet: the baseline serves
    time.sleep(0.7)
    late = client.post("/v1/rewards", json={"event_id": "q-1", "value": 1.0})
    assert late.status_code == 409 and "reward window" in late.json()["detail"]
    default = _wait_for(lambda: _rows(seeded.url, RewardLog, "q-1"),
                        what="the default reward")
    assert [(d["reward"], d["is_default"]) for d in default] == [(-1.0, True)]


def test_authentication_and_roles(server, seeded):
    url = server.base_url
    decision = {"decision_point": "banner", "context": CONTEXT}
    missing = httpx.post(url + "/v1/decisions", json=decision)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    bad = httpx.post(url + "/v1/decisions", json=decision, headers={"Authorization": "Bearer rrl_wrong"})
    assert bad.status_code == 401
    viewer = {"Authorization": f"Bearer {seeded.tokens['viewer']}"}
    denied = httpx.post(url + "/v1/decisions", json=decision, headers=viewer)
    assert denied.status_code == 403 and "viewer" in denied.json()["detail"]
    assert httpx.post(url + "/v1/rewards", json={"event_id": "x", "value": 1}, headers=viewer).status_code == 403
    listed = httpx.get(url + "/v1/decision-points", headers=viewer)
    assert listed.status_code == 200
    (banner,) = [p for p in listed.json() if p["name"] == "banner"]
    assert banner["name"] == "banner" and banner["n_actions"] == 10
    assert banner["traffic"] == [{"arm": "champion", "version": seeded.live_ref, "percent": 100.0, "loaded": True,
                                  "error": None}]
    assert httpx.get(url + "/v1/decision-points").status_code == 401

    reg = Registry(seeded.url)  # a revoked token stops working (within the token cache's TTL)
    try:
        root = reg.authenticate("root", PASSWORD)
        record, token = reg.create_token(root, "svc", "short-lived")
        service = {"Authorization": f"Bearer {token}"}
        assert httpx.post(url + "/v1/decisions", json=decision, headers=service).status_code == 200
        reg.revoke_token(root, record.id)
    finally:
        reg.close()
    _wait_for(lambda: httpx.post(url + "/v1/decisions", json=decision, headers=service).status_code == 401,
              what="the revoked token to be refused")


def test_bad_input_gets_field_level_422_and_size_limits(client):
    cases = [
        ({"decision_point": "banner", "context": [True]}, ["body", "context"], "expected a number"),
        ({"decision_point": "banner", "context": CONTEXT, "slots": 0}, ["body", "slots"], "greater than"),
        ({"decision_point": "banner", "context": CONTEXT, "actions": [{"id": 10}]}, ["body", "actions", 0, "id"],
         "[0, 9]"),
        ({"decision_point": "banner", "context": CONTEXT, "actions": [{"id": 1}, {"id": 1}]},
         ["body", "actions", 1, "id"], "twice"),
        ({"decision_point": "banner", "context": CONTEXT, "colour": "red"}, ["body", "colour"], "Extra inputs"),
        ({"decision_point": "banner", "context": CONTEXT, "event_id": "has space"}, ["body", "event_id"], "pattern"),
        ({"context": CONTEXT}, ["body", "decision_point"], "required"),
        ({"decision_point": "banner", "context": ["a\x00b"]}, ["body", "context"], "NUL"),  # found by the fuzzer
        ({"decision_point": "banner", "context": [10**400]}, ["body", "context"], "finite"),
    ]
    for body, loc, message in cases:
        r = client.post("/v1/decisions", json=body)
        assert r.status_code == 422, (body, r.text)
        detail = r.json()["detail"]
        assert any(d["loc"] == loc and message in d["msg"] for d in detail), (body, detail)
    reward = client.post("/v1/rewards", json={"event_id": "x", "value": "high"})
    assert reward.status_code == 422 and reward.json()["detail"][0]["loc"] == ["body", "value"]
    broken = client.post("/v1/decisions", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422
    huge = client.post("/v1/decisions", json={"decision_point": "banner", "context": ["x" * 200] * 400})
    assert huge.status_code == 413 and "too large" in huge.json()["detail"]
    unknown = client.post("/v1/decisions", json={"decision_point": "nowhere", "context": CONTEXT})
    assert unknown.status_code == 404 and "decision-points" in unknown.json()["detail"]


def test_a_chunked_body_over_the_limit_gets_413_on_both_hot_endpoints(client):
    def chunks():  # no content-length: the server finds out while reading
        yield b'{"decision_point": "banner", "context": ['
        for _ in range(2000):
            yield b'"' + b"x" * 60 + b'", '
        yield b'"y"]}'

    for path in ("/v1/decisions", "/v1/rewards"):
        r = client.post(path, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "too large" in r.json()["detail"], (path, r.text)
    small = client.post("/v1/decisions", content=iter([b'{"decision_point": "banner", ', b'"context": [1, 2, 3, 4, 5]}']))
    assert small.status_code == 200, small.text  # a chunked body within the limit is read whole


def test_kill_switch_canary_and_rollback_are_picked_up_while_serving(client, seeded, artefact):
    reg = Registry(seeded.url)
    try:
        bob = reg.authenticate("bob", PASSWORD)
        ana = reg.authenticate("ana", PASSWORD)
        reg.kill(bob, "banner", "incident")
        killed = _wait_for(lambda: (b := _decide(client).json())["arm"] == "baseline" and b,
                           what="the kill switch")
        assert killed["actions"] == [0] and killed["version"] is None and not killed["fallback"]
        reg.revive(bob, "banner", "fixed")
        _wait_for(lambda: _decide(client).json()["arm"] == "champion", what="the revival")

        v2 = reg.register_version(ana, "banner", "vw", artefact.resolve().as_uri(), artefact_sha256(artefact))
        reg.attach_report(ana, v2.ref, ope_report(0.2, 0.15))
        reg.request_approval(ana, v2.ref)
        reg.approve(bob, v2.ref)
        reg.start_canary(bob, v2.ref, 50)
        _wait_for(lambda: _decide(client, unit_id="probe").status_code == 200 and [
            p for p in client.get("/v1/decision-points").json() if p["name"] == "banner"][0]["traffic"][-1]["arm"]
            == "canary", what="the canary")
        arms = {}
        for unit in range(40):
            seen = {_decide(client, unit_id=f"u{unit}").json()["arm"] for _ in range(2)}
            assert len(seen) == 1  # sticky per unit
            arms[unit] = seen.pop()
        assert set(arms.values()) == {"champion", "canary"}
        canary_unit = next(u for u, a in arms.items() if a == "canary")
        assert _decide(client, unit_id=f"u{canary_unit}").json()["version"] == v2.ref
        reg.rollback(bob, "banner", "test")
        _wait_for(lambda: all(_decide(client, unit_id=f"u{u}").json()["arm"] == "champion" for u in arms),
                  what="the rollback")
    finally:
        reg.close()


def test_a_policy_that_fails_to_load_is_a_counted_fallback_never_a_500(own_db_url, vw_artefact, tmp_path,
                                                                         start_server):
    artefact = Path(shutil.copytree(vw_artefact, tmp_path / "vw"))
    seeded = seed_registry(own_db_url, artefact)
    (artefact / "vw_model.npy").write_bytes(b"corrupted")  # its sha256 no longer matches the registry
    srv = start_server(seeded.url)
    headers = {"Authorization": f"Bearer {seeded.tokens['service']}"}
    r = httpx.post(srv.base_url + "/v1/decisions", headers=headers,
                   json={"decision_point": "banner", "context": CONTEXT})
    assert r.status_code == 200
    body = r.json()
    assert (body["arm"], body["fallback"], body["actions"]) == ("baseline", True, [0])
    assert "sha256" in body["fallback_reason"]
    traffic = httpx.get(srv.base_url + "/v1/decision-points", headers=headers).json()[0]["traffic"][0]
    assert traffic["loaded"] is False and "sha256" in traffic["error"]
    wrong = httpx.post(srv.base_url + "/v1/decisions", headers=headers,
                       json={"decision_point": "banner", "context": [1.0, 2.0]})
    assert wrong.status_code == 200 and wrong.json()["fallback"]
    metrics = httpx.get(srv.base_url + "/metrics").text
    assert 'retailrl_fallbacks_total{decision_point="banner"' in metrics
    assert f'retailrl_policy_loaded{{arm="champion",decision_point="banner",version="{seeded.live_ref}"}} 0.0' \
        in metrics


def test_a_model_fault_while_serving_falls_back(client, seeded):
    r = _decide(client, context=[1.0, 2.0], event_id="fault-1")  # the VW policy expects 5 features: it raises
    assert r.status_code == 200
    body = r.json()
    assert body["fallback"] and body["arm"] == "baseline" and "expected 5 features" in body["fallback_reason"]
    (row,) = _rows(seeded.url, DecisionLog, "fault-1")
    assert row["arm"] == "baseline" and row["version_id"] is None and "fallback_reason" in row["context"]


def _metric(text: str, name: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


def test_healthz_and_metrics(client, server, seeded):
    served = f'retailrl_decisions_total{{arm="champion",decision_point="banner",version="{seeded.live_ref}"}}'
    rewards = 'retailrl_api_requests_total{method="POST",route="/v1/rewards",status="200"}'
    before = httpx.get(server.base_url + "/metrics").text
    assert _decide(client, event_id="m-1").json()["arm"] == "champion"
    assert client.post("/v1/rewards", json={"event_id": "m-1", "value": 1.0}).status_code == 200
    health = httpx.get(server.base_url + "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["policies_loaded"] >= 1
    after = httpx.get(server.base_url + "/metrics").text
    assert _metric(after, served) == _metric(before, served) + 1
    assert _metric(after, rewards) == _metric(before, rewards) + 1
    assert _metric(after, 'retailrl_rewards_total{outcome="stored"}') >= 1
    assert 'retailrl_api_request_seconds_bucket{le="0.01",route="/v1/decisions"}' in after
    assert 0 < _metric(after, "retailrl_reward_join_rate") <= 1


def test_a_burst_of_simulated_shoppers(server, seeded):
    from service.shoppers import send_shoppers
    from sim_data.synthetic import make_click_world

    _, truth = make_click_world(30, n_actions=10, n_positions=1, n_features=5, logging="uniform", seed=3)
    probs = truth.click_prob()[:, :, 0]
    out = send_shoppers(server.base_url, seeded.tokens["service"], "banner", truth.contexts,
                        lambda i, a: float(probs[i, a]), seed=0, prefix=f"burst-{uuid.uuid4().hex[:6]}")
    assert (out["decisions"], out["rewards"], out["errors"], out["arms"]) == (30, 30, 0, {"champion": 30})
    assert 0.0 <= out["mean_reward"] <= 1.0
