"""The API's connections (chain, contracts, store, documents), opened lazily, and their dependencies.

The app starts even when the node is down or nothing is deployed yet: each
connection is made on first use and a failure becomes a 503 JSON error
(``chain_unavailable`` / ``not_deployed``) instead of a crash at startup. Once
connected, the chain binding is kept; if the node later goes away, the calls
fail and the error handlers answer 503 too, and the next request reconnects
after :attr:`Services.reset_chain` is triggered by that failure.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import Request

from api.errors import DEFAULT_MAX_BODY_BYTES, ServiceUnavailable
from api.serving import ServerLimits
from ledger.chain import Chain, ChainError, NodeUnreachable
from ledger.config import ConfigError, Settings
from ledger.deployment import AddressBook, LedgerContracts
from ledger.deployment import load as load_deployment
from ledger.documents import DocumentStore
from ledger.store import Store

if TYPE_CHECKING:
    from api.auth import AuthState

log = logging.getLogger("credit_ledger.api")

SESSION_TTL_SECONDS = 15 * 60
NONCE_TTL_SECONDS = 5 * 60
#: The sign-in domain of an app given none: ``credit-ledger api serve``'s default bind address.
DEFAULT_DOMAIN = "127.0.0.1:8000"
#: How far a message's ``Issued At`` may be ahead of this server's clock (the signer's clock may run fast).
MAX_CLOCK_SKEW_SECONDS = 60
#: How long after its ``Issued At`` a sign-in message is accepted, whatever ``Expiration Time`` it states.
MAX_MESSAGE_LIFETIME_SECONDS = 10 * 60

#: ``host`` or ``host:port``; a host is a DNS name, an IPv4 address or a bracketed IPv6 one.
_DOMAIN = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?\Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def http_origin(uri: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an ``http``/``https`` URI, lower-cased, the port made explicit; else None."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


@dataclass(frozen=True)
class ApiConfig:
    """API-only settings (the ledger's own come from :class:`ledger.config.Settings`).

    ``domain`` (``host[:port]``) and ``uri`` (an ``http(s)://host[:port]`` origin) are
    what a sign-in message must name: its first line's domain, and a ``URI`` on that
    origin. They are this server's configuration, never read from a request (a
    ``Host`` header is the client's to choose). ``uri`` defaults to ``http://`` and the
    domain; the domain defaults to :data:`DEFAULT_DOMAIN`, and ``credit-ledger api
    serve`` sets it to the address it binds. Environment:
    ``CREDIT_LEDGER_API_DOMAIN`` and ``CREDIT_LEDGER_API_URI``
    (:attr:`ledger.config.Settings.api_domain`, :attr:`~ledger.config.Settings.api_uri`).

    A message's validity window is bounded here whatever it states: its ``Issued At``
    at most ``max_clock_skew_seconds`` ahead of this server's clock, and it is
    accepted for at most ``max_message_lifetime_seconds`` after that.

    ``limits`` are the slow-client deadlines and the connection limit
    (:class:`api.serving.ServerLimits`); the app enforces the body deadline, the
    server the rest.
    """

    domain: str = DEFAULT_DOMAIN
    uri: str = ""
    session_ttl_seconds: int = SESSION_TTL_SECONDS
    nonce_ttl_seconds: int = NONCE_TTL_SECONDS
    max_clock_skew_seconds: int = MAX_CLOCK_SKEW_SECONDS
    max_message_lifetime_seconds: int = MAX_MESSAGE_LIFETIME_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    limits: ServerLimits = field(default_factory=ServerLimits)
    secret_path: Path | None = None  # default: $CREDIT_LEDGER_HOME/api-secret.key
    #: The dispute relay's bounds (api/relay_gate.py): the longest ``POST /merchant/disputes``
    #: waits for the transaction to be mined before answering 202 (the dispute "pending"),
    #: and how many relays one API process has in flight at once (one per merchant).
    relay_receipt_wait_seconds: float = 12.0
    relay_max_in_flight: int = 8

    def __post_init__(self) -> None:
        if not _DOMAIN.match(self.domain):
            raise ConfigError(
                f"sign-in domain {self.domain!r} is not host[:port] (no scheme, no path), e.g. ledger.example.org "
                "or 127.0.0.1:8000 (--domain, CREDIT_LEDGER_API_DOMAIN)"
            )
        uri = self.uri or f"http://{self.domain}"
        parts = urlsplit(uri)
        if http_origin(uri) is None or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ConfigError(
                f"sign-in URI {uri!r} is not an origin such as https://ledger.example.org "
                "(http or https, a host, an optional port, nothing else; --uri, CREDIT_LEDGER_API_URI)"
            )
        object.__setattr__(self, "uri", uri.rstrip("/"))  # frozen: filled once, before anyone holds it

    @property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, host, port)`` of :attr:`uri`: a message's ``URI`` must be on it."""
        origin = http_origin(self.uri)
        assert origin is not None  # checked in __post_init__
        return origin

    @classmethod
    def from_env(cls) -> ApiConfig:
        """The domain and URI from this process's :class:`Settings`; every other field at its default."""
        settings = Settings.from_env()
        return cls(domain=settings.api_domain or DEFAULT_DOMAIN, uri=settings.api_uri or "")


@dataclass
class Services:
    """Lazily opened connections shared by all requests of one app."""

    settings: Settings
    config: ApiConfig = field(default_factory=ApiConfig)
    _chain: Chain | None = None
    _contracts: LedgerContracts | None = None
    _store: Store | None = None
    _documents: DocumentStore | None = None
    _auth_state: AuthState | None = None  # made by api.auth.auth_state on first use
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def chain(self) -> Chain:
        """The connected chain; :class:`ServiceUnavailable` if the node does not answer."""
        with self._lock:
            if self._chain is None:
                try:
                    # A short timeout: a request should fail fast, not hang, when the node is gone.
                    self._chain = Chain.connect(
                        self.settings.rpc_url, expected_chain_id=self.settings.chain_id, timeout=10.0
                    )
                except NodeUnreachable as exc:
                    # The RPC URL may carry a provider's API key: the log gets it, the caller does not.
                    log.warning("%s", exc)
                    raise ServiceUnavailable("the chain node does not answer", code="chain_unavailable") from None
                except ChainError as exc:
                    log.warning("%s", exc)
                    raise ServiceUnavailable("the chain node is not the configured chain", code="wrong_chain") from None
            return self._chain

    def contracts(self) -> LedgerContracts:
        """The deployed contracts named by the address book for this chain."""
        chain = self.chain()
        with self._lock:
            if self._contracts is None:
                try:
                    self._contracts = load_deployment(chain, AddressBook(self.settings.address_book_path))
                except ChainError as exc:  # NotDeployed, ContractMissing: names local paths
                    log.warning("%s", exc)
                    raise ServiceUnavailable(
                        "the ledger's contracts are not deployed on this chain", code="not_deployed"
                    ) from None
            return self._contracts

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                try:
                    self._store = Store.open(self.settings.database_url)
                except Exception as exc:  # noqa: BLE001 - SQLAlchemy, the drivers and Alembic raise many types (bad URL, locked file)
                    # The driver's message may name hosts and users: the log gets it, the caller does not.
                    log.warning("the ledger store cannot be opened: %s", exc)
                    raise ServiceUnavailable(
                        f"the ledger store cannot be opened ({type(exc).__name__})", code="store_unavailable"
                    ) from None
            return self._store

    def documents(self) -> DocumentStore:
        if self._documents is None:
            self._documents = DocumentStore(self.settings.documents_dir)
        return self._documents

    def reset_chain(self) -> None:
        """Forget the chain binding so the next request reconnects (after the node restarted)."""
        with self._lock:
            self._chain = None
            self._contracts = None

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    @property
    def secret_path(self) -> Path:
        return self.config.secret_path or self.settings.home / "api-secret.key"


def get_services(request: Request) -> Services:
    """FastAPI dependency: the app's :class:`Services`."""
    services: Services = request.app.state.services
    return services
