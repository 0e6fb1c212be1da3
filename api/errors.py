"""Every error the API returns, as one JSON shape: ``{"error": {"code", "message"}}``.

Routes raise an :class:`ApiError` subclass; :func:`install_error_handlers` turns
those, FastAPI's request-validation errors, Starlette's HTTP errors (404 for an
unknown path, 405...) and the chain and store failures that may surface from any
route into that shape. Any other :class:`~foundation.errors.CreditLedgerError` keeps
its code and message and adds its ``hint`` (:func:`status_for` picks the status).
Anything else becomes a 500 with a generic message (the details go to the server
log, never to the caller).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from foundation.errors import EXIT_FAILED, EXIT_INPUT, CreditLedgerError
from ledger.chain import ChainError, ContractMissing, NodeUnreachable, WrongChain
from ledger.deployment import NotDeployed
from ledger.indexer import IndexerError, IndexerUnavailable
from ledger.node import NodeError
from ledger.store import NotFound as StoreNotFound
from ledger.store import StoreError

log = logging.getLogger("credit_ledger.api")

#: Largest request body accepted (a proof bundle is ~2 KiB; a SIWE message < 1 KiB).
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class ApiError(CreditLedgerError):
    """An error with an HTTP status and a stable machine-readable code.

    Its JSON body is ``{"error": {"code", "message"}}``: the code and message API
    clients already rely on. The class's hint stays server-side; a hint given where
    the error is raised (``hint=``, e.g. a ledger error's own) is in the body too.
    """

    status_code: int = 400
    code = "bad_request"
    hint = "fix the request as the message says and send it again"
    exit_code = EXIT_INPUT

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        self.headers = headers
        self.body_hint = hint or ""


class BadRequest(ApiError):
    status_code = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"
    hint = "sign in: GET /auth/nonce, sign the EIP-4361 message, POST /auth/login, send the token as a Bearer header"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"
    hint = "sign in with the account that owns this resource or holds the role the route needs"


class NotFoundError(ApiError):
    status_code = 404
    code = "not_found"
    hint = "check the round, id or hash in the path; the listing routes show what exists"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"
    hint = "fetch the current state; send the request again only if it still applies"


class Unprocessable(ApiError):
    status_code = 422
    code = "invalid_request"
    hint = "send the value in the shape the API documents (see /docs)"


class TooManyRequests(ApiError):
    status_code = 429
    code = "too_many_requests"
    hint = "wait for the request already in progress; send this one again after the Retry-After seconds"


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "unavailable"
    hint = "try again shortly; if it persists, the operator should check the chain node and the store"
    exit_code = EXIT_FAILED


def error_body(code: str, message: str, hint: str = "") -> dict[str, Any]:
    body = {"code": code, "message": message}
    if hint:
        body["hint"] = hint
    return {"error": body}


def _json(status: int, code: str, message: str, headers: dict[str, str] | None = None, hint: str = "") -> JSONResponse:
    return JSONResponse(error_body(code, message, hint), status_code=status, headers=headers)


#: Errors meaning something the API relies on is down or missing (the chain node, the
#: deployment, the store, the indexer's node), not a bug and not the caller's fault.
_UNAVAILABLE: tuple[type[CreditLedgerError], ...] = (
    NodeUnreachable,
    NotDeployed,
    ContractMissing,
    WrongChain,
    StoreError,
    IndexerUnavailable,
    NodeError,
)


def status_for(exc: CreditLedgerError) -> int:
    """The HTTP status of a project error that no more specific handler answers.

    An :class:`ApiError` has its own; the chain node, the deployment, the store
    or the indexer's node being unavailable is a 503 (as the specific handlers
    below answer); an input error (``exit_code`` 2) is a 400; another chain or
    indexer failure is a 502; anything else a 500.
    """
    if isinstance(exc, ApiError):
        return exc.status_code
    if isinstance(exc, _UNAVAILABLE):
        return 503
    if exc.exit_code == EXIT_INPUT:
        return 400
    if isinstance(exc, (ChainError, IndexerError)):
        return 502
    return 500


#: The error schema for OpenAPI ``responses=`` declarations.
ERROR_RESPONSE: dict[str, Any] = {
    "description": "Error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "hint": {"type": "string"},
                        },
                        "required": ["code", "message"],
                    }
                },
                "required": ["error"],
            },
            "example": error_body("not_found", "no decision in round 7"),
        }
    },
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` mapping declaring the JSON error body for each status."""
    return {status: ERROR_RESPONSE for status in statuses}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that keep every error JSON and every bad input 4xx."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status_code, exc.code, exc.message, exc.headers, hint=exc.body_hint)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    # Chain and store failures can surface from any route that touches them.
    # Their messages name the RPC URL (which may carry an API key) or local paths: the
    # server log gets the detail, the caller a message to act on.
    @app.exception_handler(NodeUnreachable)
    async def _node_down(_request: Request, exc: NodeUnreachable) -> JSONResponse:
        log.warning("%s", exc)
        return _json(503, "chain_unavailable", "the chain node does not answer; try again shortly")

    @app.exception_handler(ChainError)
    async def _chain(_request: Request, exc: ChainError) -> JSONResponse:
        if isinstance(exc, (NotDeployed, ContractMissing, WrongChain)):
            log.warning("%s", exc)
            return _json(503, "not_deployed", "the ledger's contracts are not reachable on this chain")
        log.warning("chain error: %s", exc)
        return _json(502, "chain_error", str(exc))

    @app.exception_handler(StoreNotFound)
    async def _store_missing(_request: Request, exc: StoreNotFound) -> JSONResponse:
        return _json(404, "not_found", str(exc))

    @app.exception_handler(StoreError)
    async def _store(_request: Request, exc: StoreError) -> JSONResponse:
        log.warning("store error: %s", exc)
        return _json(503, "store_error", "the ledger store could not answer")

    # Every other deliberate error: its code, message and hint, never a traceback.
    @app.exception_handler(CreditLedgerError)
    async def _project_error(_request: Request, exc: CreditLedgerError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        return _json(status, exc.code, exc.message, hint=exc.hint)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # requests/web3 connection errors raised mid-request mean the node went away.
        if _is_connection_error(exc):
            return _json(503, "chain_unavailable", "the chain node does not answer")
        log.exception("unhandled error")
        return _json(500, "internal_error", "internal server error")


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError))


class BodySizeLimit:
    """ASGI middleware reading each request body first: over ``max_bytes`` is a JSON 413, slower than ``timeout_seconds`` a 408.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; otherwise the body is read here (it is small by construction), counted
    chunk by chunk so a chunked upload cannot get round the limit, and replayed
    to the app. The whole body must arrive within ``timeout_seconds`` of the
    request head (``None``: no deadline): a client that declares 1,000 bytes and
    sends 10 gets a 408 and its connection closed, instead of holding a worker
    thread's request open. The head's own deadline is the server's
    (:class:`api.serving.GuardedHttpProtocol`).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES, timeout_seconds: float | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(scope, receive, send)
                    return
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout_seconds is None else loop.time() + self.timeout_seconds
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), None if deadline is None else deadline - loop.time())
            except TimeoutError:
                await self._timed_out(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        buffered: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            if buffered:
                return buffered.pop()
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _json(413, "payload_too_large", f"request body exceeds {self.max_bytes} bytes")
        await response(scope, receive, send)

    async def _timed_out(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The rest of the body may still come: close the connection rather than read it as the next request.
        response = _json(
            408,
            "request_timeout",
            f"the request body did not arrive within {self.timeout_seconds:g} s; send the request again",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
