"""Content-addressed documents: model artifacts, policy parameter sets, batch files.

Each document is stored once under its SHA-256 (the hash that goes on-chain), so an
auditor who reads a hash from an event can fetch the exact bytes and check them.
The URI recorded on-chain is ``sha256:<hex>``; the API serves it, and a directory
copy of ``documents/`` is enough to replay the ledger offline.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class DocumentError(ValueError):
    """A document is missing or its bytes do not match its hash."""


def content_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def uri_for(digest: bytes) -> str:
    return f"sha256:{digest.hex()}"


class DocumentStore:
    """A directory of documents named by their hex SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, digest: bytes) -> Path:
        return self.root / f"{digest.hex()}"

    def put(self, data: bytes) -> bytes:
        """Store ``data`` (atomically, once) and return its hash."""
        digest = content_hash(data)
        path = self.path_for(digest)
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return digest

    def get(self, digest: bytes) -> bytes:
        path = self.path_for(digest)
        if not path.is_file():
            raise DocumentError(f"no document sha256:{digest.hex()} in {self.root}")
        data = path.read_bytes()
        if content_hash(data) != digest:
            raise DocumentError(f"document {path} does not match its hash: it was altered")
        return data
