"""The export archive: every platform export a round scored, kept by its hash.

A platform export is a directory (``manifest.json`` plus two tables, Parquet or CSV,
see ``scoring/DATA_FORMAT.md``). When a round is scored from one, the export is put
here first and its **export hash** is recorded with the round (and in its batch file),
so what was scored can be read again later (the growth plan of that week, an auditor
asking the platform for exactly the file that was scored) without regenerating or
re-fetching anything. The oracle reads and validates the *staged copy*
(:meth:`ExportArchive.staged`), so the bytes scored are the bytes archived; a copy that
does not validate is dropped, and the archive is left as it was.

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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import CreditLedgerError
from scoring.export import read_platform_data
from scoring.platform import PlatformData

__all__ = [
    "EXPORTS_DIR",
    "INDEX_FORMAT",
    "INDEX_NAME",
    "ExportArchive",
    "ExportError",
    "Staged",
    "archive_in",
    "export_files",
    "export_hash_of",
    "export_index",
]

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


def export_files(directory: Path) -> list[Path]:
    """The files of an export directory that its hash covers (all but the truth and the index)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name not in NOT_ARCHIVED)


def export_index(directory: str | Path) -> dict[str, str]:
    """``{file name: sha256 hex}`` of the files the export hash covers."""
    return {p.name: _sha256_file(p) for p in export_files(Path(directory))}


def export_hash_of(directory: str | Path) -> bytes:
    """The export hash of an export directory (see the module docstring)."""
    files = export_index(directory)
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


@dataclass
class Staged:
    """A copy of an export inside the archive's directory, not yet in the archive.

    ``path`` holds the copied files and ``export_hash`` their hash; :meth:`adopt` moves
    the copy into the archive under that hash. Made by :meth:`ExportArchive.staged`,
    which drops a copy that was not adopted.
    """

    archive: ExportArchive
    path: Path
    export_hash: bytes

    def adopt(self) -> bytes:
        """Put the staged copy into the archive (idempotent: an export archived before stays)."""
        self.archive.adopt(self.path, self.export_hash)
        return self.export_hash


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
        with self.staged(directory) as staged:
            return staged.adopt()

    @contextmanager
    def staged(self, directory: str | Path) -> Iterator[Staged]:
        """Copy an export directory into a private staging directory of the archive and hash it.

        Inside the block, read and check the copy (``staged.path``) and call
        ``staged.adopt()`` to archive it; on leaving, a copy not adopted is removed, so an
        export refused inside the block leaves the archive as it was.
        """
        source = Path(directory)
        if not (source / "manifest.json").is_file():
            raise ExportError(f"{source} is not a platform export: no manifest.json")
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        try:
            for file in export_files(source):
                shutil.copyfile(file, path / file.name)
            yield Staged(self, path, hashlib.sha256(_index(export_index(path))).digest())
        finally:
            shutil.rmtree(path, ignore_errors=True)
            if created and not any(self.root.iterdir()):
                self.root.rmdir()  # a refused first export leaves no trace, not even the directory

    def _adopt(self, staging: Path) -> bytes:
        export_hash = hashlib.sha256(_index(export_index(staging))).digest()
        self.adopt(staging, export_hash)
        return export_hash

    def adopt(self, staging: Path, export_hash: bytes) -> None:
        """Move a staged directory whose files hash to ``export_hash`` into the archive."""
        files = export_index(staging)
        if "manifest.json" not in files:
            raise ExportError("an export needs a manifest.json")
        index = _index(files)
        if hashlib.sha256(index).digest() != export_hash:
            raise ExportError(f"the staged export changed: it no longer hashes to {export_hash.hex()}")
        target = self.path_for(export_hash)
        if (target / INDEX_NAME).is_file():
            return  # archived before: same bytes, same name
        (staging / INDEX_NAME).write_bytes(index)
        for extra in staging.iterdir():
            if extra.name not in files and extra.name != INDEX_NAME:
                extra.unlink()
        _fsync_tree([*staging.iterdir(), staging])
        shutil.rmtree(target, ignore_errors=True)  # a half-written leftover, never a whole export
        os.replace(staging, target)
        _fsync_tree([self.root])

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
        present = {p.name for p in export_files(directory)}
        if present != set(files):
            raise ExportError(
                f"export {export_hash.hex()}: files {sorted(present)} differ from the index {sorted(files)}"
            )
        for name, expected in files.items():
            if _sha256_file(directory / name) != expected:
                raise ExportError(f"export {export_hash.hex()}: {name} does not match its hash (altered)")
        return directory
