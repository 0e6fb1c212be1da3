"""Sign-in with Ethereum (EIP-4361), session tokens, and the role checks every route uses.

Flow: ``GET /auth/nonce`` hands out a single-use nonce (kept in the ledger's store
for :attr:`ApiConfig.nonce_ttl_seconds`); the wallet signs an EIP-4361 message naming
this server's domain, a URI on its origin, the chain's id and that nonce; ``POST
/auth/login`` checks the message (parsed by the ``siwe`` package), the domain and
URI (the server's configuration, :class:`api.deps.ApiConfig`, never the request's
``Host``), the chain id, the validity window (bounded by the server whatever the
message states), the nonce and the signature (canonical low-s form only), then
looks the signer up ON-CHAIN: ``IdentityRegistry.keyOf`` for a merchant (which must
be Active) and ``hasRole`` for the staff roles. It answers a short-lived HMAC-signed
Bearer token.

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
from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from web3.contract import Contract

with warnings.catch_warnings():
    # siwe's grammar restates the RFC 5234 core rules, which abnf 2.8 warns
    # about (and abnf >= 2.9 refuses: pin abnf < 2.9 until siwe fixes it).
    warnings.simplefilter("ignore")
    from siwe import SiweMessage
    from siwe import siwe as siwe_errors

from api.deps import ApiConfig, Services, get_services, http_origin
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


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@router.get("/nonce", response_model=NonceResponse, summary="A single-use sign-in nonce")
def get_nonce(services: Services = Depends(get_services)) -> NonceResponse:
    """Issue a nonce for an EIP-4361 message; it is valid once, for a few minutes.

    The domain and URI answered are this server's configuration (never the request's
    ``Host``): the message must name that domain and a URI on that origin.
    """
    nonce, expires = auth_state(services).nonces.issue()
    try:
        chain_id: int | None = services.chain().chain_id
    except ServiceUnavailable:  # the nonce is still useful; login will report the node
        chain_id = None
    cfg = services.config
    return NonceResponse(nonce=nonce, expiresAt=_iso(expires), domain=cfg.domain, chainId=chain_id, uri=cfg.uri)


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
    # siwe's own exception says nothing a person can act on (often nothing at all).
    return "it does not follow the EIP-4361 grammar (a line is out of order, repeated or malformed)"


def _check_audience(message: SiweMessage, cfg: ApiConfig) -> None:
    """The message must name this server: its domain, and a URI on its origin (a phishing page's is refused)."""
    if message.domain != cfg.domain or (message.scheme is not None and message.scheme != cfg.origin[0]):
        named = f"{message.scheme}://{message.domain}" if message.scheme else message.domain
        raise Unauthorized(
            f"the message is for domain {named}, this server signs in as {cfg.domain}: "
            f"sign in from {cfg.uri} (the page you signed on is not this ledger's)",
            code="domain_mismatch",
        )
    if http_origin(message.uri) != cfg.origin:
        raise Unauthorized(
            f"the message's URI {message.uri[:120]} is not on this server's origin {cfg.uri}: "
            "build the message from GET /auth/nonce's uri",
            code="uri_mismatch",
        )


def _span(seconds: float) -> str:
    """A duration as a person reads it: ``30 days``, ``5 hours`` (rounded), ``10 minutes``, ``2 min 5 s``, ``45 s``."""
    whole = round(abs(seconds))
    for unit, size in (("day", 86_400), ("hour", 3_600)):
        if whole >= size:
            count = round(whole / size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    minutes, rest = divmod(whole, 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    if minutes:
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    return f"{rest} s"


def _when(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_validity_window(message: SiweMessage, cfg: ApiConfig, now: datetime) -> None:
    """Bound the message's lifetime, whatever it states (``Not Before`` is siwe's to check).

    ``Issued At`` at most :attr:`ApiConfig.max_clock_skew_seconds` ahead of this
    clock; accepted until its ``Expiration Time`` and never longer than
    :attr:`ApiConfig.max_message_lifetime_seconds` after ``Issued At``, so a signed
    message cannot be kept to sign in with later.
    """
    issued = _when(message.issued_at._datetime)
    skew, lifetime = cfg.max_clock_skew_seconds, cfg.max_message_lifetime_seconds
    if (issued - now).total_seconds() > skew:
        raise Unauthorized(
            f"the message's Issued At {message.issued_at} is {_span((issued - now).total_seconds())} ahead of "
            f"this server's clock ({now.isoformat(timespec='seconds').replace('+00:00', 'Z')}; at most {skew} s "
            "of skew is allowed): set the device's clock right and sign a new message",
            code="message_issued_in_future",
        )
    if message.expiration_time is not None:
        expires = _when(message.expiration_time._datetime)
        if expires <= now:
            raise Unauthorized(
                f"the message expired at {message.expiration_time}: sign a new one", code="message_expired"
            )
        if (expires - issued).total_seconds() > lifetime:
            raise Unauthorized(
                f"the message is valid for {_span((expires - issued).total_seconds())} (Issued At to "
                f"Expiration Time); this server accepts at most {_span(lifetime)}: "
                "sign a message that expires sooner",
                code="message_lifetime_too_long",
            )
    if (now - issued).total_seconds() > lifetime:
        raise Unauthorized(
            f"the message was issued {_span((now - issued).total_seconds())} ago ({message.issued_at}); this "
            f"server accepts a message for at most {_span(lifetime)} after its Issued At: get a new nonce and "
            "sign a new message",
            code="message_too_old",
        )


#: The order of secp256k1's group: a signature's s must be at most half of it (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: Recovery ids of an EIP-191 signature (27/28, or 0/1 from some signers); any other v is a re-encoding.
SIGNATURE_V = frozenset({27, 28, 0, 1})


def _check_signature_form(signature: str) -> None:
    """Refuse a malleated signature: for each (r, s, v) there is another valid one, (r, n - s) with the other v.

    Only the low-s form (EIP-2) and the plain recovery ids are accepted, so one
    message has one signature; ``signature`` is ``0x`` and 130 hex digits (the schema).
    """
    raw = bytes.fromhex(signature[2:])
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v not in SIGNATURE_V:
        raise Unauthorized(
            f"the signature's recovery id v is {v}; it must be 27 or 28 (or 0 or 1): "
            "sign the message with personal_sign (EIP-191)",
            code="invalid_signature_v",
        )
    if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise Unauthorized("the signature's r or s is out of range: it is not a signature", code="invalid_signature")
    if s > SECP256K1_N // 2:
        raise Unauthorized(
            "the signature's s is in the upper half of the curve order (a malleated signature, refused by EIP-2): "
            "sign again with a wallet that writes canonical low-s signatures",
            code="malleable_signature",
        )


@router.post(
    "/login",
    response_model=LoginResponse,
    summary="Sign in with an EIP-4361 message",
    responses=errors(400, 401, 403, 503),
)
def login(body: LoginRequest, services: Services = Depends(get_services)) -> LoginResponse:
    """Check the signed message, look the signer up on-chain and issue a session token.

    The message must name this server's domain and a URI on its origin (``GET
    /auth/nonce`` says which), this ledger's chain and a live nonce; its ``Issued
    At`` may be at most a minute ahead of the server's clock, and it is accepted for
    at most ten minutes after that whatever its ``Expiration Time``; the signature
    must be canonical (low s; v 27 or 28, or 0 or 1). Each refusal has its own code.
    """
    state = auth_state(services)
    cfg = services.config
    message = _parse_message(body.message)
    _check_audience(message, cfg)
    chain = services.chain()
    if int(message.chain_id) != chain.chain_id:
        raise Unauthorized(
            f"message is for chain {message.chain_id}, this ledger is on chain {chain.chain_id}", code="chain_mismatch"
        )
    now = datetime.fromtimestamp(time.time(), UTC)
    _check_validity_window(message, cfg, now)
    if not state.nonces.is_live(message.nonce):
        raise Unauthorized("unknown, used or expired nonce; get a new one from GET /auth/nonce", code="invalid_nonce")
    _check_signature_form(body.signature)
    try:
        # Same clock as the window check above, so the expiry was decided there; siwe checks Not Before.
        message.verify(body.signature, domain=cfg.domain, nonce=message.nonce, timestamp=now)
    except siwe_errors.NotYetValidMessage:
        raise Unauthorized(
            f"the message is not valid yet (Not Before {message.not_before}): sign in after that time",
            code="message_not_yet_valid",
        ) from None
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
