"""The one table mapping domain errors to HTTP responses.

Routers raise domain errors (``spatial.errors``) and never build error responses
themselves, so a status code is decided here once. Responses never carry tracebacks.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from spatial.errors import (
    ConflictError,
    CRSError,
    InputError,
    JerError,
    NotFoundError,
    PermissionDeniedError,
    RulebookError,
    StoreError,
    ValidationError,
    WorkflowError,
)

log = logging.getLogger("jer.web")


class TooLargeError(InputError):
    """An upload over the size or feature-count limit of the settings (HTTP 413)."""

#: Domain error -> HTTP status. Looked up along the exception's MRO, most specific first.
ERROR_STATUS: dict[type[JerError], int] = {
    TooLargeError: 413,
    RulebookError: 422,
    ValidationError: 422,
    InputError: 400,
    CRSError: 400,
    NotFoundError: 404,
    ConflictError: 409,
    PermissionDeniedError: 403,
    WorkflowError: 409,
    StoreError: 503,
    JerError: 400,
}


def status_for(exc: JerError) -> int:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]  # type: ignore[index]
    return 500  # pragma: no cover - JerError is in the table


def error_body(exc: JerError) -> dict[str, object]:
    body: dict[str, object] = {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ValidationError):
        body["problems"] = [p.to_dict() for p in exc.problems]
    if isinstance(exc, ConflictError) and exc.actual is not None:
        body["expected_version"] = exc.expected
        body["current_version"] = exc.actual
    return body


def install_error_handlers(app: FastAPI) -> None:
    """Register the table's handler, and a last-resort handler that hides internals."""

    @app.exception_handler(JerError)
    async def _jer_error(request: Request, exc: JerError) -> JSONResponse:
        return JSONResponse(status_code=status_for(exc), content=error_body(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            status_code=500,
            content={"error": "InternalError", "message": "internal error; see the server log"},
        )
