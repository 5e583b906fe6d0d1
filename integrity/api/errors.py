"""One error body for every refusal: `{"detail": message, "field": what is wrong}`.

Service refusals (`ServiceError`), the HTTP edge's own (`RequestRefused`: authentication, rate
limits, body limits), FastAPI's validation errors and Starlette's 404/405 all answer it, so a
client reads one shape and always learns which field to fix (`schemas.ErrorBody`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from integrity.service.errors import ServiceError

REQUEST_PARTS = ("body", "query", "path", "header", "cookie")


class RequestRefused(HTTPException):
    """A request refused by the HTTP edge itself, naming the part of the request at fault."""

    def __init__(
        self, status: int, field: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.field = field


def field_of(loc: Sequence[Any]) -> str:
    """pydantic's error location as a field name: ("body", "tracks", 3) → "tracks[3]"."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] in REQUEST_PARTS:
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def error_response(
    status: int, field: str | None, detail: str, **extra: Any
) -> JSONResponse:
    """The error body, as every handler here answers it."""
    return JSONResponse({"detail": detail, "field": field, **extra}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every refusal with the one error body."""

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.field, exc.message)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        response = error_response(exc.status_code, getattr(exc, "field", None), str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        first = problems[0] if problems else {"loc": ["body"], "msg": "invalid request"}
        field = field_of(first["loc"])
        return error_response(422, field, f"{field}: {first['msg']}", errors=problems)
