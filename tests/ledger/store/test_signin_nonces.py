"""The API's sign-in nonces in the store: single use, expiry, capacity, and one winner per race."""

from __future__ import annotations

import threading

import pytest

from ledger.store import InvalidData, Store


def test_a_nonce_is_live_until_used_or_expired(store: Store) -> None:
    assert store.issue_signin_nonce("first", 160.0, now=100.0, capacity=10)
    assert store.issue_signin_nonce("second", 160.0, now=100.0, capacity=10)
    assert store.signin_nonce_live("first", now=159.9)
    assert not store.signin_nonce_live("unknown", now=100.0)
    assert store.consume_signin_nonce("first", now=120.0)
    assert not store.consume_signin_nonce("first", now=120.0)  # single use
    assert not store.signin_nonce_live("first", now=120.0)
    assert not store.signin_nonce_live("second", now=160.0)  # expiry is exclusive
    assert not store.consume_signin_nonce("second", now=160.0)


def test_capacity_counts_only_unexpired_nonces(store: Store) -> None:
    assert store.issue_signin_nonce("a", 110.0, now=100.0, capacity=2)
    assert store.issue_signin_nonce("b", 200.0, now=100.0, capacity=2)
    assert not store.issue_signin_nonce("c", 200.0, now=105.0, capacity=2)  # refused, nothing recorded
    assert not store.signin_nonce_live("c", now=105.0)
    assert store.issue_signin_nonce("c", 200.0, now=111.0, capacity=2)  # "a" expired and was dropped
    assert store.signin_nonce_live("c", now=111.0)


def test_malformed_nonces_are_refused(store: Store) -> None:
    for bad in ("", "x" * 65, 7):
        with pytest.raises(InvalidData, match="nonce"):
            store.issue_signin_nonce(bad, 200.0, now=100.0, capacity=10)  # type: ignore[arg-type]


def test_racing_consumers_have_exactly_one_winner(store: Store) -> None:
    for round_ in range(5):
        nonce = f"race-{round_}"
        assert store.issue_signin_nonce(nonce, 1e12, now=0.0, capacity=100)
        wins: list[bool] = []
        start = threading.Barrier(6)

        def consume(nonce: str, start: threading.Barrier, wins: list[bool]) -> None:
            start.wait()
            wins.append(store.consume_signin_nonce(nonce, now=1.0))

        threads = [threading.Thread(target=consume, args=(nonce, start, wins)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(wins) == [False] * 5 + [True]
