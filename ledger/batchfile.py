"""The batch file: one canonical document per anchored batch.

Format: the OpenZeppelin ``StandardMerkleTree`` ``standard-v1`` dump (``format``,
``leafEncoding``, ``tree``, ``values``: the decision leaves in input order with their
tree positions) plus one ``metadata`` object (round, segment, model and policy
versions, chain id, decision count, root, the data window's last day, and for a round
scored from a platform export the export hash and the validation report's SHA-256,
``0x`` hex; those two keys are absent when there is none, so batch files written before
them read and re-serialise unchanged). We chose the OZ dump because the reference
JavaScript library, our Python ``ledger.merkle.load`` and any auditor's script read it
as is, and it carries every node, so a root is rebuilt from the file alone.

The bytes are ``json.dumps(..., separators=(",", ":"))`` with a fixed key order and
no trailing newline; their SHA-256 is the ``contentHash`` that ``anchorBatch`` stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from foundation.errors import EXIT_INPUT, CreditLedgerError
from ledger import merkle
from ledger.leaf import LEAF_ENCODING, DecisionLeaf, LeafColumns, leaf_hashes
from ledger.merkle import MerkleTree

HASH_BYTES = 32


class BatchFileError(CreditLedgerError, ValueError):
    """A batch file is malformed or disagrees with itself."""

    code = "batch_file_invalid"
    hint = "fetch the batch file again by the sha256 the chain recorded; a file that still fails was altered"
    exit_code = EXIT_INPUT


@dataclass(frozen=True)
class BatchMetadata:
    round: int
    segment: str
    model_version: int
    policy_version: int
    chain_id: int
    decision_count: int
    root: str  # 0x-hex
    as_of: str = ""  # ISO date of the data window's last day: replay needs it for date-based products
    export_hash: str = ""  # 0x-hex export hash (sources.exports) of the export scored, "" if none
    validation_report_hash: str = ""  # 0x-hex SHA-256 of that export's validation report document

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "round": self.round,
            "segment": self.segment,
            "modelVersion": self.model_version,
            "policyVersion": self.policy_version,
            "chainId": self.chain_id,
            "decisionCount": self.decision_count,
            "root": self.root,
            "asOf": self.as_of,
        }
        if self.export_hash:
            out["exportHash"] = self.export_hash
        if self.validation_report_hash:
            out["validationReportHash"] = self.validation_report_hash
        return out

    @classmethod
    def from_json(cls, raw: Any) -> BatchMetadata:
        try:
            return cls(
                round=int(raw["round"]),
                segment=str(raw["segment"]),
                model_version=int(raw["modelVersion"]),
                policy_version=int(raw["policyVersion"]),
                chain_id=int(raw["chainId"]),
                decision_count=int(raw["decisionCount"]),
                root=str(raw["root"]),
                as_of=str(raw.get("asOf", "")),
                export_hash=_hash_field(raw, "exportHash"),
                validation_report_hash=_hash_field(raw, "validationReportHash"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BatchFileError(f"metadata: malformed ({exc})") from exc


def _hash_field(raw: Any, key: str) -> str:
    """An optional 0x-hex 32-byte hash of the metadata ("" when absent: batch files from before it)."""
    value = raw.get(key, "")
    if value == "":
        return ""
    hexdigits = value[2:] if isinstance(value, str) and value.startswith("0x") else ""
    if len(hexdigits) != 2 * HASH_BYTES or not all(c in "0123456789abcdef" for c in hexdigits):
        raise ValueError(f"{key} {value!r} is not a 0x-hex 32-byte hash")
    return str(value)


@dataclass(frozen=True)
class Batch:
    metadata: BatchMetadata
    leaves: Sequence[DecisionLeaf]  # a list, or the oracle's LeafColumns
    tree: MerkleTree

    @property
    def root(self) -> bytes:
        return self.tree.root


def build_batch(
    leaves: Sequence[DecisionLeaf] | LeafColumns,
    segment: str,
    chain_id: int,
    as_of: str = "",
    export_hash: bytes | None = None,
    validation_report_hash: bytes | None = None,
) -> Batch:
    """Tree and metadata for one round's leaves (all must share round, model and policy).

    ``export_hash`` and ``validation_report_hash`` name the platform export the round
    scored and its validation report, when there is one.

    ``leaves`` is a list of :class:`DecisionLeaf` or, on the oracle's fast path, a
    :class:`ledger.leaf.LeafColumns` (which shares round, model and policy by
    construction); ``Batch.leaves`` is then that column batch, a sequence of leaves.
    """
    if not leaves:
        raise BatchFileError("a batch needs at least one decision")
    if not isinstance(leaves, LeafColumns):
        first = leaves[0]
        for i, leaf in enumerate(leaves):
            if (leaf.round, leaf.model_version, leaf.policy_version) != (
                first.round,
                first.model_version,
                first.policy_version,
            ):
                raise BatchFileError(f"leaf {i} has round/model/policy differing from leaf 0")
        leaves = list(leaves)
        tree = MerkleTree.build(leaf_hashes(leaves))
        rnd, mv, pv = first.round, first.model_version, first.policy_version
    else:
        tree = MerkleTree.build(leaves.hashes())
        rnd, mv, pv = leaves.round, leaves.model_version, leaves.policy_version
    metadata = BatchMetadata(
        round=rnd,
        segment=segment,
        model_version=mv,
        policy_version=pv,
        chain_id=chain_id,
        decision_count=len(leaves),
        root="0x" + tree.root.hex(),
        as_of=as_of,
        export_hash="0x" + export_hash.hex() if export_hash else "",
        validation_report_hash="0x" + validation_report_hash.hex() if validation_report_hash else "",
    )
    return Batch(metadata, leaves, tree)


_COMPACT = (",", ":")


def to_bytes(batch: Batch) -> bytes:
    """The batch file's bytes: those of :func:`to_bytes_reference` (a test keeps them equal)."""
    return b"".join(to_chunks(batch))


#: Leaves per chunk of :func:`to_chunks` (about 20 MB of text).
CHUNK_LEAVES = 50_000


def to_chunks(batch: Batch) -> Iterator[bytes]:
    """The batch file's bytes in pieces, assembled from text without a document model.

    A million-leaf batch as nested dicts and lists for ``json.dumps`` is tens of
    millions of small objects, and the whole file is over 400 MB; here the node
    array is hex-encoded in one call, each value is one formatted string
    (``LeafColumns.values_json``), and the text is encoded a slice of leaves at a
    time, so :meth:`ledger.documents.DocumentStore.put_chunks` can hash and write
    it without the whole file in memory twice.
    """
    tree = batch.tree
    leaves = batch.leaves
    if len(leaves) != len(tree):
        raise merkle.MerkleError(f"values: {len(leaves)} values for a tree of {len(tree)} leaves")
    columns = leaves if isinstance(leaves, LeafColumns) else LeafColumns.from_leaves(leaves)
    head = "".join(
        (
            '{"format":',
            json.dumps(merkle.DUMP_FORMAT),
            ',"leafEncoding":',
            json.dumps(list(LEAF_ENCODING), separators=_COMPACT),
            ',"tree":["0x',
        )
    )
    yield head.encode()
    # one hex string with "|" after every node, then "|" -> '","0x' (hex has no "|")
    yield b"".join(tree.nodes).hex("|", -HASH_BYTES).replace("|", '","0x').encode()
    yield b'"],"values":['
    tree_indices = tree.tree_indices
    for start in range(0, len(columns), CHUNK_LEAVES):
        stop = start + CHUNK_LEAVES
        values = ",".join(
            [
                f'{{"value":{v},"treeIndex":{t}}}'
                for v, t in zip(columns.values_json(start, stop), tree_indices[start:stop])
            ]
        )
        yield (values if start == 0 else "," + values).encode()
    yield ('],"metadata":' + json.dumps(batch.metadata.to_json(), separators=_COMPACT) + "}").encode()


def to_bytes_reference(batch: Batch) -> bytes:
    """The batch file as ``json.dumps`` of the OZ dump (the format's definition; slow)."""
    document = merkle.dump(batch.tree, list(batch.leaves))
    document["metadata"] = batch.metadata.to_json()
    return json.dumps(document, separators=_COMPACT, check_circular=False).encode()


def from_bytes(data: bytes) -> Batch:
    """Parse and fully re-check a batch file (every leaf re-hashed, every node rebuilt)."""
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BatchFileError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict) or "metadata" not in document:
        raise BatchFileError("missing metadata object")
    metadata = BatchMetadata.from_json(document["metadata"])
    try:
        tree, leaves = merkle.load(document)
    except merkle.MerkleError as exc:
        raise BatchFileError(str(exc)) from exc
    if "0x" + tree.root.hex() != metadata.root:
        raise BatchFileError(f"metadata root {metadata.root} differs from the rebuilt root 0x{tree.root.hex()}")
    if len(leaves) != metadata.decision_count:
        raise BatchFileError("metadata decisionCount differs from the number of values")
    return Batch(metadata, leaves, tree)
