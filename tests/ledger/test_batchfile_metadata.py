"""The batch file's metadata names the export a round scored and its validation report, byte-exactly.

Batch files written before ``exportHash``/``validationReportHash`` existed must still be
read, and written back to the same bytes (their SHA-256 is anchored on-chain).
"""

from __future__ import annotations

import json
import random

import pytest

from ledger import batchfile
from ledger.leaf import DecisionLeaf, LeafColumns

EXPORT = bytes(range(32))
REPORT = bytes(range(32, 64))


def _leaves(n: int) -> list[DecisionLeaf]:
    rng = random.Random(n)
    return [
        DecisionLeaf(
            rng.randbytes(32),
            4,
            rng.randint(300, 900),
            rng.randint(0, 300_000),
            1,
            (1, 2, 3, 4),
            2,
            3,
            rng.randbytes(32),
            bytes(32),
        )
        for _ in range(n)
    ]


def test_the_hashes_are_in_the_metadata_and_the_bytes_are_the_reference() -> None:
    leaves = _leaves(9)
    batch = batchfile.build_batch(
        LeafColumns.from_leaves(leaves),
        "merchant",
        31337,
        as_of="2025-05-30",
        export_hash=EXPORT,
        validation_report_hash=REPORT,
    )
    data = batchfile.to_bytes(batch)
    assert data == batchfile.to_bytes_reference(batch)
    metadata = json.loads(data)["metadata"]
    assert list(metadata)[-3:] == ["asOf", "exportHash", "validationReportHash"]  # fixed order, appended
    assert (metadata["exportHash"], metadata["validationReportHash"]) == ("0x" + EXPORT.hex(), "0x" + REPORT.hex())
    back = batchfile.from_bytes(data)
    assert (back.metadata.export_hash, back.metadata.validation_report_hash) == (
        "0x" + EXPORT.hex(),
        "0x" + REPORT.hex(),
    )
    assert batchfile.to_bytes(back) == data


def test_a_batch_file_from_before_reads_and_writes_back_unchanged() -> None:
    batch = batchfile.build_batch(_leaves(5), "merchant", 31337, as_of="2025-05-30")  # no export: as before
    data = batchfile.to_bytes(batch)
    assert b"exportHash" not in data and b"validationReportHash" not in data
    back = batchfile.from_bytes(data)
    assert (back.metadata.export_hash, back.metadata.validation_report_hash) == ("", "")
    assert batchfile.to_bytes(back) == data


@pytest.mark.parametrize("value", ["0x12", "12" * 32, 7, "0x" + "zz" * 32])
def test_a_malformed_hash_is_refused(value: object) -> None:
    batch = batchfile.build_batch(_leaves(3), "merchant", 31337, export_hash=EXPORT, validation_report_hash=REPORT)
    document = json.loads(batchfile.to_bytes(batch))
    document["metadata"]["exportHash"] = value
    with pytest.raises(batchfile.BatchFileError, match="exportHash"):
        batchfile.from_bytes(json.dumps(document, separators=(",", ":")).encode())
