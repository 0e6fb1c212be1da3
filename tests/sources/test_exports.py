"""The export archive: what a round scored is kept by its hash and read back checked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from scoring import build_features, validate
from scoring.synth import PlatformData, generate_merchants
from sources.exports import INDEX_NAME, ExportArchive, ExportError, export_hash_of


@pytest.fixture(scope="module")
def data() -> PlatformData:
    return generate_merchants(40, seed=5)


def test_round_trip_and_idempotent(tmp_path: Path, data: PlatformData) -> None:
    archive = ExportArchive(tmp_path / "exports")
    first = archive.put(data)
    assert archive.put(data) == first  # same bytes, same hash, written once
    assert first in archive
    back = archive.get(first)
    pd.testing.assert_frame_equal(back.entities, data.entities, check_dtype=False)  # Parquet keeps dates in ms
    pd.testing.assert_frame_equal(back.daily, data.daily, check_dtype=False, check_categorical=False)
    assert (back.window_start, back.window_end, back.segment) == (data.window_start, data.window_end, data.segment)
    assert back.truth is None  # the generator's hidden truth is never archived
    assert sorted(p.name for p in archive.path_for(first).iterdir()) == [
        "daily.parquet",
        "entities.parquet",
        INDEX_NAME,
        "manifest.json",
    ]
    assert [p.name for p in (tmp_path / "exports").iterdir()] == [first.hex()]  # no staging left behind


def test_the_archived_export_gives_the_same_features(tmp_path: Path, data: PlatformData) -> None:
    back = ExportArchive(tmp_path / "exports").get(ExportArchive(tmp_path / "exports").put(data))
    pd.testing.assert_frame_equal(build_features(back, validate(back)), build_features(data, validate(data)))


def test_hash_is_recomputable_from_the_files(tmp_path: Path, data: PlatformData) -> None:
    written = data.write(tmp_path / "export")
    archive = ExportArchive(tmp_path / "exports")
    assert archive.put_directory(written) == export_hash_of(written) == archive.put(data)


def test_another_week_has_another_hash(tmp_path: Path, data: PlatformData) -> None:
    archive = ExportArchive(tmp_path / "exports")
    assert archive.put(data) != archive.put(generate_merchants(40, seed=5, round_offset=1))


@pytest.mark.parametrize("victim", ["daily.parquet", "manifest.json", INDEX_NAME])
def test_a_changed_byte_is_refused(tmp_path: Path, data: PlatformData, victim: str) -> None:
    archive = ExportArchive(tmp_path / "exports")
    digest = archive.put(data)
    path = archive.path_for(digest) / victim
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ExportError, match="altered"):
        archive.get(digest)


def test_missing_or_extra_files_are_refused(tmp_path: Path, data: PlatformData) -> None:
    archive = ExportArchive(tmp_path / "exports")
    digest = archive.put(data)
    (archive.path_for(digest) / "extra.parquet").write_bytes(b"x")
    with pytest.raises(ExportError, match="differ from the index"):
        archive.get(digest)
    (archive.path_for(digest) / "extra.parquet").unlink()
    (archive.path_for(digest) / "daily.parquet").unlink()
    with pytest.raises(ExportError, match="differ from the index"):
        archive.get(digest)
    with pytest.raises(ExportError, match="no export"):
        archive.get(bytes(32))


def test_a_directory_without_manifest_is_not_an_export(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "daily.parquet").write_bytes(b"")
    with pytest.raises(ExportError, match="no manifest"):
        export_hash_of(tmp_path / "x")
    with pytest.raises(ExportError, match="manifest"):
        ExportArchive(tmp_path / "a").put_directory(tmp_path / "x")
