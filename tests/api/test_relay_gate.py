"""api.relay_gate.RelayGate: admission per merchant and in all, Retry-After, the slot freed however a relay ends."""

from __future__ import annotations

import time

import anyio
import pytest

from api.errors import ServiceUnavailable, TooManyRequests
from api.relay_gate import RelayGate
from ledger.config import ConfigError

A, B, C = b"a" * 32, b"b" * 32, b"c" * 32


class Clock:
    """A clock the test moves by hand (the gate takes its time source as an argument)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_relay_per_merchant_and_a_cap_in_all() -> None:
    clock = Clock()
    gate = RelayGate(max_in_flight=2, wait_seconds=12, clock=clock)
    with gate.admit(A) as deadline:
        assert deadline == 112
        clock.now += 4.5
        with pytest.raises(TooManyRequests) as second:
            with gate.admit(A):
                pass
        assert second.value.code == "relay_in_progress" and second.value.headers == {"Retry-After": "8"}
        with gate.admit(B):
            clock.now += 1
            with pytest.raises(ServiceUnavailable) as full:
                with gate.admit(C):
                    pass
            # the soonest slot to free is A's, 12 - 5.5 s from now
            assert full.value.code == "relay_busy" and full.value.headers == {"Retry-After": "7"}
            assert gate.in_flight == 2
        with gate.admit(C):
            assert gate.in_flight == 2
    assert gate.in_flight == 0


def test_the_slot_is_freed_when_the_relay_fails() -> None:
    gate = RelayGate(max_in_flight=1, wait_seconds=12)
    with pytest.raises(RuntimeError), gate.admit(A):
        raise RuntimeError("the relay refused it")
    with gate.admit(A):
        assert gate.in_flight == 1


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    gate = RelayGate(max_in_flight=1, wait_seconds=1, clock=clock)
    with gate.admit(A):
        clock.now += 5  # past its deadline, still answering
        with pytest.raises(TooManyRequests) as again:
            with gate.admit(A):
                pass
    assert again.value.headers == {"Retry-After": "1"}


def test_poll_stops_at_the_first_answer_or_the_deadline() -> None:
    gate = RelayGate(max_in_flight=1, wait_seconds=12)
    looks: list[int] = []

    def third_look() -> str | None:
        looks.append(1)
        return "mined" if len(looks) == 3 else None

    async def both() -> tuple[str | None, str | None, float]:
        found = await gate.poll(third_look, time.monotonic() + 10)
        started = time.monotonic()
        never = await gate.poll(lambda: None, started + 0.5)
        return found, never, time.monotonic() - started

    found, never, waited = anyio.run(both)
    assert found == "mined" and len(looks) == 3
    assert never is None and 0.5 <= waited < 1.0


@pytest.mark.parametrize(("max_in_flight", "wait"), [(0, 12.0), (4, 0.0), (4, -1.0)])
def test_bad_bounds_are_a_config_error(max_in_flight: int, wait: float) -> None:
    with pytest.raises(ConfigError, match=r"ApiConfig\.relay_"):
        RelayGate(max_in_flight, wait)
