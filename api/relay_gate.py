"""Bounds on the dispute relay: one relay in flight per merchant, a few in all, on threads of their own.

``POST /merchant/disputes`` sends a merchant's signed transaction and waits a short,
bounded time (``ApiConfig.relay_receipt_wait_seconds``) for it to be mined. The route is
``async`` so that this wait holds no thread: it sleeps on the event loop between looks at
the chain (:meth:`RelayGate.poll`), and each look, like every other blocking JSON-RPC or
store call of a relay, runs on a thread limiter of the gate's own (:meth:`RelayGate.run`),
never on the thread pool the sync routes share. However many relays wait, ``GET /health``
and the other routes have their threads.

The gate admits at most one relay per merchant at a time (another one is a 429 with
``Retry-After``: the seconds left of the one in flight) and ``max_in_flight`` in all (a
503 with ``Retry-After``), so neither one merchant nor many can pile up waiting relays.
The counts are per API process: each worker of ``credit-ledger api serve --workers N``
has its own gate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import Request

from api.deps import get_services
from api.errors import ServiceUnavailable, TooManyRequests
from ledger.config import ConfigError

__all__ = ["POLL_SECONDS", "RelayGate", "relay_gate"]

#: How often a waiting relay looks for its receipt (one short JSON-RPC call each time).
POLL_SECONDS = 0.2

T = TypeVar("T")


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class RelayGate:
    """Admission and threads for the dispute relays of one app (see the module docstring).

    Its bookkeeping is touched only from the event loop's thread (the async route), so
    it needs no lock; the blocking work goes through :meth:`run`.
    """

    def __init__(self, max_in_flight: int, wait_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_in_flight < 1:
            raise ConfigError(f"ApiConfig.relay_max_in_flight must be >= 1, not {max_in_flight}")
        if not wait_seconds > 0:
            raise ConfigError(f"ApiConfig.relay_receipt_wait_seconds must be > 0, not {wait_seconds}")
        self.max_in_flight = max_in_flight
        self.wait_seconds = wait_seconds
        self._clock = clock
        self._deadlines: dict[bytes, float] = {}  # merchant key -> when its relay stops waiting
        # One thread per relay in flight is all a relay ever uses at once, so no relay waits for one.
        self._limiter = anyio.CapacityLimiter(max_in_flight)

    @property
    def in_flight(self) -> int:
        return len(self._deadlines)

    @contextmanager
    def admit(self, merchant_key: bytes) -> Iterator[float]:
        """Hold ``merchant_key``'s relay slot for the block; yields the time (``clock``) its wait ends.

        :class:`TooManyRequests` (429) if the merchant has a relay in flight,
        :class:`ServiceUnavailable` (503) if ``max_in_flight`` relays are; both with ``Retry-After``.
        """
        now = self._clock()
        held = self._deadlines.get(merchant_key)
        if held is not None:
            raise TooManyRequests(
                "a dispute you submitted is still being relayed; send this one once it is answered",
                code="relay_in_progress",
                headers=_retry_after(held - now),
            )
        if len(self._deadlines) >= self.max_in_flight:
            raise ServiceUnavailable(
                f"{len(self._deadlines)} disputes are being relayed, the most this server relays at once",
                code="relay_busy",
                headers=_retry_after(min(self._deadlines.values()) - now),
            )
        deadline = now + self.wait_seconds
        self._deadlines[merchant_key] = deadline
        try:
            yield deadline
        finally:
            del self._deadlines[merchant_key]

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` (blocking: JSON-RPC, the store) on one of the relays' own threads."""
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)

    async def poll(self, look: Callable[[], T | None], deadline: float) -> T | None:
        """``look()`` every :data:`POLL_SECONDS` (via :meth:`run`) until it returns something or ``deadline`` passes."""
        while True:
            found = await self.run(look)
            if found is not None:
                return found
            left = deadline - self._clock()
            if left <= 0:
                return None
            await anyio.sleep(min(POLL_SECONDS, left))


async def relay_gate(request: Request) -> RelayGate:
    """FastAPI dependency: the app's gate, made on first use from its :class:`api.deps.ApiConfig`.

    ``async`` so that it runs on the event loop, where the first use cannot race another.
    """
    gate: RelayGate | None = getattr(request.app.state, "relay_gate", None)
    if gate is None:
        config = get_services(request).config
        gate = RelayGate(config.relay_max_in_flight, config.relay_receipt_wait_seconds)
        request.app.state.relay_gate = gate
    return gate
