"""The content-addressed document store: streamed writes, atomic names, tamper detection."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.documents import DocumentError, DocumentStore


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.binary(max_size=300), max_size=12))
def test_streamed_document_is_named_by_the_hash_of_its_bytes(tmp_path: Path, chunks: list[bytes]) -> None:
    store = DocumentStore(tmp_path / "documents")
    whole = b"".join(chunks)
    digest = store.put_chunks(iter(chunks))
    assert digest == hashlib.sha256(whole).digest()
    assert store.path_for(digest).read_bytes() == whole
    assert store.get(digest) == whole
    assert store.put(whole) == digest  # stored once; the second copy is dropped
    assert _leftovers(store.root) == []


def test_a_failing_writer_leaves_nothing_behind(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")

    def chunks() -> Iterator[bytes]:
        yield b'{"format":'
        raise RuntimeError("serializer failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        store.put_chunks(chunks())
    assert list(store.root.iterdir()) == []


def test_an_altered_document_is_refused(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    digest = store.put(b"batch file bytes")
    store.path_for(digest).write_bytes(b"batch file bytez")
    with pytest.raises(DocumentError, match="altered"):
        store.get(digest)
    with pytest.raises(DocumentError, match="no document"):
        store.get(bytes(32))


def test_a_failed_write_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    """A full disk mid-document (ENOSPC from the file system) is DocumentWriteFailed; no temp file stays."""
    import errno

    from ledger.documents import DocumentWriteFailed

    store = DocumentStore(tmp_path / "documents")

    def chunks() -> Iterator[bytes]:
        yield b"part one"
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DocumentWriteFailed, match="No space left on device") as caught:
        store.put_chunks(chunks())
    assert caught.value.code == "document_write_failed" and caught.value.exit_code == 1
    assert list((tmp_path / "documents").iterdir()) == []
