"""The export archive: every platform export a round scored, kept by its hash.

A platform export is a directory (``manifest.json`` plus Parquet tables, see
``scoring/DATA_FORMAT.md``). When a round is scored from one, the export is put here
and its **export hash** is recorded with the round, so what was scored can be read
again later (the growth plan of that week, an auditor asking the platform for exactly
the file that was scored) without regenerating or re-fetching anything.

The export hash is the SHA-256 of the export's *index*: the canonical JSON (sorted
keys, no spaces) ``{"format": "credit-ledger-export-index/1", "files": {name: sha256
hex, ...}}`` over every file of the directory. It changes when any byte of any file
changes, and it can be recomputed by anyone holding the files
(:func:`export_hash_of`).

Layout: ``<root>/<export hash hex>/`` holds the files and ``index.json``. A directory is
written under a temporary name, fsync'd and renamed, so a reader sees a whole export
or none. The synthetic ground truth (``truth.parquet``) is never archived: it is not
part of what a real platform hands over.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from foundation.errors import CreditLedgerError
from scoring.synth import PlatformData, read_platform_data

__all__ = ["EXPORTS_DIR", "INDEX_FORMAT", "ExportArchive", "ExportError", "archive_in", "export_hash_of"]

#: The archive's directory under ``$CREDIT_LEDGER_HOME``.
EXPORTS_DIR = "exports"

INDEX_FORMAT = "credit-ledger-export-index/1"
INDEX_NAME = "index.json"
#: Files of an export directory that are never archived (the generator's hidden truth).
NOT_ARCHIVED = frozenset({"truth.parquet", INDEX_NAME})


class ExportError(CreditLedgerError):
    """An archived export is missing, incomplete, or no longer matches its hash."""

    code = "export_error"
    hint = "the export archive lives in $CREDIT_LEDGER_HOME/exports; restore it from a backup or re-export"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _index(files: dict[str, str]) -> bytes:
    return json.dumps({"format": INDEX_FORMAT, "files": files}, sort_keys=True, separators=(",", ":")).encode()


def _export_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name not in NOT_ARCHIVED)


def export_hash_of(directory: str | Path) -> bytes:
    """The export hash of an export directory (see the module docstring)."""
    files = {p.name: _sha256_file(p) for p in _export_files(Path(directory))}
    if "manifest.json" not in files:
        raise ExportError(f"{directory} is not a platform export: no manifest.json")
    return hashlib.sha256(_index(files)).digest()


def _fsync_tree(paths: Iterable[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def archive_in(home: str | Path) -> ExportArchive:
    """The export archive of the ledger whose home directory is ``home``."""
    return ExportArchive(Path(home) / EXPORTS_DIR)


class ExportArchive:
    """A directory of exports named by their export hash."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, export_hash: bytes) -> Path:
        return self.root / export_hash.hex()

    def __contains__(self, export_hash: object) -> bool:
        return isinstance(export_hash, bytes) and (self.path_for(export_hash) / INDEX_NAME).is_file()

    def put(self, data: PlatformData) -> bytes:
        """Write ``data`` as an export, archive it, and return its export hash (idempotent)."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        try:
            data.write(staging)
            return self._adopt(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def put_directory(self, directory: str | Path) -> bytes:
        """Archive a copy of an export directory (a platform's own export) and return its hash."""
        source = Path(directory)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        try:
            for path in _export_files(source):
                shutil.copyfile(path, staging / path.name)
            return self._adopt(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _adopt(self, staging: Path) -> bytes:
        files = {p.name: _sha256_file(p) for p in _export_files(staging)}
        if "manifest.json" not in files:
            raise ExportError("an export needs a manifest.json")
        index = _index(files)
        export_hash = hashlib.sha256(index).digest()
        target = self.path_for(export_hash)
        if (target / INDEX_NAME).is_file():
            return export_hash  # archived before: same bytes, same name
        (staging / INDEX_NAME).write_bytes(index)
        for extra in staging.iterdir():
            if extra.name not in files and extra.name != INDEX_NAME:
                extra.unlink()
        _fsync_tree([*staging.iterdir(), staging])
        shutil.rmtree(target, ignore_errors=True)  # a half-written leftover, never a whole export
        os.replace(staging, target)
        _fsync_tree([self.root])
        return export_hash

    def get(self, export_hash: bytes) -> PlatformData:
        """The archived export, every file checked against the index and the index against its hash."""
        directory = self.verified(export_hash)
        return read_platform_data(directory)

    def verified(self, export_hash: bytes) -> Path:
        """The directory of an archived export after checking every byte of it."""
        directory = self.path_for(export_hash)
        index_path = directory / INDEX_NAME
        if not index_path.is_file():
            raise ExportError(f"no export {export_hash.hex()} in {self.root}")
        index = index_path.read_bytes()
        if hashlib.sha256(index).digest() != export_hash:
            raise ExportError(f"export {export_hash.hex()}: its index does not match its hash (altered)")
        files = json.loads(index)["files"]
        present = {p.name for p in _export_files(directory)}
        if present != set(files):
            raise ExportError(
                f"export {export_hash.hex()}: files {sorted(present)} differ from the index {sorted(files)}"
            )
        for name, expected in files.items():
            if _sha256_file(directory / name) != expected:
                raise ExportError(f"export {export_hash.hex()}: {name} does not match its hash (altered)")
        return directory
