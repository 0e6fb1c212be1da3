"""Sign-in with Ethereum (EIP-4361), session tokens, and the role checks every route uses.

Flow: ``GET /auth/nonce`` hands out a single-use nonce (kept in the ledger's store
for :attr:`ApiConfig.nonce_ttl_seconds`); the wallet signs an EIP-4361 message naming
this server's domain, the chain's id and that nonce; ``POST /auth/login`` checks
the message (parsed by the ``siwe`` package), the signature, the domain, the chain
id, the nonce and the message's own validity window, then looks the signer up
ON-CHAIN: ``IdentityRegistry.keyOf`` for a merchant (which must be Active) and
``hasRole`` for the staff roles. It answers a short-lived HMAC-signed Bearer token.

The token only says *who* signed in. What they may do is re-read from the chain
on every request (:func:`require_role`, :func:`require_merchant`), so revoking a
role, suspending or rotating a merchant takes effect at once, not when a token
expires.

Nonces live in the store (``signin_nonces``) and the token secret in a file, so any
number of API worker processes can serve one domain (``credit-ledger api serve
--workers N``): a nonce issued by one worker is accepted by another, once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from web3.contract import Contract

with warnings.catch_warnings():
    # siwe's grammar restates the RFC 5234 core rules, which abnf 2.8 warns
    # about (and abnf >= 2.9 refuses: pin abnf < 2.9 until siwe fixes it).
    warnings.simplefilter("ignore")
    from siwe import SiweMessage
    from siwe import siwe as siwe_errors

from api.deps import Services, get_services
from api.errors import BadRequest, Forbidden, ServiceUnavailable, Unauthorized, errors
from api.schemas import LoginRequest, LoginResponse, NonceResponse
from foundation.errors import EXIT_INPUT, CreditLedgerError
from ledger.deployment import LedgerContracts
from ledger.enums import MerchantKind, MerchantStatus
from ledger.roles import ROLE_HOME, Role
from ledger.store import Store

__all__ = [
    "AuthError",
    "NonceStore",
    "Principal",
    "SessionTokens",
    "current_principal",
    "require_merchant",
    "require_role",
    "router",
]

SECRET_BYTES = 32
TOKEN_VERSION = 1
ZERO32 = bytes(32)


class AuthError(CreditLedgerError):
    """A session token is malformed, forged or expired."""

    code = "invalid_token"
    hint = "sign in again: GET /auth/nonce, sign the EIP-4361 message, POST /auth/login"
    exit_code = EXIT_INPUT


# -- principal ------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who is calling: the signed-in account and what the chain says it may do.

    ``roles`` are the staff roles held (checked on-chain by :func:`require_role`
    for the one a route needs); ``merchant_key`` is the merchant key bound to
    the account (``None`` for staff).
    """

    address: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    merchant_key: bytes | None = None
    expires_at: int = 0

    @property
    def merchant_key_hex(self) -> str | None:
        return None if self.merchant_key is None else "0x" + self.merchant_key.hex()


# -- nonces ---------------------------------------------------------------------


class NonceStore:
    """Single-use sign-in nonces with an expiry, kept in the ledger's store (shared by all workers)."""

    def __init__(
        self, store: Store, ttl_seconds: int, clock: Callable[[], float] = time.time, capacity: int = 100_000
    ) -> None:
        self.ttl = ttl_seconds
        self._store = store
        self._clock = clock
        self._capacity = capacity

    def issue(self) -> tuple[str, float]:
        """A fresh nonce (16 alphanumerics, > 95 bits) and its expiry time."""
        nonce = "".join(
            secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)
        )
        now = self._clock()
        if not self._store.issue_signin_nonce(nonce, now + self.ttl, now=now, capacity=self._capacity):
            # Refuse rather than grow without bound under a nonce flood.
            raise BadRequest("too many outstanding sign-in nonces; retry shortly", code="nonce_capacity")
        return nonce, now + self.ttl

    def is_live(self, nonce: str) -> bool:
        return self._store.signin_nonce_live(nonce, now=self._clock())

    def consume(self, nonce: str) -> bool:
        """Use ``nonce`` up; True only for the first caller (in any worker) while it is unexpired."""
        return self._store.consume_signin_nonce(nonce, now=self._clock())


# -- session tokens ---------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_secret(path: Path) -> bytes:
    """The HMAC key in ``path``, created (mode 0600, 32 random bytes) on first use."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(SECRET_BYTES))
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise RuntimeError(f"API secret {path} is shorter than {SECRET_BYTES} bytes; delete it to regenerate")
    return secret


class SessionTokens:
    """``base64url(payload JSON) . base64url(HMAC-SHA256(payload))`` tokens.

    The payload names the account, the chain id and the expiry; roles in it are
    informational (they are re-checked on-chain per request).
    """

    def __init__(self, secret: bytes, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self.ttl = ttl_seconds
        self._clock = clock

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, principal: Principal, chain_id: int) -> tuple[str, int]:
        expires = int(self._clock()) + self.ttl
        body = {
            "v": TOKEN_VERSION,
            "sub": principal.address,
            "cid": chain_id,
            "mk": principal.merchant_key_hex,
            "roles": sorted(r.value for r in principal.roles),
            "exp": expires,
        }
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(payload)}", expires

    def verify(self, token: str, chain_id: int) -> Principal:
        """The principal a token names; :class:`AuthError` if forged, expired or for another chain."""
        payload, sep, mac = token.partition(".")
        if not sep or not payload or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise AuthError("invalid session token")
        try:
            body = json.loads(_unb64(payload))
            address = str(body["sub"])
            expires = int(body["exp"])
            token_chain = int(body["cid"])
            roles = frozenset(Role(r) for r in body.get("roles", []))
            mk = body.get("mk")
            merchant_key = bytes.fromhex(mk[2:]) if mk else None
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError(f"malformed session token ({type(exc).__name__})") from None
        if body.get("v") != TOKEN_VERSION:
            raise AuthError("session token of an unknown version")
        if expires <= self._clock():
            raise AuthError("session expired; sign in again")
        if token_chain != chain_id:
            raise AuthError("session token is for another chain")
        return Principal(address, roles, merchant_key, expires)


# -- per-app auth state ---------------------------------------------------------------


@dataclass
class AuthState:
    nonces: NonceStore
    tokens: SessionTokens


def auth_state(services: Services) -> AuthState:
    """Created once per app on first use (the secret file is read then)."""
    state = services._auth_state
    if state is None:
        cfg = services.config
        state = AuthState(
            NonceStore(services.store(), cfg.nonce_ttl_seconds),
            SessionTokens(load_or_create_secret(services.secret_path), cfg.session_ttl_seconds),
        )
        services._auth_state = state
    return state


# -- on-chain look-ups ---------------------------------------------------------------


def role_contract(contracts: LedgerContracts, role: Role) -> Contract:
    """The contract where ``role`` is held (the admin role: CreditLedger)."""
    return contracts.by_name(ROLE_HOME.get(role, "CreditLedger"))


def has_role(contracts: LedgerContracts, role: Role, address: str) -> bool:
    return bool(role_contract(contracts, role).functions.hasRole(role.id, address).call())


def roles_of(contracts: LedgerContracts, address: str) -> frozenset[Role]:
    return frozenset(role for role in Role if has_role(contracts, role, address))


@dataclass(frozen=True)
class MerchantRecord:
    key: bytes
    account: str
    kind: str
    status: str


def merchant_of(contracts: LedgerContracts, address: str) -> MerchantRecord | None:
    """The merchant bound to ``address`` on-chain, or None."""
    key = bytes(contracts.identities.functions.keyOf(address).call())
    if key == ZERO32:
        return None
    account, kind, status = contracts.identities.functions.merchant(key).call()
    return MerchantRecord(key, account, MerchantKind(int(kind)).label, MerchantStatus(int(status)).label)


# -- dependencies ---------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="Session token from POST /auth/login")


def current_principal(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    services: Services = Depends(get_services),
) -> Principal:
    """The signed-in caller (401 without a valid, unexpired Bearer token)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("sign in first: Authorization: Bearer <token from POST /auth/login>")
    chain = services.chain()
    try:
        return auth_state(services).tokens.verify(credentials.credentials, chain.chain_id)
    except AuthError as exc:
        raise Unauthorized(str(exc), code="invalid_token") from None


def require_role(role: Role) -> Callable[..., Principal]:
    """A dependency admitting only callers whose account holds ``role`` on-chain now.

    Usage: ``principal: Principal = Depends(require_role(Role.AUDITOR))``.
    """

    def dependency(
        principal: Principal = Depends(current_principal),
        services: Services = Depends(get_services),
    ) -> Principal:
        if not has_role(services.contracts(), role, principal.address):
            raise Forbidden(f"account {principal.address} does not hold {role.value}", code="missing_role")
        return Principal(principal.address, principal.roles | {role}, principal.merchant_key, principal.expires_at)

    dependency.__name__ = f"require_{role.key}"
    return dependency


@dataclass(frozen=True)
class MerchantPrincipal:
    """A signed-in merchant whose account is (still) bound to its key on-chain."""

    principal: Principal
    record: MerchantRecord

    @property
    def key(self) -> bytes:
        return self.record.key


def require_merchant(
    principal: Principal = Depends(current_principal),
    services: Services = Depends(get_services),
) -> MerchantPrincipal:
    """Admit a caller whose account is bound to a merchant key on-chain (read now, not at sign-in).

    A suspended merchant may still read its own records; filing disputes is
    refused by the contract itself.
    """
    record = merchant_of(services.contracts(), principal.address)
    if record is None:
        raise Forbidden(f"account {principal.address} is not bound to a merchant key", code="not_a_merchant")
    return MerchantPrincipal(principal, record)


# -- routes ---------------------------------------------------------------------

router = APIRouter(prefix="/auth", tags=["auth"])


def _expected_domain(request: Request, services: Services) -> str:
    if services.config.domain:
        return services.config.domain
    host = request.headers.get("host") or request.url.netloc
    return host


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@router.get("/nonce", response_model=NonceResponse, summary="A single-use sign-in nonce")
def get_nonce(request: Request, services: Services = Depends(get_services)) -> NonceResponse:
    """Issue a nonce for an EIP-4361 message; it is valid once, for a few minutes."""
    nonce, expires = auth_state(services).nonces.issue()
    try:
        chain_id: int | None = services.chain().chain_id
    except ServiceUnavailable:  # the nonce is still useful; login will report the node
        chain_id = None
    domain = _expected_domain(request, services)
    return NonceResponse(
        nonce=nonce, expiresAt=_iso(expires), domain=domain, chainId=chain_id, uri=f"{request.url.scheme}://{domain}"
    )


def _parse_message(text: str) -> SiweMessage:
    try:
        message = SiweMessage.from_message(text)
    except Exception as exc:  # noqa: BLE001 - untrusted text: whatever the ABNF parser or pydantic raise, it is a 400
        raise BadRequest(
            f"not an EIP-4361 message: {_siwe_problem(text, exc)[:200]}; build it from GET /auth/nonce's "
            "domain, nonce and uri with a SIWE library",
            code="invalid_message",
        ) from None
    # siwe verifies the signature over its own re-serialisation; insisting the
    # text is already canonical means we check exactly the bytes the user signed.
    if message.prepare_message() != text:
        raise BadRequest("the message is not in canonical EIP-4361 form", code="invalid_message")
    return message


_SIWE_HEADER = " wants you to sign in with your Ethereum account:"
_SIWE_REQUIRED = ("URI", "Version", "Chain ID", "Nonce", "Issued At")
_SIWE_TIMES = ("Issued At", "Expiration Time", "Not Before")


def _siwe_problem(text: str, exc: Exception) -> str:
    """What is wrong with a message siwe refused, in words a person can act on.

    siwe's ABNF parser says only that the text does not match (an empty
    ``ValueError``), so the message is walked line by line here; the first
    departure from EIP-4361 is the reason.
    """
    lines = text.split("\n")
    if not lines[0].endswith(_SIWE_HEADER) or lines[0] == _SIWE_HEADER.lstrip():
        return f"line 1 must be '<domain>{_SIWE_HEADER}'"
    if len(lines) < 2 or not re.fullmatch(r"0x[0-9a-fA-F]{40}", lines[1]):
        return "line 2 must be the signing account's address (0x and 40 hex digits)"
    if lines[1] != to_checksum_address(lines[1]):
        return "line 2: the address must be EIP-55 checksummed (mixed case)"
    fields: dict[str, str] = {}
    for line in lines[2:]:
        key, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(key, value)
    for name in _SIWE_REQUIRED:
        if name not in fields:
            return f"the '{name}: ' line is missing"
    if fields["Version"] != "1":
        return "'Version' must be 1"
    if not fields["Chain ID"].isdigit():
        return "'Chain ID' must be a decimal integer"
    if not re.fullmatch(r"[A-Za-z0-9]{8,}", fields["Nonce"]):
        return "'Nonce' must be at least 8 letters and digits (use the one GET /auth/nonce issued)"
    for name in _SIWE_TIMES:
        if name in fields:
            try:
                datetime.fromisoformat(fields[name].replace("Z", "+00:00"))
            except ValueError:
                return f"'{name}' must be an RFC 3339 time such as 2025-01-31T12:00:00Z"
    errors_of = getattr(exc, "errors", None)  # pydantic's ValidationError
    if callable(errors_of):
        try:
            first = errors_of()[0]
            return f"{'.'.join(map(str, first.get('loc', ()))) or 'message'}: {first.get('msg', 'invalid')}"
        except (IndexError, TypeError, AttributeError):
            pass
    return str(exc).split("\n")[0] or "it does not follow the EIP-4361 grammar (a line is out of order or malformed)"


@router.post(
    "/login",
    response_model=LoginResponse,
    summary="Sign in with an EIP-4361 message",
    responses=errors(400, 401, 403, 503),
)
def login(body: LoginRequest, request: Request, services: Services = Depends(get_services)) -> LoginResponse:
    """Check the signed message, look the signer up on-chain and issue a session token."""
    state = auth_state(services)
    message = _parse_message(body.message)
    chain = services.chain()
    domain = _expected_domain(request, services)
    if message.domain != domain:
        raise Unauthorized(
            f"message is for domain {message.domain!r}, this server is {domain!r}", code="domain_mismatch"
        )
    if int(message.chain_id) != chain.chain_id:
        raise Unauthorized(
            f"message is for chain {message.chain_id}, this ledger is on chain {chain.chain_id}", code="chain_mismatch"
        )
    if not state.nonces.is_live(message.nonce):
        raise Unauthorized("unknown, used or expired nonce; get a new one from GET /auth/nonce", code="invalid_nonce")
    try:
        message.verify(body.signature, domain=domain, nonce=message.nonce)
    except siwe_errors.ExpiredMessage:
        raise Unauthorized("the message has expired", code="message_expired") from None
    except siwe_errors.NotYetValidMessage:
        raise Unauthorized("the message is not valid yet", code="message_not_yet_valid") from None
    except siwe_errors.VerificationError:
        raise Unauthorized("the signature does not match the message's address", code="invalid_signature") from None
    except Exception:  # noqa: BLE001 - untrusted signature: eth_account/eth_keys raise many types, all mean 401
        raise Unauthorized("the signature does not match the message's address", code="invalid_signature") from None
    # Consume only after the signature checked out, so nobody can burn someone
    # else's nonce; consume() is atomic, so a replay racing us loses.
    if not state.nonces.consume(message.nonce):
        raise Unauthorized("unknown, used or expired nonce; get a new one from GET /auth/nonce", code="invalid_nonce")

    contracts = services.contracts()
    address = message.address
    roles = roles_of(contracts, address)
    merchant = merchant_of(contracts, address)
    if merchant is not None and merchant.status != "active" and not roles:
        raise Forbidden(f"merchant 0x{merchant.key.hex()} is {merchant.status}", code="merchant_not_active")
    if merchant is None and not roles:
        raise Forbidden(f"account {address} is neither a registered merchant nor holds a role", code="unknown_account")
    key = merchant.key if merchant is not None and merchant.status == "active" else None
    principal = Principal(address, roles, key)
    token, expires = state.tokens.issue(principal, chain.chain_id)
    return LoginResponse(
        token=token,
        expiresAt=_iso(expires),
        address=address,
        roles=sorted(r.value for r in roles),
        merchantKey=principal.merchant_key_hex,
    )
