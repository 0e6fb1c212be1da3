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
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request

from api.errors import DEFAULT_MAX_BODY_BYTES, ServiceUnavailable
from ledger.chain import Chain, ChainError, NodeUnreachable
from ledger.config import Settings
from ledger.deployment import AddressBook, LedgerContracts, NotDeployed
from ledger.deployment import load as load_deployment
from ledger.documents import DocumentStore
from ledger.store import Store

if TYPE_CHECKING:
    from api.auth import AuthState

log = logging.getLogger("credit_ledger.api")

SESSION_TTL_SECONDS = 15 * 60
NONCE_TTL_SECONDS = 5 * 60


@dataclass(frozen=True)
class ApiConfig:
    """API-only settings (the ledger's own come from :class:`ledger.config.Settings`).

    ``domain`` is the EIP-4361 domain a sign-in message must name; ``None``
    means the ``Host`` the request came to (fine behind no proxy; set it when
    a proxy rewrites the host). Environment: ``CREDIT_LEDGER_API_DOMAIN``
    (:attr:`ledger.config.Settings.api_domain`).
    """

    domain: str | None = None
    session_ttl_seconds: int = SESSION_TTL_SECONDS
    nonce_ttl_seconds: int = NONCE_TTL_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    secret_path: Path | None = None  # default: $CREDIT_LEDGER_HOME/api-secret.key
    #: The dispute relay's bounds (api/relay_gate.py): the longest ``POST /merchant/disputes``
    #: waits for the transaction to be mined before answering 202 (the dispute "pending"),
    #: and how many relays one API process has in flight at once (one per merchant).
    relay_receipt_wait_seconds: float = 12.0
    relay_max_in_flight: int = 8

    @classmethod
    def from_env(cls) -> ApiConfig:
        """The domain from this process's :class:`Settings`; every other field at its default."""
        return cls(domain=Settings.from_env().api_domain)


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
                    raise ServiceUnavailable(str(exc), code="chain_unavailable") from None
                except ChainError as exc:
                    raise ServiceUnavailable(str(exc), code="wrong_chain") from None
            return self._chain

    def contracts(self) -> LedgerContracts:
        """The deployed contracts named by the address book for this chain."""
        chain = self.chain()
        with self._lock:
            if self._contracts is None:
                try:
                    self._contracts = load_deployment(chain, AddressBook(self.settings.address_book_path))
                except NotDeployed as exc:
                    raise ServiceUnavailable(str(exc), code="not_deployed") from None
                except ChainError as exc:
                    raise ServiceUnavailable(str(exc), code="not_deployed") from None
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
