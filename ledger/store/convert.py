"""Conversions at the store's edge: hex or bytes in, canonical values out (:class:`InvalidData` otherwise).

Hashes, keys and commitments are 32-byte ``bytes`` inside the store; inputs may also
be ``0x``-hex strings. Addresses are EIP-55 checksummed strings. Times are aware UTC
``datetime`` values (:class:`UTCDateTime` keeps them so on SQLite too).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from eth_utils.address import to_checksum_address

from foundation.errors import shown
from ledger.store.errors import InvalidData
from ledger.store.types import HASH_SIZE

__all__ = ["UTCDateTime", "address", "b32", "b32_or_none", "blob_or_none", "choice", "integer", "ms", "now", "utc"]

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}\Z")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}\Z")


def b32(value: Any, name: str) -> bytes:
    """32 bytes from bytes-like or ``0x``-hex; InvalidData otherwise."""
    if type(value) is bytes and len(value) == HASH_SIZE:
        return value
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    elif isinstance(value, str):
        if not _HEX32.match(value):
            raise InvalidData(f"{name}: expected '0x' + 64 hex digits, got {shown(value, 80)}")
        return bytes.fromhex(value[2:])
    if not isinstance(value, bytes):
        raise InvalidData(f"{name}: expected 32 bytes or 0x-hex, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise InvalidData(f"{name}: expected 32 bytes, got {len(value)}")
    return value


def b32_or_none(value: Any, name: str) -> bytes | None:
    return None if value is None else b32(value, name)


def blob_or_none(value: Any, name: str) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidData(f"{name}: expected bytes, got {type(value).__name__}")


def address(value: Any, name: str) -> str | None:
    """An EIP-55 checksummed address (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)) and len(value) == 20:
        value = "0x" + bytes(value).hex()
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise InvalidData(f"{name}: expected a 0x-hex address, got {shown(value, 80)}")
    return str(to_checksum_address(value))


def choice(value: Any, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise InvalidData(f"{name}: expected one of {', '.join(allowed)}, got {shown(value, None)}")
    return str(value)


def integer(value: Any, name: str, minimum: int = 0, maximum: int = (1 << 63) - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = operator.index(value)
        except TypeError:
            raise InvalidData(f"{name}: expected an integer, got {type(value).__name__}") from None
    if not minimum <= value <= maximum:
        raise InvalidData(f"{name}: {value} out of range {minimum}..{maximum}")
    return int(value)


def ms(unix_seconds: float) -> int:
    return int(unix_seconds * 1000)


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime | None, name: str) -> datetime:
    """``value`` in UTC (``now()`` for None); naive datetimes are refused."""
    if value is None:
        return now()
    if not isinstance(value, datetime):
        raise InvalidData(f"{name}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise InvalidData(f"{name}: naive datetime; pass an aware (UTC) datetime")
    return value.astimezone(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise InvalidData("naive datetime; pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
