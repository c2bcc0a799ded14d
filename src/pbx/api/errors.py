"""Every error the API returns is JSON ``{"error": code, "detail": text}``.

Handlers for our own ``ApiError``, Starlette's HTTP errors (unknown route: 404,
wrong method: 405), request validation (a bad ``has_mac=maybe``: 400, not FastAPI's
422, since it is plainly a bad request) and anything unexpected (500, details only
in the server log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("pbx.api")

_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    503: "unavailable",
}


class ApiError(Exception):
    """A request the API refuses, with the status and a stable machine-readable code."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def error_response(status: int, error: str, detail: str) -> JSONResponse:
    """The one error body shape."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.detail)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        detail = f"no such resource: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"method {request.method} not allowed on {request.url.path}"
    else:
        detail = str(exc.detail)
    response = error_response(exc.status_code, code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err.get("loc", ())[1:]) or "request"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return error_response(400, "invalid_parameter", "; ".join(problems) or "invalid request")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "unexpected server error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that make every error JSON."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
