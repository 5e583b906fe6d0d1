"""POST /v1/deliveries (the signed upload webhook) and GET /v1/deliveries/{id}."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from starlette.requests import ClientDisconnect

from integrity.api.auth import Principal
from integrity.api.deps import DeliveryReader, DeliveryWriter, settings_of, unit_of_work
from integrity.api.schemas import (
    AUTH_ERRORS,
    BODY_ERRORS,
    READ_ERRORS,
    DeliveryAccepted,
    DeliveryId,
    DeliveryStatus,
    errors,
)
from integrity.catalog import storage
from integrity.service import intake, security, steps
from integrity.service.errors import ServiceError
from integrity.service.queues import INGEST_DELIVERY_TASK as INGEST_TASK

logger = logging.getLogger(__name__)

router = APIRouter(tags=["deliveries"])


def _accept(
    request: Request,
    principal: Principal,
    spool: intake.BodySpool,
    webhook_id: str,
    signature: str,
) -> intake.AcceptedDelivery:
    """Store and register in one transaction; a lost race on a unique key answers the winner."""
    assert principal.sender is not None
    settings = settings_of(request)
    accepted: intake.AcceptedDelivery | None = None
    try:
        with unit_of_work(request) as session:
            accepted = intake.accept_delivery(
                session,
                settings=settings,
                sender=principal.sender,
                actor=principal.name,
                webhook_id=webhook_id,
                spool=spool,
                signature=signature,
                content_type=request.headers.get("content-type"),
            )
        return accepted
    except IntegrityError:
        # The commit lost a race after the files were stored: remove this call's copy, local
        # folder or objects, so that the store holds nothing the database does not point at.
        if accepted is not None and accepted.location is not None:
            storage.store_for(settings).discard(accepted.location)
        elif accepted is not None and accepted.directory is not None:
            shutil.rmtree(accepted.directory, ignore_errors=True)
        with unit_of_work(request) as session:
            replay = intake.find_replay(session, sender=principal.sender, webhook_id=webhook_id)
        if replay is None:
            raise ServiceError(409, "message", "a concurrent upload of the same message") from None
        return replay


UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {"type": "string", "format": "binary"},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            }
        },
    },
    "parameters": [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ],
}


@router.post(
    "/v1/deliveries",
    status_code=202,
    openapi_extra=UPLOAD_OPENAPI,
    response_model=DeliveryAccepted,
    responses=errors(*AUTH_ERRORS, *BODY_ERRORS, 409, 415, 503),
)
async def post_delivery(request: Request, principal: DeliveryWriter) -> DeliveryAccepted:
    """The upload webhook: multipart `message` (ERN) + `files`, signed per Standard Webhooks."""
    state = request.app.state
    settings = settings_of(request)
    try:
        if principal.sender is None:
            raise ServiceError(403, "authorization", "this uploader key names no sender")
        intake.check_content_length(
            request.headers.get("content-length"), max_bytes=settings.webhook_max_body_bytes
        )
        try:
            timestamp = security.check_webhook_headers(
                webhook_id=request.headers.get("webhook-id"),
                timestamp=request.headers.get("webhook-timestamp"),
                signature=request.headers.get("webhook-signature"),
                now=time.time(),
                tolerance_s=settings.webhook_tolerance_s,
            )
        except security.SignatureError as exc:
            raise ServiceError(401, str(exc).split(" ")[0], str(exc)) from exc
        webhook_id = request.headers["webhook-id"]
        signature = request.headers["webhook-signature"]
        sender_id = principal.sender.id

        def load_secrets() -> list[str]:
            with unit_of_work(request) as session:
                return intake.live_secrets(session, sender_id=sender_id)

        secrets_ = await run_in_threadpool(load_secrets)
        if not secrets_:
            raise ServiceError(403, "sender", "no live webhook secret for this sender")
        spool = intake.BodySpool.open(
            settings=settings, secrets_=secrets_, webhook_id=webhook_id, timestamp=timestamp
        )
        try:
            try:
                async for chunk in request.stream():  # RequestBodyGuard bounds each wait
                    spool.feed(chunk)
            except ClientDisconnect:
                closed = "the connection closed before the body ended"
                raise ServiceError(400, "body", closed) from None
            spool.close()
            accepted = await run_in_threadpool(
                _accept, request, principal, spool, webhook_id, signature
            )
        finally:
            spool.discard()
    except ServiceError as exc:
        state.metrics.webhooks.labels(str(exc.status)).inc()
        raise
    if accepted.created:
        try:
            await asyncio.to_thread(
                state.tasks.send, INGEST_TASK, accepted.delivery_id, stage="ingest"
            )
        except Exception:  # the delivery is committed; the sweep re-sends lost ingest tasks
            state.metrics.enqueue_failures.inc()
            logger.exception("ingest task not sent", extra={"delivery_id": accepted.delivery_id})
    state.metrics.webhooks.labels("accepted" if accepted.created else "duplicate").inc()
    return DeliveryAccepted(delivery_id=accepted.delivery_id, duplicate=not accepted.created)


@router.get(
    "/v1/deliveries/{delivery_id}", response_model=DeliveryStatus, responses=errors(*READ_ERRORS)
)
def get_delivery(
    delivery_id: DeliveryId, request: Request, principal: DeliveryReader
) -> dict[str, Any]:
    """Status of a delivery and of each of its tracks (uploaders see only their own)."""
    own_only = principal.sender if principal.role == security.ROLE_UPLOADER else None
    with unit_of_work(request) as session:
        return steps.delivery_status(session, delivery_id=delivery_id, sender=own_only)
