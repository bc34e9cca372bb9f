"""``GET /v1/decision-points``, ``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from service.decide import API_ARM
from service.deps import current_user, service
from service.models import DecisionPointOut, ErrorBody, TrafficArm

router = APIRouter(tags=["meta"])
STALE_AFTER_S = 60.0


@router.get("/v1/decision-points", response_model=list[DecisionPointOut], dependencies=[Depends(current_user)],
            responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
async def decision_points(state=Depends(service)) -> list[DecisionPointOut]:
    """Every decision point with what this server serves for it now."""
    out = []
    for p in sorted(state.cache.points(), key=lambda p: p.record.name):
        r = p.record
        traffic = [TrafficArm(arm=API_ARM[a.arm], version=a.version, percent=a.percent,
                              loaded=a.policy is not None or a.version is None, error=a.error) for a in p.arms]
        out.append(DecisionPointOut(name=r.name, kind=r.kind, n_actions=p.n_actions, action_space=r.action_space,
                                    baseline_action=r.baseline_action, reward_window_s=r.reward_window_s,
                                    default_reward=r.default_reward, killed=r.killed, traffic=traffic))
    return out


@router.get("/healthz", summary="Liveness and freshness")
async def healthz(state=Depends(service)) -> JSONResponse:
    """200 while the server can read the registry (its serving table is fresh); 503 otherwise."""
    age = None if state.cache.last_ok is None else time.monotonic() - state.cache.last_ok
    ok = age is not None and age < STALE_AFTER_S
    body = {"status": "ok" if ok else "stale", "registry_change_id": state.cache.change_id,
            "seconds_since_refresh": None if age is None else round(age, 3), "last_error": state.cache.last_error,
            "decision_points": len(state.cache.points()),
            "policies_loaded": sum(a.policy is not None for p in state.cache.points() for a in p.arms)}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics of this process")
async def metrics(state=Depends(service)) -> Response:
    return Response(state.metrics.render(), media_type=state.metrics.content_type)
