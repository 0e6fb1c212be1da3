"""check_export: the staged copy is what is read and archived; a refusal leaves the archive as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring.errors import ExportEmpty, ManifestInvalid
from scoring.synth import PlatformData, generate_merchants
from sources import platform
from sources.exports import ExportArchive, ExportError, export_hash_of
from sources.platform import check_export


@pytest.fixture(scope="module")
def data() -> PlatformData:
    return generate_merchants(40, seed=6)


def test_a_checked_export_is_archived_under_the_hash_of_its_files(tmp_path: Path, data: PlatformData) -> None:
    directory = data.write(tmp_path / "export", "csv")
    archive = ExportArchive(tmp_path / "exports")
    lines: list[str] = []
    checked = check_export(directory, archive, log=lines.append)
    assert checked.export_hash == export_hash_of(directory) and checked.export_hash in archive
    assert checked.data.files["daily"] == str(directory / "daily.csv")  # messages name the operator's path
    assert json.loads(checked.report)["export_hash"] == checked.export_hash.hex()
    assert [p.name for p in archive.root.iterdir()] == [checked.export_hash.hex()]  # no staging left
    assert len(lines) == 1 and f"{len(data.daily):,} accepted, 0 rejected" in lines[0]


def test_a_refused_export_leaves_the_archive_as_it_was(tmp_path: Path, data: PlatformData) -> None:
    archive = ExportArchive(tmp_path / "exports")
    bad = data.write(tmp_path / "bad")
    (bad / "manifest.json").write_text("{")
    with pytest.raises(ManifestInvalid):
        check_export(bad, archive)
    assert not archive.root.exists()  # refused before a byte was copied
    empty = PlatformData(data.segment, data.entities, data.daily.iloc[:0], data.window_start, data.window_end)
    with pytest.raises(ExportEmpty):
        check_export(empty.write(tmp_path / "empty"), archive)  # refused after staging: the copy is dropped
    assert not archive.root.exists()
    good = check_export(data.write(tmp_path / "good"), archive).export_hash
    with pytest.raises(ExportEmpty):
        check_export(tmp_path / "empty", archive)
    assert [p.name for p in archive.root.iterdir()] == [good.hex()]


def test_a_staged_copy_that_changes_is_not_archived(tmp_path: Path, data: PlatformData) -> None:
    archive = ExportArchive(tmp_path / "exports")
    with archive.staged(data.write(tmp_path / "export")) as staged:
        (staged.path / "daily.parquet").write_bytes(b"changed after it was hashed")
        with pytest.raises(ExportError, match="changed"):
            staged.adopt()
    assert not archive.root.exists()  # nothing archived, not even the directory


def test_a_large_export_announces_each_step(
    tmp_path: Path, data: PlatformData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platform, "LARGE_EXPORT_BYTES", 0)
    lines: list[str] = []
    check_export(data.write(tmp_path / "export"), ExportArchive(tmp_path / "exports"), log=lines.append)
    assert [line.rsplit(": ", 1)[1] for line in lines[:3]] == ["copying and hashing 0 MB…", "reading…", "validating…"]
