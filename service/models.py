"""Request and response bodies of the decision API (pydantic): field-level validation and size limits.

A bad field gets a 422 whose ``detail`` lists each problem with its location (``["body", "context", 3]``) and
what was expected. Sizes are capped here (and the whole body by ``Settings.max_body_bytes``).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, WithJsonSchema

MAX_ACTIONS = 1_000
MAX_SLOTS = 16
MAX_FEATURES = 512
MAX_STRING = 256
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]

_NUMBER_SCHEMA = {"type": "number"}
_FEATURE_SCHEMA = {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": MAX_STRING}]}
_FEATURES_SCHEMA = {"type": "array", "items": _FEATURE_SCHEMA, "maxItems": MAX_FEATURES}
_CONTEXT_SCHEMA = {"anyOf": [_FEATURES_SCHEMA, {"type": "object", "additionalProperties": _FEATURE_SCHEMA,
                                                "maxProperties": MAX_FEATURES}]}


def _finite_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, found {type(value).__name__}")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:  # an integer beyond the float range
        finite = False
    if not finite:
        raise ValueError(f"expected a finite number, found {str(value)[:40]}")
    return value


def _text(value: str, where: str) -> str:
    if len(value) > MAX_STRING:
        raise ValueError(f"{where}: expected a string of at most {MAX_STRING} characters, found {len(value)}")
    if "\x00" in value:  # JSON columns (PostgreSQL jsonb) cannot hold NUL characters
        raise ValueError(f"{where}: expected a string without NUL characters")
    return value


def _feature(value: object, where: str) -> float | str:
    if isinstance(value, str):
        return _text(value, where)
    try:
        return _finite_number(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc} (a feature is a finite number or a string)") from None


def _features(value: object) -> list:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of features, found {type(value).__name__}")
    if len(value) > MAX_FEATURES:
        raise ValueError(f"expected at most {MAX_FEATURES} features, found {len(value)}")
    return [_feature(v, f"[{i}]") for i, v in enumerate(value)]


def _context(value: object) -> list | dict:
    if isinstance(value, dict):
        if len(value) > MAX_FEATURES:
            raise ValueError(f"expected at most {MAX_FEATURES} features, found {len(value)}")
        for k in value:
            if not isinstance(k, str) or not k:
                raise ValueError(f"feature names: expected 1-{MAX_STRING} characters, found {k!r}")
            _text(k, "feature names")
        return {k: _feature(v, f"[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return _features(value)
    raise ValueError(f"expected a list of features or an object of named features, found {type(value).__name__}")


FiniteNumber = Annotated[float, PlainValidator(_finite_number), WithJsonSchema(_NUMBER_SCHEMA)]
Features = Annotated[list, PlainValidator(_features), WithJsonSchema(_FEATURES_SCHEMA)]
Context = Annotated[list | dict, PlainValidator(_context), WithJsonSchema(_CONTEXT_SCHEMA)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CandidateAction(_Strict):
    """One action the caller may show: its id in the decision point's action space, optionally its features."""

    id: Annotated[int, Field(ge=0, lt=1_000_000, description="action id, 0 <= id < n_actions")]
    features: Features | None = Field(None, description="item features (numbers or strings); replace the "
                                                        "action's stored features for this decision")


class DecisionRequest(_Strict):
    """Ask for a decision: which action(s) to show in this context."""

    decision_point: Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
    context: Context = Field(
        description="context features: a list (in the policy's feature order) or an object by feature name")
    actions: Annotated[list[CandidateAction], Field(min_length=1, max_length=MAX_ACTIONS)] | None = Field(
        None, description="eligible actions (distinct ids); default: the whole action space")
    event_id: EventId | None = Field(None, description="your id for this decision (default: a new UUID); "
                                                       "sampling is seeded by it, so a decision can be replayed")
    unit_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00]+$")] | None = Field(
        None, description="e.g. a shopper id: the same unit always gets the same traffic arm")
    slots: Annotated[int, Field(ge=1, le=MAX_SLOTS)] = Field(1, description="how many slots to fill")
    deferred: bool = Field(False, description="computed now, maybe shown later: rewards are accepted only after "
                                              "POST /v1/decisions/{event_id}/activate")


class ActionProbability(BaseModel):
    action: int
    probability: float


class SlotDecision(BaseModel):
    """The action chosen for one slot, with the full distribution it was drawn from."""

    slot: int
    action: int
    probability: float
    distribution: list[ActionProbability]


class DecisionResponse(BaseModel):
    event_id: str
    decision_point: str
    arm: Literal["champion", "canary", "baseline"] = Field(description="who answered")
    version: str | None = Field(description="the policy version that decided (none for the baseline)")
    fallback: bool = Field(description="the policy failed and the baseline action was served instead")
    fallback_reason: str | None = None
    deferred: bool
    actions: list[int] = Field(description="the chosen action of each slot")
    slots: list[SlotDecision]


class RewardRequest(_Strict):
    """The reward of a decision (one per decision; repeating the same reward is harmless)."""

    event_id: EventId
    value: FiniteNumber
    slot: Annotated[int, Field(ge=0, lt=MAX_SLOTS)] | None = Field(None, description="the slot it is for")


class RewardResponse(BaseModel):
    event_id: str
    status: Literal["stored", "duplicate"] = Field(description="stored now, or the same reward was stored before")


class ActivationResponse(BaseModel):
    event_id: str
    status: Literal["activated", "already_active"]


class TrafficArm(BaseModel):
    arm: Literal["champion", "canary", "baseline"]
    version: str | None
    percent: float
    loaded: bool = Field(description="this server has the version loaded (else it serves the baseline)")
    error: str | None = None


class DecisionPointOut(BaseModel):
    name: str
    kind: str
    n_actions: int | None
    action_space: object
    baseline_action: object
    reward_window_s: float
    default_reward: float
    killed: bool
    traffic: list[TrafficArm]


class ErrorBody(BaseModel):
    detail: str


WRITE_ERRORS = {code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 503)}
"""The error answers of the write endpoints (decisions, activations, rewards), for their OpenAPI ``responses``."""
