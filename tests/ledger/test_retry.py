"""The one retry policy (ledger.retry) and its two callers' outward behaviour; no test really sleeps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import urllib3.exceptions
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TransactionNotFound,
    Web3RPCError,
)

from foundation.errors import CreditLedgerError
from ledger.indexer import IndexerError, IndexerUnavailable, InvalidQuery, retrying
from ledger.retry import DEFAULT_POLICY, NODE_HINT, NodeUnavailable, RetryPolicy, node_went_away
from oracle.service import OracleError, with_retries


def failing(exc: BaseException, times: int | None = None) -> tuple[Callable[[], str], list[int]]:
    """A call that raises ``exc`` ``times`` times (always if None), then answers "ok"; and its call log."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if times is None or len(calls) <= times:
            raise exc
        return "ok"

    return fn, calls


NODE_GONE = [
    ConnectionError("connection refused"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError("timed out"),
    OSError("network is unreachable"),
    requests.ConnectionError("Max retries exceeded"),
    requests.ReadTimeout("read timed out"),
    requests.exceptions.ChunkedEncodingError("connection broken"),
    requests.HTTPError("502 Bad Gateway"),
    urllib3.exceptions.ProtocolError("Connection aborted."),
    urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"),  # type: ignore[arg-type]
    ProviderConnectionError("could not connect"),
    RequestTimedOut("request timed out"),
]

NODE_ANSWERED = [
    ValueError("nonce too low"),
    Web3RPCError("nonce too low"),
    TransactionNotFound("not found"),
    ContractLogicError("execution reverted"),
    RuntimeError("a bug"),
    KeyError("blockNumber"),
    IndexerError("the indexer's own refusal"),
    InvalidQuery("bad filter"),
    requests.exceptions.InvalidURL("no host"),  # configuration, not an outage
    requests.exceptions.MissingSchema("no scheme"),
]


@pytest.mark.parametrize("exc", NODE_GONE, ids=lambda e: type(e).__name__)
def test_node_gone_errors_are_retried(exc: BaseException) -> None:
    assert node_went_away(exc)
    fn, calls = failing(exc, times=2)
    sleeps: list[float] = []
    assert RetryPolicy().call(fn, "eth_call", sleep=sleeps.append, log=lambda _line: None) == "ok"
    assert len(calls) == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("exc", NODE_ANSWERED, ids=lambda e: type(e).__name__)
def test_other_errors_are_raised_at_once_without_sleeping(exc: BaseException) -> None:
    assert not node_went_away(exc)
    fn, calls = failing(exc)
    sleeps: list[float] = []
    lines: list[str] = []
    with pytest.raises(type(exc)) as raised:
        RetryPolicy().call(fn, "eth_sendRawTransaction", sleep=sleeps.append, log=lines.append)
    assert raised.value is exc
    assert len(calls) == 1 and sleeps == [] and lines == []


def test_keyboard_interrupt_is_not_retried() -> None:
    fn, calls = failing(KeyboardInterrupt())
    sleeps: list[float] = []
    with pytest.raises(KeyboardInterrupt):
        RetryPolicy().call(fn, "eth_blockNumber", sleep=sleeps.append)
    assert len(calls) == 1 and sleeps == []


def test_attempts_then_a_final_error_naming_what_failed_and_what_to_do() -> None:
    last = ConnectionError("connection refused")
    fn, calls = failing(last)
    sleeps: list[float] = []
    lines: list[str] = []
    policy = RetryPolicy(attempts=4)
    with pytest.raises(NodeUnavailable) as raised:
        policy.call(fn, "eth_getLogs 10..20", sleep=sleeps.append, log=lines.append)
    assert len(calls) == 4 and len(sleeps) == 3 and len(lines) == 3
    error = raised.value
    assert isinstance(error, CreditLedgerError)
    assert error.code == "node_unavailable" and error.hint == NODE_HINT and "credit-ledger node start" in error.hint
    assert str(error) == "eth_getLogs 10..20: node unreachable after 3 retries (ConnectionError: connection refused)"
    assert error.__cause__ is last and error.last is last and error.retries == 3
    assert error.explained() == f"{error}; {NODE_HINT}"


def test_one_log_line_per_retry_with_what_attempt_and_delay() -> None:
    fn, _ = failing(ConnectionError("refused"), times=2)
    lines: list[str] = []
    RetryPolicy(attempts=5).call(fn, "eth_blockNumber", sleep=lambda _s: None, log=lines.append)
    assert lines == [
        "eth_blockNumber: node unreachable (ConnectionError: refused); attempt 1/5 failed, retrying in 0.5s",
        "eth_blockNumber: node unreachable (ConnectionError: refused); attempt 2/5 failed, retrying in 1.0s",
    ]


def test_default_log_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fn, _ = failing(TimeoutError("slow"), times=1)
    with caplog.at_level(logging.WARNING, logger="credit_ledger.retry"):
        RetryPolicy().call(fn, "eth_chainId", sleep=lambda _s: None)
    assert [r.getMessage() for r in caplog.records] == [
        "eth_chainId: node unreachable (TimeoutError: slow); attempt 1/8 failed, retrying in 0.5s"
    ]


def test_backoff_doubles_and_is_capped() -> None:
    fn, _ = failing(ConnectionError("down"))
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=10, first_delay=0.5, max_delay=10.0)
    with pytest.raises(NodeUnavailable):
        policy.call(fn, "eth_blockNumber", sleep=sleeps.append, log=lambda _line: None)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]
    assert [policy.delay(n) for n in range(1, 10)] == sleeps
    assert (DEFAULT_POLICY.attempts, DEFAULT_POLICY.first_delay, DEFAULT_POLICY.max_delay) == (8, 0.5, 10.0)


def test_error_factory_turns_the_final_error_into_the_callers_type() -> None:
    last = OSError("unreachable")
    fn, _ = failing(last)

    class Mine(Exception):
        pass

    with pytest.raises(Mine, match=r"^eth_call: node unreachable after 1 retries") as raised:
        RetryPolicy(attempts=2).call(fn, "eth_call", sleep=lambda _s: None, error=lambda e: Mine(e.explained()))
    assert raised.value.__cause__ is last


def test_default_sleep_is_time_sleep_looked_up_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    fn, _ = failing(ConnectionError("down"), times=2)
    assert RetryPolicy().call(fn, "eth_blockNumber", log=lambda _line: None) == "ok"
    assert sleeps == [0.5, 1.0]


def test_a_policy_needs_one_attempt() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    fn, calls = failing(ConnectionError("down"))
    with pytest.raises(NodeUnavailable, match="after 0 retries"):
        RetryPolicy(attempts=1).call(fn, "eth_call", sleep=lambda _s: None)
    assert len(calls) == 1


# -- the two callers keep their outward behaviour ---------------------------------------


def test_oracle_with_retries_raises_oracle_error_after_eight_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    fn, calls = failing(ConnectionError("connection refused"))
    lines: list[str] = []
    with pytest.raises(OracleError) as raised:
        with_retries("isAnchored", fn, log=lines.append)
    assert len(calls) == 8 and sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    message = str(raised.value)
    assert message.startswith("isAnchored: node unreachable after 7 retries (ConnectionError: connection refused)")
    assert "credit-ledger node start" in message
    # the drill in tests/oracle/test_oracle_crash.py looks for these words in the oracle's output
    assert all("node unreachable" in line and "retry" in line for line in lines) and len(lines) == 7


def test_oracle_with_retries_does_not_retry_a_node_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """``send anchor`` relies on this: "nonce too low" must reach anchor_round's ValueError branch at once."""
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    fn, calls = failing(ValueError("nonce too low"))
    with pytest.raises(ValueError, match="nonce too low"):
        with_retries("send anchor", fn, log=lambda _line: None)
    assert len(calls) == 1 and sleeps == []


def test_indexer_retrying_keeps_its_defaults_and_error_type(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    fn, calls = failing(requests.ConnectionError("refused"))
    with pytest.raises(IndexerUnavailable, match=r"after 5 retries .*credit-ledger node start"):
        retrying(fn, "eth_blockNumber")
    assert len(calls) == 6 and sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize("exc", [IndexerError("own"), Web3RPCError("limit exceeded")], ids=lambda e: type(e).__name__)
def test_indexer_retrying_raises_non_node_errors_at_once(exc: Any) -> None:
    fn, calls = failing(exc)
    sleeps: list[float] = []
    with pytest.raises(type(exc)):
        retrying(fn, "eth_getLogs", sleep=sleeps.append)
    assert len(calls) == 1 and sleeps == []
