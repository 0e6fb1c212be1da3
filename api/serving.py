"""How credit-ledger's HTTP servers are served: uvicorn, with deadlines for slow clients and a connection limit.

uvicorn 0.54 closes an idle keep-alive connection ``timeout_keep_alive`` seconds after
a response, but any byte restarts that clock, and nothing at all times a connection
that has not sent a complete request head yet: a client that connects and sends
nothing, or sends its headers a byte at a time, holds its connection (and a place
under the connection limit) for as long as it likes. This module is the one place
that decides how a server faces such clients:

* :class:`ServerLimits`: the deadlines and limits, with their defaults;
* :class:`GuardedHttpProtocol`: uvicorn's httptools protocol that closes a connection
  whose request head is not complete within ``head_timeout_seconds`` of connecting or
  of the previous response, and answers a JSON 503 (``server_busy``) past
  ``max_connections``;
* the body deadline is the app's: uvicorn hands the body to the app as it arrives,
  and :class:`api.errors.BodySizeLimit` already reads all of it first, so it gives
  that read ``body_timeout_seconds`` and answers a JSON 408 (``request_timeout``);
* :func:`server_config` and :func:`serve`: a uvicorn configuration with all of the
  above (one process or several workers), used by ``credit-ledger api serve``.

Limits are per worker process: ``--workers 4`` accepts up to 4 x ``max_connections``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any, cast

import uvicorn
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from api.errors import error_body

__all__ = ["GuardedHttpProtocol", "ServedConfig", "ServerLimits", "bound_domain", "serve", "server_config"]

log = logging.getLogger("credit_ledger.api")

#: Addresses that bind every interface: no client reaches the server by them.
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


@dataclass(frozen=True)
class ServerLimits:
    """How long a client may take, and how many may be connected at once (per worker process).

    The defaults suit the API's requests (a sign-in message < 1 KiB, a proof bundle
    about 2 KiB): a phone on a slow link sends those in well under a second.
    """

    #: A request head (request line and headers) must be complete this long after the
    #: connection opened or the previous response was sent; else the connection is closed.
    head_timeout_seconds: float = 10.0
    #: A request body must have arrived this long after its head; else 408 and the connection is closed.
    body_timeout_seconds: float = 15.0
    #: An idle keep-alive connection is closed this long after a response (uvicorn's own timer).
    keep_alive_seconds: int = 5
    #: Connections one process serves at once (idle ones count); a request on any further one is a 503.
    max_connections: int = 256
    #: Connections the kernel queues before the server accepts them.
    backlog: int = 256

    def describe(self) -> str:
        """One line for a server's start-up message."""
        return (
            f"request head within {self.head_timeout_seconds:g} s, body within {self.body_timeout_seconds:g} s, "
            f"idle keep-alive {self.keep_alive_seconds} s; {self.max_connections} connections per process "
            f"(then 503), backlog {self.backlog}"
        )


def bound_domain(host: str, port: int) -> str:
    """The ``host:port`` clients reach a server bound to ``host``/``port`` by (an IPv6 address in brackets).

    A wildcard address (``0.0.0.0``, ``::``) is refused with ``ValueError``: it names no
    host a client uses, so the sign-in domain must be given instead.
    """
    if host in _WILDCARD_HOSTS:
        shown_host = host or "''"
        raise ValueError(f"--host {shown_host} binds every interface, so it names no host clients use")
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False  # a host name
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


class ServedConfig(uvicorn.Config):
    """uvicorn's configuration plus the :class:`ServerLimits` its protocol reads.

    Workers receive a pickled copy of it, so the limits reach every process.
    """

    def __init__(self, app: Any, *, limits: ServerLimits, **options: Any) -> None:
        self.limits = limits
        super().__init__(
            app,
            http=GuardedHttpProtocol,
            timeout_keep_alive=limits.keep_alive_seconds,
            limit_concurrency=limits.max_connections,
            backlog=limits.backlog,
            **options,
        )


def server_config(app: Any, *, host: str, port: int, limits: ServerLimits, **options: Any) -> ServedConfig:
    """The uvicorn configuration serving ``app`` (an ASGI app, or an import string with ``factory=True``).

    ``options`` are uvicorn's own (``workers``, ``log_level``, ``factory``...);
    the protocol, keep-alive, connection limit and backlog come from ``limits``.
    """
    return ServedConfig(app, host=host, port=port, limits=limits, **options)


def serve(config: ServedConfig) -> None:
    """Run the server until it is stopped (SIGINT/SIGTERM), in ``config.workers`` processes.

    What ``uvicorn.run`` does, for a configuration built here rather than from its keywords.
    """
    if config.workers > 1 and not isinstance(config.app, str):
        raise ValueError("several workers need the app as an import string (each builds its own)")
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE: the port is taken, the app failed to load...


async def _server_busy(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer past the connection limit: a JSON 503 that closes its connection."""
    response = JSONResponse(
        error_body("server_busy", "the server has too many open connections; retry in a moment"),
        status_code=503,
        headers={"Retry-After": "1", "Connection": "close"},
    )
    await response(scope, receive, send)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head deadline and a JSON 503 past the connection limit.

    The head deadline runs from the moment the connection opens, and again from
    each response until the next request head is complete. Data arriving does not
    restart it (as it restarts the keep-alive timer), so a head sent a byte at a time
    is cut off too. A connection past the deadline is closed without an answer:
    it may be a browser's idle pre-opened connection as well as an attacker's.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = config.limits if isinstance(config, ServedConfig) else ServerLimits()
        self._head_timeout = limits.head_timeout_seconds
        # uvicorn's own check answers a plain-text 503; ours answers in the API's JSON shape.
        self._max_connections = self.limit_concurrency
        self.limit_concurrency = None
        self._head_deadline: asyncio.TimerHandle | None = None

    # -- the request-head deadline ---------------------------------------------------

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.info("closing the connection of %s: no complete request head within %gs", client, self._head_timeout)
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's signature; uvicorn's narrows it to the Transport a TCP server always passes.
        super().connection_made(cast(asyncio.Transport, transport))
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        if not self._busy():
            super().on_headers_complete()
            return
        # uvicorn starts (or queues) the request with the protocol's app: lend it the 503.
        app, self.app = self.app, _server_busy
        try:
            log.warning("connection limit of %d reached: answering 503", self._max_connections)
            super().on_headers_complete()
        finally:
            self.app = app

    def on_response_complete(self) -> None:
        # With a pipelined request queued, its head is already complete: no deadline then.
        waiting_for_a_head = not self.pipeline
        super().on_response_complete()
        if waiting_for_a_head and not self.transport.is_closing():
            self._arm_head_deadline()

    def _busy(self) -> bool:
        limit = self._max_connections
        return limit is not None and (len(self.connections) > limit or len(self.tasks) >= limit)
