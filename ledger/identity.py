"""Pseudonyms and commitments: how real merchant ids stay off-chain.

A merchant's on-chain key is ``keccak256("credit-ledger/merchant-key/v1" || secret ||
merchant_id)``: stable per platform, unlinkable without the platform's secret. The
feature commitment in each leaf is ``keccak256(salt || feature_bytes)`` with a salt
derived per merchant and round from the same secret (HMAC-SHA256), so the public
learns nothing from it while an auditor given the salt and the inputs can recompute
it exactly.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from foundation.errors import EXIT_INPUT, CreditLedgerError
from ledger.keccak import keccak256

KEY_DOMAIN = b"credit-ledger/merchant-key/v1"
SALT_DOMAIN = b"credit-ledger/feature-salt/v1"
SECRET_BYTES = 32


class IdentityError(CreditLedgerError, ValueError):
    """The platform secret is missing or malformed."""

    code = "platform_secret_invalid"
    hint = "the platform secret file holds exactly 32 random bytes: restore the operator's copy (a new one changes every merchant key)"
    exit_code = EXIT_INPUT


class Pseudonymizer:
    """Derives merchant keys and feature-commitment salts from one platform secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != SECRET_BYTES:
            raise IdentityError(f"platform secret must be {SECRET_BYTES} bytes, got {len(secret)}")
        self._secret = secret
        # Keyed once: copying a keyed HMAC is cheaper than re-keying per merchant.
        self._salt_mac = hmac.new(secret, SALT_DOMAIN, hashlib.sha256)

    @classmethod
    def load_or_create(cls, path: Path) -> Pseudonymizer:
        """Read the secret file, creating it (mode 0600) on first use."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(SECRET_BYTES))
        return cls(path.read_bytes())

    def merchant_key(self, merchant_id: str) -> bytes:
        return keccak256(KEY_DOMAIN + self._secret + merchant_id.encode("utf-8"))

    def feature_salt(self, merchant_id: str, round_id: int) -> bytes:
        mac = self._salt_mac.copy()
        mac.update(merchant_id.encode("utf-8") + b"|" + str(round_id).encode())
        return mac.digest()

    # -- a whole round at once (same values as the per-merchant methods) ----------

    def merchant_keys(self, merchant_ids: Iterable[str]) -> list[bytes]:
        """:meth:`merchant_key` of each id, in order."""
        k = keccak256
        prefix = KEY_DOMAIN + self._secret
        return [k(prefix + m.encode("utf-8")) for m in merchant_ids]

    def feature_salts(self, merchant_ids: Iterable[str], round_id: int) -> list[bytes]:
        """:meth:`feature_salt` of each id for ``round_id``, in order.

        The same HMAC-SHA256, computed from its two precomputed SHA-256 states
        (RFC 2104: inner = H(key ^ ipad || msg), mac = H(key ^ opad || inner)),
        which avoids building an HMAC object per merchant (about 2x faster).
        """
        block = hashlib.sha256().block_size
        key = self._secret if len(self._secret) <= block else hashlib.sha256(self._secret).digest()
        key = key.ljust(block, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        inner.update(SALT_DOMAIN)
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        suffix = b"|" + str(round_id).encode()
        out: list[bytes] = []
        append = out.append
        copy_inner, copy_outer = inner.copy, outer.copy
        for m in merchant_ids:
            i = copy_inner()
            i.update(m.encode("utf-8") + suffix)
            o = copy_outer()
            o.update(i.digest())
            append(o.digest())
        return out


def feature_commitments(salts: Iterable[bytes], feature_bytes: Iterable[bytes]) -> list[bytes]:
    """:func:`feature_commitment` of each (salt, feature bytes) pair, in order."""
    k = keccak256
    return [k(s + f) for s, f in zip(salts, feature_bytes)]


def feature_commitment(salt: bytes, feature_bytes: bytes) -> bytes:
    """The bytes32 a leaf carries for its feature vector."""
    return keccak256(salt + feature_bytes)
