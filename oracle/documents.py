"""Content-addressed documents: model artifacts, policy parameter sets, batch files.

Each document is stored once under its SHA-256 (the hash that goes on-chain), so an
auditor who reads a hash from an event can fetch the exact bytes and check them.
The URI recorded on-chain is ``sha256:<hex>``; the API serves it, and a directory
copy of ``documents/`` is enough to replay the ledger offline.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


class DocumentError(ValueError):
    """A document is missing or its bytes do not match its hash."""


def content_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def uri_for(digest: bytes) -> str:
    return f"sha256:{digest.hex()}"


class DocumentStore:
    """A directory of documents named by their hex SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, digest: bytes) -> Path:
        return self.root / f"{digest.hex()}"

    def put(self, data: bytes) -> bytes:
        """Store ``data`` (atomically, once, durably) and return its hash.

        A document already stored is not written again (the oracle puts the active
        model and policy documents on every round to learn their hashes).
        """
        digest = content_hash(data)
        if self.path_for(digest).exists():
            return digest
        return self.put_chunks((data,))

    def put_chunks(self, chunks: Iterable[bytes]) -> bytes:
        """Store the concatenation of ``chunks`` and return its hash, without holding it whole.

        The bytes go to a private temporary file in the directory while they are
        hashed, are flushed to disk (``fsync``), and the file is then renamed to its
        hash: a reader sees the whole document or none, and a round that records the
        hash in the store after this returns never names a document a power cut lost.
        If the document is already stored, the copy is dropped.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = hasher.digest()
            path = self.path_for(digest)
            if path.exists():
                tmp.unlink()
            else:
                os.replace(tmp, path)
                _fsync_dir(self.root)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: bytes) -> bytes:
        path = self.path_for(digest)
        if not path.is_file():
            raise DocumentError(f"no document sha256:{digest.hex()} in {self.root}")
        data = path.read_bytes()
        if content_hash(data) != digest:
            raise DocumentError(f"document {path} does not match its hash: it was altered")
        return data
