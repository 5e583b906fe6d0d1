"""Console pages: sign-in, queue, track evidence, decisions, undo, appeals, history, models.

Safety: a session cookie (HttpOnly, SameSite=Strict, expiring; Secure over HTTPS) names a row
of `console_sessions`; every POST carries that session's CSRF token (sign-in: a double-submit
cookie); the pages send a Content-Security-Policy that allows only this server's own script,
styles, images and media, so an injected `<script>` or inline handler never runs.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrity.api.auth import Principal, lookup_principal, principal_of
from integrity.api.deps import settings_of, unit_of_work
from integrity.console import service as console_service
from integrity.db.models import Track, utc_now
from integrity.service import activation, audit, moderation, review, security
from integrity.service.errors import ServiceError

HERE = Path(__file__).parent
PREFIX = "/console"
SESSION_COOKIE = "integrity_console"
LOGIN_COOKIE = "integrity_console_login"  # double-submit CSRF token of the sign-in form
LOGIN_COOKIE_TTL_S = 900
CSRF_HEADER = "x-csrf-token"
QUEUE_PAGE_SIZE = 50
HOUR_S = 3600.0
MS_PER_S = 1000.0
AGE_CHOICES_H = (0, 1, 24, 168)  # "waiting at least" filter choices, in hours
REASON_CODES = (  # the decision form's reason codes (free text is in the note)
    "duplicate",
    "spam",
    "ai_generated",
    "ai_undisclosed",
    "metadata",
    "ok",
    "needs_second_opinion",
    "other",
)
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
NOTICES = {  # fixed texts only: a query parameter never puts words on the page
    "decided": "Decision recorded.",
    "bulk": "Bulk decision recorded.",
    "undone": "Undone: the previous decision is back.",
    "activated": "Model version activated.",
    "signed_out": "Signed out.",
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
templates = Jinja2Templates(env=_environment)


class NotSignedIn(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """No live console session: pages redirect to sign-in, other requests get 401."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    principal: Principal
    token: str
    csrf_token: str
    expires_at: datetime


class SecurityHeaders:
    """Adds the console's CSP and hardening headers to every /console response (plain ASGI,
    so the API's hot paths pay nothing)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


async def console_user(request: Request) -> ConsoleUser:
    """The signed-in moderator (NotSignedIn otherwise), rate limited like their API key."""
    token = request.cookies.get(SESSION_COOKIE, "")
    state = request.app.state

    def lookup() -> ConsoleUser | None:
        with unit_of_work(request) as session:
            found = console_service.live_session(session, token=token)
            if found is None:
                return None
            row, key = found
            principal = principal_of(session, key)
            return ConsoleUser(
                principal=principal,
                token=token,
                csrf_token=row.csrf_token,
                expires_at=audit.aware(row.expires_at),
            )

    user = await run_in_threadpool(lookup) if token else None
    if user is None or security.SCOPE_REVIEW not in user.principal.scopes:
        raise NotSignedIn
    wait_s = await state.rate_limiter.check(user.principal.key_id, user.principal.rate_per_minute)
    if wait_s > 0:
        raise ServiceError(429, "rate_limit", "rate limit exceeded for this API key")
    return user


SIGNED_IN = Depends(console_user)


def check_csrf(request: Request, user: ConsoleUser, submitted: str) -> None:
    """The form's (or the X-CSRF-Token header's) token must be this session's."""
    offered = submitted or request.headers.get(CSRF_HEADER, "")
    if not offered or not hmac.compare_digest(offered, user.csrf_token):
        raise ServiceError(403, "csrf", "the form's CSRF token is missing or not this session's")


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: ConsoleUser | None,
    status_code: int = 200,
    started: tuple[float, float] | None = None,
) -> HTMLResponse:
    """A page, with the signed-in user's counts and undo state in its header; `started`
    (perf_counter, thread_time at the handler's start) adds a Server-Timing header."""
    base: dict[str, Any] = {
        "user": user,
        "prefix": PREFIX,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "counts": None,
        "undo": None,
        "is_admin": bool(user and security.SCOPE_MODELS_ADMIN in user.principal.scopes),
        "fmt_age": fmt_age,
        "reason_words": moderation.REASON_FAMILY_WORDS,
    }
    if user is not None:
        settings = settings_of(request)
        with unit_of_work(request) as session:
            base["counts"] = moderation.review_counts(session)
            undoable = moderation.last_undoable(
                session,
                actor=user.principal.name,
                window_s=settings.console_undo_window_s,
            )
            if undoable:
                left = (
                    settings.console_undo_window_s
                    - (utc_now() - audit.aware(undoable[-1].at)).total_seconds()
                )
                base["undo"] = {
                    "count": len(undoable),
                    "what": moderation.conflict_message(undoable[0]),
                    "track_id": undoable[0].track_id,
                    "seconds_left": max(0, int(left)),
                }
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    response.headers["cache-control"] = "no-store"
    if started is not None:
        wall_ms = (time.perf_counter() - started[0]) * MS_PER_S
        cpu_ms = (time.thread_time() - started[1]) * MS_PER_S
        response.headers["server-timing"] = f"app;dur={wall_ms:.2f}, cpu;dur={cpu_ms:.2f}"
    return response


def fmt_age(seconds: float | None) -> str:
    """'3 d 4 h', '2 h 5 min', '40 s': how long something has waited."""
    if seconds is None:
        return "–"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def parse_filter(params: Any) -> moderation.QueueFilter:
    """The queue filter from query or form fields; a bad value names its field (422)."""
    reason_raw = (params.get("reason") or "").strip()
    sort_raw = (params.get("sort") or moderation.QueueSort.PRIORITY.value).strip()
    try:
        reason = moderation.ReasonFamily(reason_raw) if reason_raw else None
    except ValueError:
        raise ServiceError(
            422, "reason", f"one of {[f.value for f in moderation.ReasonFamily]}"
        ) from None
    try:
        sort = moderation.QueueSort(sort_raw)
    except ValueError:
        raise ServiceError(
            422, "sort", f"one of {[s.value for s in moderation.QueueSort]}"
        ) from None
    min_risk = _number(params.get("min_risk"), "min_risk", low=0.0, high=1.0)
    min_age_h = _number(params.get("min_age_h"), "min_age_h", low=0.0, high=24.0 * 365)
    delivery_raw = (params.get("delivery") or "").strip()
    if delivery_raw and not delivery_raw.isdigit():
        raise ServiceError(422, "delivery", "a delivery id (digits)")
    return moderation.QueueFilter(
        reason=reason,
        sender=(params.get("sender") or "").strip() or None,
        delivery_id=int(delivery_raw) if delivery_raw else None,
        min_risk=min_risk,
        min_age_s=min_age_h * HOUR_S,
        sort=sort,
    )


def _number(raw: Any, field: str, *, low: float, high: float) -> float:
    text = (raw or "").strip() if isinstance(raw, str) else ""
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ServiceError(422, field, f"a number from {low:g} to {high:g}") from None
    if not low <= value <= high:
        raise ServiceError(422, field, f"a number from {low:g} to {high:g}")
    return value


def filter_query(queue_filter: moderation.QueueFilter) -> dict[str, str]:
    """The filter as query fields (to carry it from the queue to a track and back)."""
    fields = {
        "reason": queue_filter.reason.value if queue_filter.reason else "",
        "sender": queue_filter.sender or "",
        "delivery": str(queue_filter.delivery_id) if queue_filter.delivery_id is not None else "",
        "min_risk": f"{queue_filter.min_risk:g}" if queue_filter.min_risk else "",
        "min_age_h": f"{queue_filter.min_age_s / HOUR_S:g}" if queue_filter.min_age_s else "",
        "sort": queue_filter.sort.value
        if queue_filter.sort != moderation.QueueSort.PRIORITY
        else "",
    }
    return {key: value for key, value in fields.items() if value}


def error_page(request: Request, exc: ServiceError, user: ConsoleUser | None) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"status": exc.status, "field": exc.field, "message": exc.message},
        user=user,
        status_code=exc.status,
    )


def _safe_next(raw: str | None) -> str:
    """Only console paths: an open redirect would be a phishing aid."""
    if raw and raw.startswith(PREFIX + "/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return f"{PREFIX}/queue"


# --- sign-in ----------------------------------------------------------------------------------


@router.get("")
def root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/queue", status_code=303)


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    """The sign-in form; sets the double-submit token it posts back."""
    login_token = secrets.token_urlsafe(console_service.CSRF_TOKEN_BYTES)
    response = render(
        request,
        "login.html",
        {
            "login_csrf": login_token,
            "next": _safe_next(request.query_params.get("next")),
            "error": None,
        },
        user=None,
    )
    _set_cookie(request, response, LOGIN_COOKIE, login_token, max_age=LOGIN_COOKIE_TTL_S)
    return response


def _set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/login")
def login(
    request: Request,
    api_key: str = Form(""),
    csrf: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Exchange an API key for a console session (moderator and admin roles only)."""
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    target = _safe_next(next)

    def refuse(status: int, message: str) -> HTMLResponse:
        fresh = secrets.token_urlsafe(console_service.CSRF_TOKEN_BYTES)
        response = render(
            request,
            "login.html",
            {"login_csrf": fresh, "next": target, "error": message},
            user=None,
            status_code=status,
        )
        _set_cookie(request, response, LOGIN_COOKIE, fresh, max_age=LOGIN_COOKIE_TTL_S)
        return response

    if not csrf or not cookie or not hmac.compare_digest(csrf, cookie):
        return refuse(403, "The sign-in form expired or was not this browser's: try again.")
    key = api_key.strip()
    if not key:
        return refuse(422, "Enter your API key.")
    settings = settings_of(request)
    with unit_of_work(request) as session:
        principal = lookup_principal(session, key=key)
        if principal is None:
            return refuse(401, "Unknown or revoked API key.")
        if security.SCOPE_REVIEW not in principal.scopes:
            return refuse(
                403, f"A {principal.role} key cannot open the console (moderator or admin only)."
            )
        made = console_service.create_session(
            session, api_key_id=principal.key_id, ttl_s=settings.console_session_ttl_s
        )
        audit.record_event(
            session, actor=principal.name, role=principal.role, action="console.sign_in"
        )
    response = RedirectResponse(target, status_code=303)
    _set_cookie(
        request, response, SESSION_COOKIE, made.token, max_age=settings.console_session_ttl_s
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(
    request: Request,
    user: ConsoleUser = SIGNED_IN,
    csrf: str = Form(""),
) -> Response:
    """End the session server-side and drop the cookie."""
    try:
        check_csrf(request, user, csrf)
    except ServiceError as exc:
        return error_page(request, exc, user)
    with unit_of_work(request) as session:
        console_service.end_session(session, token=user.token)
        audit.record_event(
            session, actor=user.principal.name, role=user.principal.role, action="console.sign_out"
        )
    response = RedirectResponse(f"{PREFIX}/login?notice=signed_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# --- queue ------------------------------------------------------------------------------------


@router.get("/queue")
def queue(request: Request, user: ConsoleUser = SIGNED_IN) -> HTMLResponse:
    """The review queue, filtered and sorted, one page of it."""
    started = (time.perf_counter(), time.thread_time())
    try:
        queue_filter = parse_filter(request.query_params)
        offset = int(_number(request.query_params.get("offset"), "offset", low=0, high=10**9))
    except ServiceError as exc:
        return error_page(request, exc, user)
    with unit_of_work(request) as session:
        page = moderation.queue_page(
            session, queue_filter=queue_filter, offset=offset, limit=QUEUE_PAGE_SIZE
        )
        senders = moderation.senders_in_queue(session)
    now = utc_now()
    query = filter_query(queue_filter)
    return render(
        request,
        "queue.html",
        {
            "page": page,
            "rows": [
                {
                    "row": row,
                    "family": moderation.family_of(row.top_code) if row.top_code else None,
                    "waiting": fmt_age((now - row.waiting_since).total_seconds()),
                    "href": f"{PREFIX}/tracks/{row.track_id}?{urlencode(query)}",
                }
                for row in page.rows
            ],
            "filter": queue_filter,
            "query": query,
            "senders": senders,
            "families": list(moderation.ReasonFamily),
            "sorts": list(moderation.QueueSort),
            "ages": AGE_CHOICES_H,
            "offset": offset,
            "page_size": QUEUE_PAGE_SIZE,
            "next_href": _page_href(query, offset + QUEUE_PAGE_SIZE)
            if offset + QUEUE_PAGE_SIZE < page.total
            else None,
            "prev_href": _page_href(query, max(0, offset - QUEUE_PAGE_SIZE))
            if offset > 0
            else None,
            "actions": list(review.ACTION_DECISIONS),
            "reason_codes": REASON_CODES,
        },
        user=user,
        started=started,
    )


def _page_href(query: dict[str, str], offset: int) -> str:
    return f"{PREFIX}/queue?{urlencode({**query, 'offset': offset})}"


@router.post("/bulk")
async def bulk(request: Request, user: ConsoleUser = SIGNED_IN) -> Response:
    """One decision on the selected tracks, or on every track the filter matches."""
    form = await request.form()
    return await run_in_threadpool(_bulk, request, user, form)


def _bulk(request: Request, user: ConsoleUser, form: Any) -> Response:
    try:
        check_csrf(request, user, str(form.get("csrf", "")))
        queue_filter = parse_filter(form)
        scope = str(form.get("scope", "selected"))
        with unit_of_work(request) as session:
            if scope == "matching":
                track_ids = moderation.queue_track_ids(session, queue_filter=queue_filter)
            elif scope == "selected":
                raw = [str(value) for value in form.getlist("track_ids")]
                if not all(value.isdigit() for value in raw):
                    raise ServiceError(422, "track_ids", "track ids are digits")
                track_ids = [int(value) for value in raw]
            else:
                raise ServiceError(422, "scope", "'selected' or 'matching'")
            result = moderation.decide_many(
                session,
                track_ids=track_ids,
                action=str(form.get("action", "")),
                reason=str(form.get("reason", "")),
                note=str(form.get("note", "")).strip() or None,
                actor=user.principal.name,
                role=user.principal.role,
            )
    except ServiceError as exc:
        return error_page(request, exc, user)
    if result.skipped:
        return render(
            request,
            "bulk_result.html",
            {"result": result, "back": f"{PREFIX}/queue?{urlencode(filter_query(queue_filter))}"},
            user=user,
            status_code=200 if result.decided else 409,
        )
    query = {**filter_query(queue_filter), "notice": "bulk"}
    return RedirectResponse(f"{PREFIX}/queue?{urlencode(query)}", status_code=303)


# --- one track --------------------------------------------------------------------------------


@router.get("/tracks/{track_id}")
def track_page(
    track_id: int,
    request: Request,
    user: ConsoleUser = SIGNED_IN,
) -> HTMLResponse:
    """The evidence and the decision form; opening a queued track claims it."""
    return _track_page(request, user, track_id, conflict=None)


def _track_page(
    request: Request,
    user: ConsoleUser,
    track_id: int,
    *,
    conflict: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    settings = settings_of(request)
    try:
        queue_filter = parse_filter(request.query_params)
    except ServiceError:
        queue_filter = moderation.QueueFilter()
    claim_note = None
    try:
        with unit_of_work(request) as session:
            evidence = console_service.track_evidence(
                session, track_id=track_id, models_dir=settings.models_dir
            )
            queued = evidence["decision"] in review.QUEUED_DECISIONS or any(
                appeal["status"] == review.APPEAL_OPEN for appeal in evidence["appeals"]
            )
            before, after = moderation.queue_neighbours(
                session, track_id=track_id, queue_filter=queue_filter
            )
    except ServiceError as exc:
        return error_page(request, exc, user)
    if queued:
        try:
            with unit_of_work(request) as session:
                review.claim_track(
                    session,
                    track_id=track_id,
                    moderator=user.principal.name,
                    role=user.principal.role,
                    ttl_s=settings.review_claim_ttl_s,
                )
        except ServiceError as exc:
            claim_note = exc.message if exc.status == 409 else None
    query = filter_query(queue_filter)
    suffix = f"?{urlencode(query)}" if query else ""
    return render(
        request,
        "track.html",
        {
            "t": evidence,
            "queued": queued,
            "claim_note": claim_note,
            "conflict": conflict,
            "query": query,
            "queue_href": f"{PREFIX}/queue{suffix}",
            "prev_href": f"{PREFIX}/tracks/{before}{suffix}" if before else None,
            "next_href": f"{PREFIX}/tracks/{after}{suffix}" if after else None,
            "actions": list(review.ACTION_DECISIONS),
            "reason_codes": REASON_CODES,
            "default_reason": _default_reasons(evidence),
            "undo_window_s": settings.console_undo_window_s,
        },
        user=user,
        status_code=status_code,
    )


def _default_reasons(evidence: dict[str, Any]) -> dict[str, str]:
    """The reason code each action key preselects, from the track's top finding family."""
    family = moderation.family_of(evidence["reasons"][0]) if evidence["reasons"] else None
    removal = (
        {
            moderation.ReasonFamily.DUPLICATE: "duplicate",
            moderation.ReasonFamily.SPAM: "spam",
            moderation.ReasonFamily.AI: "ai_undisclosed",
        }.get(family, "metadata")
        if family
        else "other"
    )
    return {
        "approve": "ok",
        "remove": removal,
        "filter": removal,
        "escalate": "needs_second_opinion",
    }


@router.post("/tracks/{track_id}/decision")
def post_decision(
    track_id: int,
    request: Request,
    user: ConsoleUser = SIGNED_IN,
    csrf: str = Form(""),
    action: str = Form(""),
    reason: str = Form(""),
    note: str = Form(""),
    seen_event_id: int = Form(0),
    then: str = Form("next"),
) -> Response:
    """Decide; on success go to the next queued track (submit & next) or back to this one."""
    try:
        check_csrf(request, user, csrf)
        queue_filter = parse_filter(request.query_params)
        with unit_of_work(request) as session:
            before, after = moderation.queue_neighbours(
                session, track_id=track_id, queue_filter=queue_filter
            )
            moderation.decide_unless_changed(
                session,
                track_id=track_id,
                action=action,
                reason=reason,
                note=note.strip() or None,
                actor=user.principal.name,
                role=user.principal.role,
                seen_event_id=seen_event_id,
            )
    except ServiceError as exc:
        if exc.status == 409:
            return _track_page(request, user, track_id, conflict=exc.message, status_code=409)
        return error_page(request, exc, user)
    query = filter_query(queue_filter)
    notice = {**query, "notice": "decided"}
    following = after or before  # the track that came next, else the one before it
    if then == "next" and following is not None:
        return RedirectResponse(f"{PREFIX}/tracks/{following}?{urlencode(notice)}", status_code=303)
    if then == "next":
        return RedirectResponse(f"{PREFIX}/queue?{urlencode(notice)}", status_code=303)
    return RedirectResponse(f"{PREFIX}/tracks/{track_id}?{urlencode(notice)}", status_code=303)


@router.post("/undo")
def undo(
    request: Request,
    user: ConsoleUser = SIGNED_IN,
    csrf: str = Form(""),
) -> Response:
    """Reverse my last decision (or bulk decision) within the undo window."""
    try:
        check_csrf(request, user, csrf)
        with unit_of_work(request) as session:
            reversals = moderation.undo_last(
                session,
                actor=user.principal.name,
                role=user.principal.role,
                window_s=settings_of(request).console_undo_window_s,
            )
            track_ids = [event.track_id for event in reversals]
    except ServiceError as exc:
        return error_page(request, exc, user)
    if len(track_ids) == 1:
        return RedirectResponse(f"{PREFIX}/tracks/{track_ids[0]}?notice=undone", status_code=303)
    return RedirectResponse(f"{PREFIX}/queue?notice=undone", status_code=303)


@router.get("/tracks/{track_id}/audio")
def track_audio(
    track_id: int,
    request: Request,
    user: ConsoleUser = SIGNED_IN,
) -> Response:
    """The track's audio file, with HTTP range requests (seeking) for signed-in moderators."""
    try:
        with unit_of_work(request) as session:
            path, media_type = console_service.audio_file(
                session, track_id=track_id, settings=settings_of(request)
            )
    except ServiceError as exc:
        return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=exc.status)
    return FileResponse(path, media_type=media_type, headers={"cache-control": "private, no-store"})


@router.get("/tracks/{track_id}/spectrogram.png")
def track_spectrogram(
    track_id: int,
    request: Request,
    user: ConsoleUser = SIGNED_IN,
) -> Response:
    """The server-rendered spectrogram (cached per audio asset)."""
    return _track_image(request, track_id, console_service.spectrogram_file)


@router.get("/tracks/{track_id}/artifacts.png")
def track_artifacts(
    track_id: int,
    request: Request,
    user: ConsoleUser = SIGNED_IN,
) -> Response:
    """The decoder-artifact evidence: the detector's residual spectrum (cached per asset)."""
    return _track_image(request, track_id, console_service.artifact_file)


@router.get("/tracks/{track_id}/artifacts.json")
def track_artifact_peaks(
    track_id: int,
    request: Request,
    user: ConsoleUser = SIGNED_IN,
) -> JSONResponse:
    """The peaks the residual plot marks, for the page to say in words."""
    try:
        with unit_of_work(request) as session:
            peaks = console_service.artifact_peaks(
                session, track_id=track_id, settings=settings_of(request)
            )
    except ServiceError as exc:
        return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=exc.status)
    return JSONResponse(peaks, headers={"cache-control": "private, max-age=3600"})


def _track_image(request: Request, track_id: int, cached: Callable[..., Path]) -> Response:
    """A PNG the service renders once per audio asset; errors as JSON (it is an <img>)."""
    try:
        with unit_of_work(request) as session:
            path = cached(session, track_id=track_id, settings=settings_of(request))
    except ServiceError as exc:
        return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=exc.status)
    return FileResponse(
        path, media_type="image/png", headers={"cache-control": "private, max-age=3600"}
    )


# --- appeals, history, counts, models ---------------------------------------------------------


@router.get("/appeals")
def appeals(request: Request, user: ConsoleUser = SIGNED_IN) -> HTMLResponse:
    """Open appeals: the distributor's statement beside the evidence and the decision."""
    settings = settings_of(request)
    items = []
    with unit_of_work(request) as session:
        for appeal in review.list_appeals(session, status=review.APPEAL_OPEN):
            evidence = console_service.track_evidence(
                session, track_id=appeal.track_id, models_dir=settings.models_dir
            )
            items.append({"appeal": appeal, "t": evidence})
    return render(request, "appeals.html", {"items": items}, user=user)


@router.get("/mine")
def mine(request: Request, user: ConsoleUser = SIGNED_IN) -> HTMLResponse:
    """My recent decisions and undos."""
    with unit_of_work(request) as session:
        events = moderation.recent_decisions(session, actor=user.principal.name)
        rows = [
            {"event": event, "at": audit.aware(event.at), "title": _title(session, event.track_id)}
            for event in events
        ]
    return render(request, "mine.html", {"rows": rows}, user=user)


def _title(session: Session, track_id: int | None) -> str:
    track = session.get(Track, track_id) if track_id is not None else None
    return (track.title or f"track {track.id}") if track else "–"


@router.get("/counts")
def counts(request: Request, user: ConsoleUser = SIGNED_IN) -> JSONResponse:
    """The live counts (the same function /metrics exports them from)."""
    with unit_of_work(request) as session:
        numbers = moderation.review_counts(session)
    return JSONResponse(
        {
            "queue_depth": numbers.queue_depth,
            "oldest_waiting": fmt_age(numbers.oldest_waiting_s),
            "oldest_waiting_s": numbers.oldest_waiting_s,
            "decided_today": numbers.decided_today,
        },
        headers={"cache-control": "no-store"},
    )


def _require_admin(user: ConsoleUser) -> None:
    if security.SCOPE_MODELS_ADMIN not in user.principal.scopes:
        raise ServiceError(
            403, "authorization", f"role {user.principal.role!r} may not manage models"
        )


@router.get("/models")
def models_page(request: Request, user: ConsoleUser = SIGNED_IN) -> HTMLResponse:
    """The model registry and the active versions (admin only)."""
    try:
        _require_admin(user)
    except ServiceError as exc:
        return error_page(request, exc, user)
    with unit_of_work(request) as session:
        entries = activation.list_registry(session, models_dir=settings_of(request).models_dir)
    return render(request, "models.html", {"entries": entries}, user=user)


@router.post("/models/{name}/{version}/activate")
def activate_model(
    name: str,
    version: str,
    request: Request,
    user: ConsoleUser = SIGNED_IN,
    csrf: str = Form(""),
) -> Response:
    """Make a version active (admin; rescan afterwards to apply it to scored tracks)."""
    try:
        _require_admin(user)
        check_csrf(request, user, csrf)
        with unit_of_work(request) as session:
            activation.activate(
                session,
                models_dir=settings_of(request).models_dir,
                name=name,
                version=version,
                actor=user.principal.name,
                role=user.principal.role,
            )
    except ServiceError as exc:
        return error_page(request, exc, user)
    return RedirectResponse(f"{PREFIX}/models?notice=activated", status_code=303)


def install(app: FastAPI) -> None:
    """Mount the console on the API app: routes, static files, headers, sign-in redirects."""

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        media = request.url.path.endswith(("/audio", "/counts", ".png", ".json"))
        if request.method == "GET" and not media:
            target = urlencode(
                {"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
            )
            return RedirectResponse(f"{PREFIX}/login?{target}", status_code=303)
        if "text/html" in request.headers.get("accept", "") and not media:
            # A form posted after the session ended: back to sign-in, nothing was done.
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        return JSONResponse(
            {"detail": "sign in to the console first", "field": "session"}, status_code=401
        )

    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(SecurityHeaders)
