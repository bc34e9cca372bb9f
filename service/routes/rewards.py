"""``POST /v1/rewards``: the reward of a decision, joined by ``event_id``; idempotent."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from policies.registry.log_records import (
    CONFLICT,
    DUPLICATE,
    NOT_ACTIVATED,
    STORED,
    UNKNOWN_EVENT,
    WINDOW_CLOSED,
    RewardRow,
)
from policies.registry.models import utcnow
from service.deps import authorize_writer
from service.models import WRITE_ERRORS, RewardRequest, RewardResponse
from service.wire import body_openapi, json_response, parse_body

router = APIRouter(prefix="/v1", tags=["rewards"])


@router.post("/rewards", response_model=RewardResponse, responses=WRITE_ERRORS, summary="Send the reward of a decision",
             openapi_extra=body_openapi(RewardRequest))
async def post_reward(request: Request) -> Response:
    """Store the reward of a logged decision (one per decision).

    Sending the same reward again answers ``duplicate`` (safe to retry); a different value for a decision that
    already has one is a 409. A reward after the decision point's reward window (counted from the decision, or
    from its activation when deferred) is refused with a 409: the default reward stands for it.
    """
    # The hot path (service.edge): token, then body, checked here (see post_decision).
    await authorize_writer(request)
    body = parse_body(RewardRequest, await request.body())
    state = request.app.state.service
    row = RewardRow(body.event_id, float(body.value), body.slot, utcnow())
    try:
        outcome = await state.writer.reward(row)
    except Exception as exc:
        raise HTTPException(503, f"the reward could not be stored ({type(exc).__name__}); retry, it is "
                                 "idempotent") from None
    state.metrics.reward_outcome(outcome)
    if outcome in (STORED, DUPLICATE):
        return json_response({"event_id": body.event_id, "status": outcome})
    if outcome == UNKNOWN_EVENT:
        raise HTTPException(404, f"no logged decision with event_id {body.event_id!r}")
    if outcome == WINDOW_CLOSED:
        raise HTTPException(409, f"the reward window of event {body.event_id!r} has closed (the decision point's "
                                 "reward_window_s has passed); its default reward stands")
    if outcome == NOT_ACTIVATED:
        raise HTTPException(409, f"event {body.event_id!r} is a deferred decision that was never activated: POST "
                                 f"/v1/decisions/{body.event_id}/activate once it is shown")
    if outcome == CONFLICT:
        raise HTTPException(409, f"event {body.event_id!r} already has a different reward (or slot); rewards "
                                 "cannot be changed")
    raise HTTPException(503, f"unexpected reward outcome {outcome!r}")
