"""The running API applies the registry's canary guardrail: a canary clearly worse than the champion is rolled
back by the server itself, the audit log says why, and traffic returns to the champion."""

from __future__ import annotations

import httpx

from benchmarks.bench_api import PASSWORD, ope_report, seed_registry
from policies.registry import Registry
from policies.registry.artefacts import artefact_sha256

CONTEXT = [0.3, -1.2, 0.5, 2.0, -0.1]


def test_a_bad_canary_is_rolled_back_automatically(own_db_url, artefact, start_server):
    seeded = seed_registry(own_db_url, artefact)
    reg = Registry(seeded.url)
    try:
        root, ana, bob = (reg.authenticate(u, PASSWORD) for u in ("root", "ana", "bob"))
        reg.add_decision_point(root, "promo", "ad_slot", {"n_actions": seeded.n_actions}, 0,
                               guardrail_min_count=20, guardrail_bound=0.0)
        refs = []
        for _ in range(2):
            v = reg.register_version(ana, "promo", "vw-promo", artefact.resolve().as_uri(), artefact_sha256(artefact))
            reg.attach_report(ana, v.ref, ope_report() if not refs else ope_report(0.2, 0.15))  # must beat the champion
            reg.request_approval(ana, v.ref)
            reg.approve(bob, v.ref)
            reg.start_canary(bob, v.ref, 10 if not refs else 50)
            if not refs:
                reg.promote(bob, v.ref)
            refs.append(v.ref)
        champion, canary = refs
    finally:
        reg.close()

    srv = start_server(seeded.url)
    headers = {"Authorization": f"Bearer {seeded.tokens['service']}"}
    arms = {"champion": 0, "canary": 0}
    with httpx.Client(base_url=srv.base_url, headers=headers, timeout=10) as client:
        for unit in range(200):
            body = client.post("/v1/decisions", json={"decision_point": "promo", "context": CONTEXT,
                                                      "unit_id": f"u{unit}"}).json()
            if body["arm"] not in arms:  # already rolled back: the guardrail acted on what it had
                break
            arms[body["arm"]] += 1
            value = 1.0 if body["arm"] == "champion" else 0.0  # the canary never pays
            assert client.post("/v1/rewards", json={"event_id": body["event_id"], "value": value}).status_code == 200
        assert min(arms.values()) >= 20, arms

        def canary_gone() -> bool:
            point = next(p for p in client.get("/v1/decision-points").json() if p["name"] == "promo")
            return [a["arm"] for a in point["traffic"]] == ["champion"]

        import time

        deadline = time.monotonic() + 30
        while not canary_gone():
            assert time.monotonic() < deadline, "the guardrail did not roll the canary back within 30 s"
            time.sleep(0.3)
        served = {client.post("/v1/decisions", json={"decision_point": "promo", "context": CONTEXT,
                                                     "unit_id": f"u{u}"}).json()["version"] for u in range(20)}
        assert served == {champion}

    reg = Registry(seeded.url)
    try:
        assert reg.get_version(canary).state == "rolled_back"
        entry = next(a for a in reg.audit_log() if a.actor == "system:guardrail")
        assert canary in (entry.reason or "") or canary in str(entry)
    finally:
        reg.close()
