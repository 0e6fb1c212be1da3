"""Where an auditor reads content-addressed documents: a directory, or the API.

A source hands back the bytes stored under a hash *without* checking them, plus a
location string (file path or URL): the replay does the hashing itself so that a
tampered document is reported with the hash it actually has and where it lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class DocumentMissing(LookupError):
    """No document is stored under the hash asked for (or the source cannot be read)."""


@dataclass(frozen=True)
class FetchedDocument:
    data: bytes
    location: str


class DocumentSource(Protocol):
    def fetch(self, digest: bytes) -> FetchedDocument: ...

    def describe(self) -> str: ...


class DirectoryDocuments:
    """Files named by the lowercase hex SHA-256, as :class:`oracle.documents.DocumentStore` writes them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def location(self, digest: bytes) -> str:
        return str(self.root / digest.hex())

    def fetch(self, digest: bytes) -> FetchedDocument:
        path = self.root / digest.hex()
        try:
            return FetchedDocument(path.read_bytes(), str(path))
        except FileNotFoundError:
            raise DocumentMissing(f"no file {path}") from None
        except OSError as exc:
            raise DocumentMissing(f"cannot read {path}: {exc}") from None

    def describe(self) -> str:
        return f"directory {self.root}"


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

    def describe(self) -> str:
        return f"HTTP {self.base_url}"


def document_source(spec: str | Path, token: str | None = None) -> DocumentSource:
    """A URL (``http://``/``https://``) gives :class:`HttpDocuments`; anything else is a directory."""
    text = str(spec)
    if text.startswith(("http://", "https://")):
        return HttpDocuments(text, token)
    return DirectoryDocuments(Path(text))
