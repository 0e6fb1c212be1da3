"""A small client for signing in to the API with a key (Sign-In with Ethereum).

Wallets do this in the browser; this module does it for scripts, the CLI and tests:
ask ``/auth/nonce`` for the server's domain, chain id and a fresh nonce, build the
EIP-4361 message from them, sign it and ``POST /auth/login``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage

from foundation.errors import CreditLedgerError

STATEMENT = "Sign in to credit-ledger"


class SignInError(CreditLedgerError, RuntimeError):
    """The server refused the sign-in; the message carries its error code and reason."""

    code = "sign_in_failed"
    hint = "check the API URL and that the account is a registered merchant or holds a role on this chain"


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign_in(client: httpx.Client, account: LocalAccount, lifetime: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
    """Sign in as ``account``; returns the ``/auth/login`` JSON (``token`` and who you are)."""
    challenge = client.get("/auth/nonce")
    if challenge.status_code != 200:
        raise SignInError(f"GET /auth/nonce: HTTP {challenge.status_code} {challenge.text[:200]}")
    c = challenge.json()
    if c.get("chainId") is None:
        raise SignInError("the API has no chain connection right now (chainId is null)")
    now = datetime.now(UTC)
    message = SiweMessage(
        domain=c["domain"],
        address=account.address,
        statement=STATEMENT,
        uri=c["uri"],
        version="1",
        chain_id=int(c["chainId"]),
        nonce=c["nonce"],
        issued_at=_iso(now),
        expiration_time=_iso(now + lifetime),
    ).prepare_message()
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
    reply = client.post("/auth/login", json={"message": message, "signature": signature})
    if reply.status_code != 200:
        raise SignInError(f"POST /auth/login: HTTP {reply.status_code} {reply.text[:300]}")
    body = reply.json()
    if not isinstance(body, dict):
        raise SignInError(f"POST /auth/login: expected a JSON object, got {reply.text[:300]}")
    return body
