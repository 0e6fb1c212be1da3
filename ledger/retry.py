"""The one retry policy for JSON-RPC calls: retry while the node is away, give up with a clear error.

A node that restarts (``credit-ledger node start`` after a stop, a consortium node's
maintenance window) refuses connections or times out for a few seconds; the oracle
and the indexer ride that out by calling through :meth:`RetryPolicy.call`, built on
`tenacity <https://tenacity.readthedocs.io>`_:

* **what is retried**: only errors meaning "the node went away" (:func:`node_went_away`):
  ``OSError`` and its kin (``ConnectionError``, ``TimeoutError``, and every ``requests``
  error, which derive from ``OSError``), urllib3's connection, protocol and timeout
  errors, web3's ``ProviderConnectionError``, ``RequestTimedOut`` and
  ``BadResponseFormat``, aiohttp's connection errors. Anything else (a revert, an RPC
  error such as "nonce too low", a bug) is raised at once, without sleeping: the node
  answered, and asking again would get the same answer. Malformed-URL errors from
  ``requests`` are configuration mistakes, not outages, and are not retried either.
* **how often**: ``attempts`` calls in all (``attempts - 1`` retries).
* **how long between**: exponential backoff, ``first_delay`` doubling per retry, capped at
  ``max_delay`` (0.5, 1, 2, 4, 8, 10, 10... seconds by default).
* **what is said**: one log line per retry naming what is retried, the error,
  ``attempt n/N`` and the delay before the next one (``"eth_getLogs 10..20: node unreachable
  (ConnectionError: ...); attempt 2/6 failed, retrying in 1.0s"``).
* **how it ends**: :class:`NodeUnavailable` naming what failed, after how many retries,
  the last error, and (``hint``) what to do; a caller may turn it into its own error
  type with ``error=`` (the oracle raises ``OracleError``, the indexer ``IndexerUnavailable``).

The sleep is looked up when the call runs (``time.sleep`` unless ``sleep=`` is given),
so tests can patch ``time.sleep`` or pass a recorder and never really wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from foundation.errors import EXIT_FAILED, CreditLedgerError

__all__ = [
    "DEFAULT_POLICY",
    "NODE_HINT",
    "NodeUnavailable",
    "RetryPolicy",
    "node_went_away",
]

log = logging.getLogger("credit_ledger.retry")
T = TypeVar("T")

NODE_HINT = (
    "is the node running? Start the local one with `credit-ledger node start`, "
    "or point CREDIT_LEDGER_RPC_URL at a node that answers, then run the command again"
)


def _transient_types() -> tuple[type[BaseException], ...]:
    import requests
    import urllib3.exceptions as u3
    from web3.exceptions import BadResponseFormat, ProviderConnectionError, RequestTimedOut

    types: list[type[BaseException]] = [
        OSError,  # includes ConnectionError, TimeoutError and every requests.RequestException
        ConnectionError,
        TimeoutError,
        requests.ConnectionError,
        requests.Timeout,
        u3.ProtocolError,
        u3.NewConnectionError,
        u3.MaxRetryError,
        u3.TimeoutError,
        ProviderConnectionError,
        RequestTimedOut,
        BadResponseFormat,
    ]
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - web3 depends on it
        pass
    else:
        types.append(aiohttp.ClientConnectionError)
    return tuple(types)


def _configuration_types() -> tuple[type[BaseException], ...]:
    import requests.exceptions as rx

    return (rx.InvalidURL, rx.MissingSchema, rx.InvalidSchema, rx.InvalidHeader, rx.URLRequired)


_TRANSIENT = _transient_types()
_CONFIGURATION = _configuration_types()


def node_went_away(exc: BaseException) -> bool:
    """True if ``exc`` means the node could not be reached (worth retrying), not that it refused."""
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, _CONFIGURATION)


class NodeUnavailable(CreditLedgerError):
    """The node stayed unreachable through every retry."""

    code = "node_unavailable"
    hint = NODE_HINT
    exit_code = EXIT_FAILED

    def __init__(self, what: str, retries: int, last: BaseException) -> None:
        super().__init__(f"{what}: node unreachable after {retries} retries ({type(last).__name__}: {last})")
        self.what = what
        self.retries = retries
        self.last = last

    def explained(self) -> str:
        """Message and hint in one line, for error types that have no ``hint`` of their own."""
        return f"{self.message}; {self.hint}"


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, how fast and on which errors to call a node again."""

    attempts: int = 8
    first_delay: float = 0.5
    max_delay: float = 10.0
    retry_on: Callable[[BaseException], bool] = node_went_away

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")

    @property
    def retries(self) -> int:
        return self.attempts - 1

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (1-based)."""
        return min(self.first_delay * 2.0 ** (retry - 1), self.max_delay)

    def call(
        self,
        fn: Callable[[], T],
        what: str,
        *,
        log: Callable[[str], object] | None = None,
        sleep: Callable[[float], None] | None = None,
        error: Callable[[NodeUnavailable], BaseException] | None = None,
    ) -> T:
        """``fn()``, retried per this policy; :class:`NodeUnavailable` (or ``error(it)``) when out of attempts.

        ``log`` gets one line per retry (default: a warning on ``credit_ledger.retry``);
        ``sleep`` pauses between attempts (default: ``time.sleep``, looked up per pause).
        """
        say = log or _log_warning

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            say(
                f"{what}: node unreachable ({type(exc).__name__}: {exc}); "
                f"attempt {state.attempt_number}/{self.attempts} failed, retrying in {delay:.1f}s"
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_exponential(multiplier=self.first_delay, min=0, max=self.max_delay),
            retry=tenacity.retry_if_exception(self.retry_on),
            before_sleep=before_sleep,
            sleep=sleep if sleep is not None else _sleep,
        )
        try:
            return retrying(fn)
        except tenacity.RetryError as gave_up:
            last = gave_up.last_attempt.exception()
            assert last is not None  # only exceptions are retried
            exhausted = NodeUnavailable(what, self.retries, last)
            raise (error(exhausted) if error is not None else exhausted) from last


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up per call, so tests can patch time.sleep


def _log_warning(line: str) -> None:
    log.warning("%s", line)


DEFAULT_POLICY = RetryPolicy()
"""8 attempts, 0.5 s doubling to at most 10 s between them: rides out ~35 s of a node being away."""
