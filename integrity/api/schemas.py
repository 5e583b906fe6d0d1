"""The typed edge of the API: request and response models, parameter types and error bodies.

Every route declares its response model and every error status it can answer, with examples,
so the OpenAPI document is a contract a client (and schemathesis in CI) can check. Parameter
types carry the limits of what the database can store: ids are PostgreSQL `integer` columns
(an id of 2^31 or more cannot exist), and text never holds a NUL character (PostgreSQL refuses
it), so such input is a 422 naming the field instead of a driver error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from integrity.catalog.report import DeliveryHeader, FindingReport, TrackVerdict
from integrity.catalog.states import AppealState, RescanState
from integrity.db.models import MAX_ID, SHORT_TEXT
from integrity.service import filtering, rescans, review
from integrity.service.review import QueueItem

NUL_FREE_PATTERN = "^[^\\x00]*$"  # documented in the OpenAPI; enforced by `refuse_nul`
NUL_MESSAGE = "must not contain NUL (0x00) characters"


def refuse_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it at the edge with the field's name."""
    if "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    return value


NUL_FREE = {"pattern": NUL_FREE_PATTERN}
Text = Annotated[str, AfterValidator(refuse_nul), Field(json_schema_extra=NUL_FREE)]
ShortText = Annotated[
    str, AfterValidator(refuse_nul), Field(max_length=SHORT_TEXT, json_schema_extra=NUL_FREE)
]

# Path and query parameters.
TrackId = Annotated[int, Path(ge=1, le=MAX_ID, description="a track id")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="a delivery id")]
RescanId = Annotated[int, Path(ge=1, le=MAX_ID, description="a rescan id")]
ModelName = Annotated[
    str,
    AfterValidator(refuse_nul),
    Path(max_length=SHORT_TEXT, description="a model name", json_schema_extra=NUL_FREE),
]
ModelVersion = Annotated[
    str,
    AfterValidator(refuse_nul),
    Path(max_length=SHORT_TEXT, description="a model version", json_schema_extra=NUL_FREE),
]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
OptionalTextQuery = Annotated[
    str | None,
    AfterValidator(lambda value: refuse_nul(value) if value is not None else None),
    Query(max_length=SHORT_TEXT, json_schema_extra=NUL_FREE),
]
PageLimit = Annotated[int, Query(ge=1, le=review.MAX_PAGE)]
AfterIdQuery = Annotated[int, Query(ge=0, le=MAX_ID, description="the last event id seen")]
RiskQuery = Annotated[float, Query(ge=0.0, le=1.0)]


# ---------------------------------------------------------------------------------------------
# Errors: every refusal has the same body, naming the field that is wrong.


class FieldError(BaseModel):
    """One validation problem, located as pydantic reports it."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """A refused request: what is wrong (`detail`) and which field (`field`, when one is)."""

    detail: str
    field: str | None
    errors: list[FieldError] | None = Field(
        default=None, description="every problem, for a request that failed validation"
    )


ERROR_EXAMPLES: dict[int, tuple[str, str | None, str]] = {
    400: ("malformed request", "body", "malformed multipart body: no closing boundary"),
    401: ("missing, unknown or revoked API key", "authorization", "unknown or revoked API key"),
    403: ("the key's role does not grant this", "authorization", "role 'service' may not review"),
    404: ("no such resource, or not the caller's", "track_id", "track 7 does not exist"),
    408: ("the request body stalled", "body", "no body data for 30 s"),
    409: ("conflicts with the current state", "track_id", "claimed by moderator-1"),
    413: ("too large", "body", "larger than the 268435456-byte limit"),
    415: ("unsupported content type", "content-type", "expected multipart/form-data"),
    422: ("a field is invalid", "limit", "limit: Input should be less than or equal to 500"),
    429: ("rate limited: retry after the Retry-After header", None, "rate limit exceeded"),
    503: ("a backing service is unavailable", "storage", "the delivery store is unavailable"),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for these error statuses: the error body, a description and an example."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, field, detail = ERROR_EXAMPLES[status]
        documented[status] = {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"example": {"detail": detail, "field": field}}},
        }
    return documented


AUTH_ERRORS = (401, 403, 429)
READ_ERRORS = (*AUTH_ERRORS, 404, 422)
BODY_ERRORS = (400, 408, 413, 422)


# ---------------------------------------------------------------------------------------------
# Health.


class Health(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Each dependency's state: "ok", or why not."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ready": True, "checks": {"database": "ok", "redis": "ok"}}]
        }
    )

    ready: bool
    checks: dict[str, str]


# ---------------------------------------------------------------------------------------------
# Deliveries.


class DeliveryAccepted(BaseModel):
    """The webhook's answer: the delivery id, and whether an earlier call already created it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"delivery_id": 12, "duplicate": False}]}
    )

    delivery_id: int
    duplicate: bool


class DeliveryTrack(TrackVerdict):
    """A track of the delivery: its state and effective decision (the moderator's when any)."""

    id: int = Field(description="the track id (same as track_id)")


class DeliveryStatus(DeliveryHeader):
    """The delivery header shared with `integrity scan --json`, and each track's verdict."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "delivery_id": 12,
                    "id": 12,
                    "source": "webhook:acme-distribution",
                    "status": "completed",
                    "error": None,
                    "ern_version": "4.3",
                    "message_type": "NewReleaseMessage",
                    "message_id": "MSG-1",
                    "control_type": "LiveMessage",
                    "sender": {"dpid": "PADPIDA2014120301X", "name": "Acme"},
                    "received_at": "2026-12-02T03:00:00+00:00",
                    "tracks": [
                        {
                            "track_id": 40,
                            "id": 40,
                            "isrc": "QZTST2600001",
                            "state": "scored",
                            "decision": "clear",
                            "reasons": [],
                        }
                    ],
                }
            ]
        }
    )

    id: int = Field(description="the delivery id (same as delivery_id)")
    received_at: datetime
    tracks: list[DeliveryTrack]


# ---------------------------------------------------------------------------------------------
# Tracks, review, appeals, audit.


class AuditEventOut(BaseModel):
    """One append-only audit event."""

    id: int
    at: datetime
    actor: str | None = None
    role: str
    action: str
    reason: str | None = None
    note: str | None = None
    track_id: int | None = None
    delivery_id: int | None = None
    before: str | None = None
    after: str | None = None
    model_versions: dict[str, Any] = Field(default_factory=dict)
    evidence: dict[str, Any] = Field(default_factory=dict)


class Moderation(BaseModel):
    """The human decision on a track."""

    decision: str
    action: str
    reason: str
    actor: str | None = None
    decided_at: datetime


class TrackDetail(BaseModel):
    """One track in full: decision, reasons, duplicate evidence, findings and history."""

    id: int
    isrc: str | None
    title: str | None
    display_artist: str | None
    delivery_id: int
    state: str
    decision: str | None
    automatic_decision: str | None
    moderation: Moderation | None = None
    risk: float
    reasons: list[str]
    duplicates: list[dict[str, Any]]
    findings: list[FindingReport]
    history: list[AuditEventOut]


class ReviewQueue(BaseModel):
    """Tracks awaiting a decision, riskiest and escalated or appealed first."""

    items: list[QueueItem]


class DecisionBody(BaseModel):
    """A moderator's decision."""

    action: Literal["approve", "remove", "filter", "escalate"]
    reason: Annotated[
        ShortText,
        Field(min_length=1, description="a reason code, e.g. ai_generated, spam, duplicate, ok"),
    ]
    note: Annotated[Text, Field(max_length=review.MAX_NOTE_CHARS)] | None = None


class AppealBody(BaseModel):
    """A distributor's appeal."""

    reason: Annotated[ShortText, Field(min_length=1)]
    note: Annotated[Text, Field(max_length=review.MAX_NOTE_CHARS)] | None = None


class ClaimOut(BaseModel):
    """A live claim on a track."""

    track_id: int
    moderator: str
    expires_at: datetime


class DecisionOut(BaseModel):
    """The decision now in force on a track."""

    track_id: int
    decision: str
    action: str
    reason: str


class AppealFiled(BaseModel):
    """The open appeal (an existing open one is answered again)."""

    appeal_id: int
    track_id: int
    status: AppealState


class AppealOut(BaseModel):
    """One appeal."""

    id: int
    track_id: int
    reason: str
    note: str | None
    status: AppealState
    created_at: datetime
    resolved_by: str | None


class AppealList(BaseModel):
    """Appeals, newest first."""

    appeals: list[AppealOut]


class AuditPage(BaseModel):
    """Audit events in order; the next page starts after the last id."""

    events: list[AuditEventOut]


# ---------------------------------------------------------------------------------------------
# Filter.



def _filter_item(value: Any) -> int | str:
    """An id or an ISRC as sent (range and ISRC checks are per item, in `filtering`)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("a track id (integer) or an ISRC (string)")
    return value


FilterItem = Annotated[
    int | str,
    PlainValidator(_filter_item),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}]}),
]


class FilterBody(BaseModel):
    """Track ids (integers) or ISRCs (strings), and the surface asking."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"tracks": [40, "QZTST2600001"], "surface": "recommendation"}]
        }
    )

    tracks: list[FilterItem] = Field(
        min_length=1,
        max_length=filtering.MAX_TRACKS_PER_REQUEST,
        description="ids outside 1..2^31-1 and unreadable ISRCs get a per-item error",
    )
    surface: Literal[filtering.SURFACES]  # type: ignore[valid-type]  # one list of surfaces


class FilterResult(BaseModel):
    """Whether the surface may show this track, and why."""

    track: FilterItem
    keep: bool
    decision: str | None
    reasons: list[str]
    track_ids: list[int]
    error: str | None = Field(
        default=None, description="for an item that cannot name a track: the field and why"
    )


class FilterAnswer(BaseModel):
    """One result per requested item, in the order asked."""

    surface: str
    results: list[FilterResult]


# ---------------------------------------------------------------------------------------------
# Rescans and models.

SCOPE_DESCRIPTION = """Which tracks to re-score (analysed or scored ones only):
`{"kind": "all"}`; `{"kind": "since", "value": "YYYY-MM-DD"}` (updated since that day);
`{"kind": "sender", "value": NAME_OR_DPID}`; `{"kind": "pipeline_version", "value": V}`
(processed by another pipeline version); `{"kind": "model_version", "value": MODEL}` with
MODEL `synthetic`, `spam` or `*` (the default: any model): tracks whose recorded version of
that model differs from the active one (or is missing). Start the last one after
`POST /v1/models/{name}/versions/{version}/activate`. Errors name `scope.kind` or
`scope.value`."""


class RescanScope(BaseModel):
    """Which tracks a rescan re-scores (the value's meaning depends on the kind)."""

    kind: Literal[rescans.SCOPE_KINDS]  # type: ignore[valid-type]  # one list of kinds
    value: ShortText | None = None


class RescanBody(BaseModel):
    """The scope of a rescan (see the field's description for every kind)."""

    scope: RescanScope = Field(
        description=SCOPE_DESCRIPTION,
        examples=[{"kind": "model_version", "value": "synthetic"}, {"kind": "all"}],
    )


class RescanOut(BaseModel):
    """A rescan's progress."""

    id: int
    scope: dict[str, Any]
    status: RescanState
    total: int
    done: int
    failed: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class ModelEntry(BaseModel):
    """One NAME/VERSION of the model registry."""

    name: str
    version: str
    active: bool
    has_card: bool


class ModelRegistry(BaseModel):
    """Every model version in the registry and which one is active."""

    models: list[ModelEntry]


class ModelActivated(BaseModel):
    """The version now active for a model."""

    name: str
    version: str
    activated_by: str

