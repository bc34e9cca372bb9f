"""``POST /v1/decisions`` and ``POST /v1/decisions/{event_id}/activate``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from policies.registry.log_records import ACTIVATED, UNKNOWN_EVENT
from policies.registry.models import utcnow
from service.decide import API_ARM, RequestProblem, decide, decision_entry
from service.deps import authorize_writer, service, writer_user
from service.models import (
    EVENT_ID_PATTERN,
    WRITE_ERRORS,
    ActivationResponse,
    DecisionRequest,
    DecisionResponse,
)
from service.wire import body_openapi, json_response, parse_body

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.post("/decisions", response_model=DecisionResponse, responses=WRITE_ERRORS, summary="Choose the action(s) to show",
             openapi_extra=body_openapi(DecisionRequest))
async def post_decision(request: Request) -> Response:
    """Choose an action per slot for a context, log the decision durably, then answer.

    The answer names who decided (champion, canary or baseline), the version, and each slot's full distribution.
    Sampling is seeded by ``event_id``: the same event id, context and serving version give the same answer.
    """
    # The hot path (service.edge): the token is checked, then the body is read and validated here, without
    # FastAPI's per-request dependency machinery; errors are FastAPI's own 401/403/422.
    await authorize_writer(request)
    body = parse_body(DecisionRequest, await request.body())
    state = request.app.state.service
    point = state.cache.get(body.decision_point)
    if point is None:
        raise HTTPException(404, f"no decision point named {body.decision_point!r}; GET /v1/decision-points "
                                 "lists them")
    event_id = body.event_id or uuid.uuid4().hex
    at = utcnow()
    try:
        decision = decide(point, body, event_id)
    except RequestProblem as exc:
        raise RequestValidationError([{"loc": exc.loc, "msg": str(exc), "type": "value_error"}]) from None
    if decision.fallback_reason is not None:
        state.metrics.fallbacks.labels(point.record.name, decision.fallback_reason.split(":", 1)[0][:60]).inc()
    try:
        stored = await state.writer.decision(decision_entry(decision, point, body, at))
    except Exception as exc:
        raise HTTPException(503, f"the decision could not be stored ({type(exc).__name__}); retry with the same "
                                 f"event_id") from None
    if not stored:
        raise HTTPException(409, f"event_id {event_id!r} is already logged; use a new event_id per decision")
    state.metrics.decision_served(point.record.name, decision.arm, decision.version)
    slots = [{"slot": k, "action": decision.chosen[k], "probability": decision.probabilities[k],
              "distribution": [{"action": a, "probability": p}
                               for a, p in zip(decision.candidates[k], decision.pmfs[k], strict=True)]}
             for k in range(body.slots)]
    return json_response({"event_id": event_id, "decision_point": point.record.name, "arm": API_ARM[decision.arm],
                          "version": decision.version, "fallback": decision.fallback_reason is not None,
                          "fallback_reason": decision.fallback_reason, "deferred": body.deferred,
                          "actions": list(decision.chosen), "slots": slots})


@router.post("/decisions/{event_id}/activate", response_model=ActivationResponse, responses=WRITE_ERRORS,
             dependencies=[Depends(writer_user)], summary="Activate a deferred decision (it was shown)")
async def activate(event_id: Annotated[str, Path(pattern=EVENT_ID_PATTERN)],
                   state=Depends(service)) -> ActivationResponse:
    """Mark a deferred decision as shown: its reward window starts now and rewards are accepted.
    Activating twice (or a decision that was not deferred) is harmless."""
    try:
        outcome = await asyncio.to_thread(state.registry.activate_decision, event_id)
    except Exception as exc:
        raise HTTPException(503, f"the activation could not be stored ({type(exc).__name__}); retry") from None
    if outcome == UNKNOWN_EVENT:
        raise HTTPException(404, f"no logged decision with event_id {event_id!r}")
    return ActivationResponse(event_id=event_id, status="activated" if outcome == ACTIVATED else "already_active")
