"""The batch file: one canonical document per anchored batch.

Format: the OpenZeppelin ``StandardMerkleTree`` ``standard-v1`` dump (``format``,
``leafEncoding``, ``tree``, ``values``: the decision leaves in input order with their
tree positions) plus one ``metadata`` object (round, segment, model and policy
versions, chain id, decision count, root). We chose the OZ dump because the reference
JavaScript library, our Python ``ledger.merkle.load`` and any auditor's script read it
as is, and it carries every node, so a root is rebuilt from the file alone.

The bytes are ``json.dumps(..., separators=(",", ":"))`` with a fixed key order and
no trailing newline; their SHA-256 is the ``contentHash`` that ``anchorBatch`` stores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from ledger import merkle
from ledger.leaf import DecisionLeaf
from ledger.merkle import MerkleTree


class BatchFileError(ValueError):
    """A batch file is malformed or disagrees with itself."""


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

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "segment": self.segment,
            "modelVersion": self.model_version,
            "policyVersion": self.policy_version,
            "chainId": self.chain_id,
            "decisionCount": self.decision_count,
            "root": self.root,
            "asOf": self.as_of,
        }

    @classmethod
    def from_json(cls, raw: Any) -> "BatchMetadata":
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
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BatchFileError(f"metadata: malformed ({exc})") from exc


@dataclass(frozen=True)
class Batch:
    metadata: BatchMetadata
    leaves: list[DecisionLeaf]
    tree: MerkleTree

    @property
    def root(self) -> bytes:
        return self.tree.root


def build_batch(leaves: Sequence[DecisionLeaf], segment: str, chain_id: int, as_of: str = "") -> Batch:
    """Tree and metadata for one round's leaves (all must share round, model and policy)."""
    if not leaves:
        raise BatchFileError("a batch needs at least one decision")
    first = leaves[0]
    for i, leaf in enumerate(leaves):
        if (leaf.round, leaf.model_version, leaf.policy_version) != (first.round, first.model_version, first.policy_version):
            raise BatchFileError(f"leaf {i} has round/model/policy differing from leaf 0")
    tree = MerkleTree.build([leaf.leaf_hash() for leaf in leaves])
    metadata = BatchMetadata(
        round=first.round,
        segment=segment,
        model_version=first.model_version,
        policy_version=first.policy_version,
        chain_id=chain_id,
        decision_count=len(leaves),
        root="0x" + tree.root.hex(),
        as_of=as_of,
    )
    return Batch(metadata, list(leaves), tree)


def to_bytes(batch: Batch) -> bytes:
    document = merkle.dump(batch.tree, batch.leaves)
    document["metadata"] = batch.metadata.to_json()
    return json.dumps(document, separators=(",", ":"), check_circular=False).encode()


def content_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


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
