"""The project's single keccak-256 implementation.

Everything in credit-ledger that needs Ethereum's keccak-256 (leaf hashes, tree
nodes, content hashes) calls :func:`keccak256` from here, so the hash can only
ever be computed one way. It is the ``tiny-keccak`` 0.4.0 binding (Rust, via
PyO3), the fastest found for Python 3.11: about 450-900 ns per 64-byte input
depending on the machine, against several microseconds for ``eth-hash``'s
pycryptodome backend.

The binding is re-exported as is, not wrapped: a Python-level wrapper would add
a function call to the hottest loop of the tree build. The price is that the
argument must be ``bytes`` exactly (``bytearray``/``memoryview`` raise
``TypeError``); use :func:`keccak256_any` for those.
"""

from __future__ import annotations

from collections.abc import Callable

from tiny_keccak import keccak256 as _tiny_keccak256

__all__ = ["KECCAK_EMPTY", "keccak256", "keccak256_any"]

keccak256: Callable[[bytes], bytes] = _tiny_keccak256
"""keccak256(data: bytes) -> bytes: the 32-byte Ethereum keccak-256 digest."""


def keccak256_any(data: bytes | bytearray | memoryview) -> bytes:
    """keccak-256 of any bytes-like object (slower path for non-``bytes`` input)."""
    return _tiny_keccak256(bytes(data))


KECCAK_EMPTY: bytes = _tiny_keccak256(b"")
"""keccak256(b"") -- a known vector, also checked by the tests."""
