"""Slow and idle clients against a real uvicorn server on loopback: deadlines for the request head and body, a connection limit.

Each server here is served exactly as ``credit-ledger api serve`` serves the API
(:func:`api.serving.server_config`), in a thread, with short limits so the tests are
quick; the last test runs the real command with its defaults.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from ledger_support import free_port, oracle_cli_environment

from api.app import create_app
from api.deps import ApiConfig
from api.serving import ServerLimits, server_config

QUICK = ServerLimits(head_timeout_seconds=1.0, body_timeout_seconds=1.0, keep_alive_seconds=5, max_connections=32)
#: How much later than its deadline a connection may be cut (a loaded machine, the event loop's tick).
SLACK = 1.5


@contextlib.contextmanager
def served(settings: Any, limits: ServerLimits) -> Iterator[tuple[str, int]]:
    """The API over ``settings``, served with ``limits`` on a free loopback port, in a thread."""
    port = free_port()
    app = create_app(settings, ApiConfig(domain=f"127.0.0.1:{port}", limits=limits))
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port, limits=limits, log_level="warning"))
    thread = threading.Thread(target=server.run, name="slow-clients-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="module")
def quick_server(ledger_env: Any) -> Iterator[tuple[str, int]]:
    with served(ledger_env.settings, QUICK) as address:
        yield address


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=10)


def _closed_after(sock: socket.socket, timeout: float) -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (reading whatever it sent first), and what it sent."""
    started = time.monotonic()
    received = b""
    sock.settimeout(timeout)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {timeout:.0f}s; it sent {received!r}")
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received


def _answers(address: tuple[str, int]) -> None:
    """A normal client on a new connection gets its answer, promptly."""
    started = time.monotonic()
    response = httpx.get(f"http://{address[0]}:{address[1]}/openapi.json", timeout=5)
    assert response.status_code == 200 and time.monotonic() - started < 2


def test_an_idle_connection_is_closed_within_the_head_timeout(quick_server: tuple[str, int]) -> None:
    with _connect(quick_server) as idle:
        elapsed, sent = _closed_after(idle, timeout=QUICK.head_timeout_seconds + 10)
    assert sent == b""  # closed without an answer: it asked nothing
    assert QUICK.head_timeout_seconds - 0.2 <= elapsed <= QUICK.head_timeout_seconds + SLACK, elapsed


def _trickle(sock: socket.socket, data: bytes, every: float) -> tuple[float, int]:
    """Send ``data`` a byte every ``every`` seconds until the server closes: (seconds, bytes sent)."""
    started = time.monotonic()
    for i in range(len(data)):
        try:
            sock.sendall(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started, i
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - started, i + 1
            except ConnectionResetError:
                return time.monotonic() - started, i + 1
    pytest.fail(f"the server read the whole {len(data)}-byte head, a byte every {every}s")


def _response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length, read off ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


HEAD = b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + b"s" * 40 + b"\r\n\r\n"


def test_a_head_sent_a_byte_at_a_time_is_cut_off(quick_server: tuple[str, int]) -> None:
    with _connect(quick_server) as slow:
        elapsed, sent = _trickle(slow, HEAD, every=0.1)
    assert sent < len(HEAD) and elapsed <= QUICK.head_timeout_seconds + SLACK, (elapsed, sent)


def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline(quick_server: tuple[str, int]) -> None:
    """Each byte restarts uvicorn's keep-alive timer, not the head deadline, which runs from the response."""
    with _connect(quick_server) as client:
        client.sendall(HEAD)
        assert _response(client).startswith(b"HTTP/1.1 200")
        elapsed, sent = _trickle(client, HEAD, every=0.1)
    assert sent < len(HEAD) and elapsed <= QUICK.head_timeout_seconds + SLACK, (elapsed, sent)


def test_a_body_shorter_than_declared_gets_408_within_the_body_timeout(quick_server: tuple[str, int]) -> None:
    with _connect(quick_server) as client:
        client.sendall(
            b"POST /verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"version"'  # 10 of the 1,000 bytes
        )
        elapsed, answer = _closed_after(client, timeout=QUICK.body_timeout_seconds + 10)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert QUICK.body_timeout_seconds - 0.2 <= elapsed <= QUICK.body_timeout_seconds + SLACK, elapsed


def test_the_server_keeps_answering_while_slow_clients_wait(quick_server: tuple[str, int]) -> None:
    stalled = [_connect(quick_server) for _ in range(8)]
    try:
        for i, sock in enumerate(stalled):
            if i % 2:  # half send part of a head, half part of a body; none finishes
                sock.sendall(HEAD[:20])
            else:
                sock.sendall(b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{")
        for _ in range(5):
            _answers(quick_server)
    finally:
        for sock in stalled:
            sock.close()


def test_beyond_the_connection_limit_a_request_gets_a_json_503(ledger_env: Any) -> None:
    limits = ServerLimits(head_timeout_seconds=10, max_connections=3)
    with served(ledger_env.settings, limits) as address:
        held = [_connect(address) for _ in range(limits.max_connections)]
        try:
            time.sleep(0.3)  # let the server accept them
            refused = httpx.get(f"http://{address[0]}:{address[1]}/openapi.json", timeout=5)
            assert refused.status_code == 503, refused.text
            assert refused.json() == {
                "error": {
                    "code": "server_busy",
                    "message": "the server has too many open connections; retry in a moment",
                }
            }
            assert refused.headers["connection"] == "close" and refused.headers["retry-after"] == "1"
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)  # the server notices the closes
        _answers(address)


def test_api_serve_closes_an_idle_connection_with_its_default_head_timeout(ledger_env: Any) -> None:
    """The real command serves with :class:`ServerLimits`' defaults (10 s for a request head)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "credit_ledger.cli", "api", "serve", "--port", str(port), "--log-level", "warning"],
        env=oracle_cli_environment(ledger_env.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        default = ServerLimits().head_timeout_seconds
        with _connect(("127.0.0.1", port)) as idle:
            elapsed, sent = _closed_after(idle, timeout=default + 10)
        assert sent == b"" and default - 0.5 <= elapsed <= default + SLACK, elapsed
        _answers(("127.0.0.1", port))
    finally:
        server.terminate()
        server.communicate(timeout=60)
