"""Fuzzing: schemathesis generates requests from the server's own /openapi.json, valid ones and invalid ones
(with a valid token), for every operation; none may get a 5xx. Bounded: a fixed number of derandomized examples
per operation and mode, no deadline.

(Schemathesis' pytest plugin does not load under pytest 9 here, so the operations' hypothesis strategies are
driven directly.)"""

from __future__ import annotations

import hypothesis
import schemathesis
from schemathesis.generation.modes import GenerationMode

MAX_EXAMPLES = 20


def _aim_at(decision_point: str):
    """Point generated decision bodies at a real decision point, so that requests get past the 404."""

    def aim(case):
        if isinstance(case.body, dict) and "decision_point" in case.body:
            case.body["decision_point"] = decision_point
        return case

    return aim


def _fuzz(op, mode: GenerationMode, base_url: str, headers: dict, seen: set[int], aim=None) -> None:
    """Run ``MAX_EXAMPLES`` generated requests of one operation; fail on the first 5xx."""
    strategy = op.as_strategy(generation_mode=mode)

    @hypothesis.given(case=strategy if aim is None else strategy.map(aim))
    @hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def no_server_error(case):
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        seen.add(response.status_code)
        assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.status_code,
                                            response.text[:500])

    no_server_error()


def test_no_request_gets_a_server_error(server, seeded):
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    headers = {"Authorization": f"Bearer {seeded.tokens['service']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/decisions", "/v1/rewards", "/v1/decisions/{event_id}/activate",
                                              "/v1/decision-points", "/healthz", "/metrics"}
    statuses: dict[str, set[int]] = {}
    for op in operations:
        seen = statuses.setdefault(f"{op.method.upper()} {op.path}", set())
        _fuzz(op, GenerationMode.POSITIVE, server.base_url, headers, seen)
        if op.method.upper() == "POST":  # GET /healthz and friends take no input to get wrong
            _fuzz(op, GenerationMode.NEGATIVE, server.base_url, headers, seen)
            if op.path == "/v1/decisions":
                _fuzz(op, GenerationMode.POSITIVE, server.base_url, headers, seen, _aim_at(seeded.decision_point))
    # the fuzzer reached the handlers (2xx) and the validation (422) of the decision endpoint
    assert {200, 422} <= statuses["POST /v1/decisions"], statuses
