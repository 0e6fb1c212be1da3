"""Content-addressed documents: model artifacts, policy parameter sets, batch files, reports.

Each document is stored once under its SHA-256 (the hash that goes on-chain), so an
auditor who reads a hash from an event can fetch the exact bytes and check them.
The URI recorded on-chain is ``sha256:<hex>``; the API serves it, and a directory
copy of ``documents/`` is enough to replay the ledger offline.

Two sides, one layout (a directory of files named by their lowercase hex SHA-256):

* :class:`DocumentStore` writes documents (atomically, durably, once) and reads them
  back checked against their hash;
* a :class:`DocumentSource` (:class:`DirectoryDocuments`, :class:`HttpDocuments`) is
  how a verifier fetches them *without* checking: the auditor's replay does the
  hashing itself, so a tampered document is reported with the hash it actually has
  and where it lives.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from foundation.errors import CreditLedgerError


class DocumentError(CreditLedgerError, ValueError):
    """A document is missing or its bytes do not match its hash."""

    code = "document_error"
    hint = "fetch the document again from its source; its SHA-256 is what the chain recorded"


class DocumentMissing(DocumentError, LookupError):
    """No document is stored under the hash asked for (or the source cannot be read)."""

    code = "document_missing"
    hint = "copy the documents directory from the operator, or point --documents at its mirror"


class DocumentAltered(DocumentError):
    """A stored document's bytes no longer hash to the name it is stored under."""

    code = "document_altered"
    hint = "the copy was changed after it was written; fetch it again from a trusted mirror"


class DocumentWriteFailed(DocumentError):
    """A document could not be written (a full disk, a read-only or lost mount); nothing of it was kept."""

    code = "document_write_failed"
    hint = "free space in (or remount) the documents directory, then run the same command again"


def content_hash(data: bytes) -> bytes:
    """The SHA-256 a document is stored and anchored under."""
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
    """The URI recorded on-chain for a document: ``sha256:<hex>``."""
    return f"sha256:{digest.hex()}"


def document_path(root: Path, digest: bytes) -> Path:
    """The one naming rule of a documents directory: the lowercase hex SHA-256."""
    return Path(root) / digest.hex()


class DocumentStore:
    """A directory of documents named by their hex SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, digest: bytes) -> Path:
        """Where the document ``digest`` is (or would be) stored."""
        return document_path(self.root, digest)

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
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        except OSError as exc:
            raise DocumentWriteFailed(f"cannot write to the documents directory {self.root}: {exc.strerror}") from exc
        hasher = hashlib.sha256()
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
        except OSError as exc:  # a full disk, a lost mount: nothing of the document stays behind
            tmp.unlink(missing_ok=True)
            raise DocumentWriteFailed(f"cannot write a document to {self.root}: {exc.strerror}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: bytes) -> bytes:
        """The document ``digest``, checked against its hash (:class:`DocumentAltered` if it was changed)."""
        path = self.path_for(digest)
        if not path.is_file():
            raise DocumentMissing(f"no document sha256:{digest.hex()} in {self.root}")
        data = path.read_bytes()
        if content_hash(data) != digest:
            raise DocumentAltered(f"document {path} does not match its hash: it was altered")
        return data


# -- reading without checking: what a verifier fetches from -------------------------


@dataclass(frozen=True)
class FetchedDocument:
    data: bytes
    location: str


class DocumentSource(Protocol):
    def fetch(self, digest: bytes) -> FetchedDocument: ...


class DirectoryDocuments:
    """A documents directory, as :class:`DocumentStore` writes it (read without checking)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def location(self, digest: bytes) -> str:
        return str(document_path(self.root, digest))

    def fetch(self, digest: bytes) -> FetchedDocument:
        path = document_path(self.root, digest)
        try:
            return FetchedDocument(path.read_bytes(), str(path))
        except FileNotFoundError:
            raise DocumentMissing(f"no file {path}") from None
        except OSError as exc:
            raise DocumentMissing(f"cannot read {path}: {exc}") from None


class HttpDocuments:
    """Documents served over HTTP.

    ``base_url`` is either a template containing ``{hash}`` (the hex digest), or a
    prefix to which ``/<hex>`` is appended (e.g. ``http://host:8000/auditor/documents``).
    ``token`` is sent as a Bearer token when given.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.token = token
        self.timeout = timeout

    def url_for(self, digest: bytes) -> str:
        if "{hash}" in self.base_url:
            return self.base_url.replace("{hash}", digest.hex())
        return f"{self.base_url.rstrip('/')}/{digest.hex()}"

    def fetch(self, digest: bytes) -> FetchedDocument:
        import httpx

        url = self.url_for(digest)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.get(url, headers=headers, timeout=self.timeout, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise DocumentMissing(f"GET {url} failed: {exc}") from None
        if response.status_code != 200:
            raise DocumentMissing(f"GET {url} answered {response.status_code}")
        return FetchedDocument(response.content, url)


def document_source(spec: str | Path, token: str | None = None) -> DocumentSource:
    """A URL (``http://``/``https://``) gives :class:`HttpDocuments`; anything else is a directory."""
    text = str(spec)
    if text.startswith(("http://", "https://")):
        return HttpDocuments(text, token)
    return DirectoryDocuments(Path(text))
