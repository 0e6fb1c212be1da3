"""Merkle tree of a round's decisions, byte-compatible with OpenZeppelin.

The tree, its proofs and its dump are exactly those of
``@openzeppelin/merkle-tree`` 1.0.8 ``StandardMerkleTree`` (default options),
so ``MerkleProof.verify`` in Solidity and the JS library accept what we emit,
and a dump written by either side loads in the other:

* leaves are the caller's 32-byte leaf hashes (for decisions,
  :func:`ledger.leaf.leaf_hash`), sorted ascending as big-endian numbers --
  the same as ``bytes`` order for equal lengths; the sort is stable, so equal
  leaves keep their input order as in JS;
* the tree is one array of ``2n - 1`` nodes, root first; node ``i`` has
  children ``2i + 1`` and ``2i + 2``; the sorted leaves fill the array from
  the end backwards (the smallest leaf is the last node);
* an internal node is ``keccak256`` of its two children, smaller first
  (OZ's ``hashPair``/``commutativeKeccak256``);
* a proof is the list of siblings from the leaf up to (excluding) the root.

Speed: building a million-leaf tree costs ``n - 1`` keccaks, which dominate;
the hashing runs level by level in list comprehensions over array slices
(each level of the array is contiguous and its children are the next level's
contiguous slice), and all proofs are built top-down by sharing the parent's
proof tuple, with no hashing at all.
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from foundation.errors import CreditLedgerError, shown
from ledger.keccak import keccak256
from ledger.leaf import LEAF_ENCODING, DecisionLeaf, LeafError, leaf_hashes

__all__ = [
    "DUMP_FORMAT",
    "MerkleError",
    "MerkleTree",
    "dump",
    "hash_pair",
    "load",
    "process_proof",
    "proof_from_nodes",
    "proof_positions",
    "verify",
]

DUMP_FORMAT = "standard-v1"

# Below this size Python's sort beats numpy's import and conversion costs.
_NUMPY_SORT_MIN = 4096


class MerkleError(CreditLedgerError, ValueError):
    """A tree cannot be built, a proof is malformed, or a dump does not check out."""

    code = "merkle_invalid"
    hint = "the tree, proof or dump does not check out; rebuild it from the batch file"
    exit_code = 2


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Internal node: keccak256 of the two children, numerically smaller first."""
    return keccak256(a + b if a < b else b + a)


def _check_nodes(hashes: Sequence[bytes], what: str) -> None:
    # Two C-speed passes instead of one Python-level generator: this runs on
    # every million-leaf build.
    if set(map(type, hashes)) <= {bytes} and set(map(len, hashes)) <= {32}:
        return
    for i, h in enumerate(hashes):
        if type(h) is not bytes or len(h) != 32:
            raise MerkleError(f"{what}[{i}]: expected 32 bytes, got {type(h).__name__} {shown(h, 80)}")


def _arrange(hashes: list[bytes]) -> tuple[list[bytes], list[int]]:
    """The leaf layer (sorted leaves, largest first) and each input's tree index.

    Sorting is ascending and stable, as JS ``Array.prototype.sort``.
    """
    n = len(hashes)
    last = 2 * n - 2
    if n >= _NUMPY_SORT_MIN:
        arranged = _arrange_numpy(hashes)
        if arranged is not None:
            return arranged
    order = sorted(range(n), key=hashes.__getitem__)
    tree_index = [0] * n
    for k, i in enumerate(order):
        tree_index[i] = last - k
    return [hashes[i] for i in reversed(order)], tree_index


def _arrange_numpy(hashes: list[bytes]) -> tuple[list[bytes], list[int]] | None:
    """:func:`_arrange` for large inputs; None if numpy is missing or keys tie."""
    try:
        import numpy as np
    except ImportError:  # numpy is a project dependency; stay correct without it
        return None
    # At a million leaves, Python's sort of 32-byte keys plus the gather into
    # sorted order cost over a second (comparisons and cache misses on a
    # million scattered objects); numpy sorts the first 64 bits of each hash
    # and moves the rows in a fraction of that. Distinct prefixes decide the
    # full order; if two prefixes tie (duplicate leaves, or a 2**-64 accident)
    # the caller falls back to the exact Python sort.
    n = len(hashes)
    joined = b"".join(hashes)
    first = np.frombuffer(joined, dtype=">u8")[::4]
    order = np.argsort(first, kind="stable")
    ranked = first[order]
    if bool((ranked[1:] == ranked[:-1]).any()):
        return None
    descending = np.frombuffer(joined, dtype="V32")[order[::-1]].tobytes()
    leaves: list[bytes] = []
    chunk = _CHUNK.size
    whole = len(descending) - len(descending) % chunk
    unpack_from = _CHUNK.unpack_from
    for offset in range(0, whole, chunk):
        leaves.extend(unpack_from(descending, offset))
    leaves.extend(descending[j : j + 32] for j in range(whole, len(descending), 32))
    positions = np.empty(n, dtype=np.int64)
    positions[order] = np.arange(2 * n - 2, n - 2, -1, dtype=np.int64)
    tree_index: list[int] = positions.tolist()
    return leaves, tree_index


# Slicing a buffer into 32-byte objects 1024 at a time through struct beats
# a per-slice comprehension by about two to one.
_CHUNK = struct.Struct("32s" * 1024)


class GcPaused:
    """Pause the cyclic GC: building millions of tuples otherwise triggers
    repeated full collections that traverse all of them (about +50% time)."""

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()


class MerkleTree:
    """An OZ StandardMerkleTree over leaf hashes (use :meth:`build`).

    Input index ``i`` always refers to the caller's order of leaf hashes, e.g.
    the order of decisions in a round; :meth:`tree_index` maps it to the node
    array.
    """

    __slots__ = ("_nodes", "_tree_index")

    def __init__(self, nodes: list[bytes], tree_index: list[int]) -> None:
        """Wrap an already-built node array; prefer :meth:`build` or :func:`load`."""
        self._nodes = nodes
        self._tree_index = tree_index

    @classmethod
    def build(cls, leaf_hashes: Sequence[bytes]) -> MerkleTree:
        """Build the tree of ``leaf_hashes`` (32-byte each, at least one)."""
        hashes = leaf_hashes if type(leaf_hashes) is list else list(leaf_hashes)
        n = len(hashes)
        if n == 0:
            raise MerkleError("cannot build a Merkle tree of zero leaves")
        _check_nodes(hashes, "leaf_hashes")

        leaf_layer, tree_index = _arrange(hashes)
        nodes: list[bytes] = [b""] * (n - 1)
        nodes += leaf_layer

        k256 = keccak256
        # Internal nodes are positions 0..n-2; level L spans [2**L - 1, 2**(L+1) - 1)
        # and its children are the contiguous slice twice as long one level down.
        level = (n - 1).bit_length() - 1
        while level >= 0:
            start = (1 << level) - 1
            stop = min((1 << (level + 1)) - 1, n - 1)
            kids = nodes[2 * start + 1 : 2 * stop + 1]
            nodes[start:stop] = [k256(a + b) if a < b else k256(b + a) for a, b in zip(kids[0::2], kids[1::2])]
            level -= 1
        return cls(nodes, tree_index)

    # -- inspection -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._tree_index)

    @property
    def root(self) -> bytes:
        return self._nodes[0]

    @property
    def nodes(self) -> list[bytes]:
        """The node array, root first, as OZ's ``tree`` (do not mutate)."""
        return self._nodes

    @property
    def tree_indices(self) -> list[int]:
        """``tree_index(i)`` for every input leaf (do not mutate)."""
        return self._tree_index

    def tree_index(self, i: int) -> int:
        """Position of input leaf ``i`` in :attr:`nodes`."""
        return self._tree_index[self._check_index(i)]

    def leaf(self, i: int) -> bytes:
        """The leaf hash of input leaf ``i``."""
        return self._nodes[self._tree_index[self._check_index(i)]]

    def _check_index(self, i: int) -> int:
        n = len(self._tree_index)
        if type(i) is not int or not 0 <= i < n:
            raise IndexError(f"leaf index {i!r} out of range for a tree of {n} leaves")
        return i

    # -- proofs ---------------------------------------------------------------

    def proof(self, i: int) -> list[bytes]:
        """Sibling hashes from input leaf ``i`` up to the root (empty if n == 1)."""
        nodes = self._nodes
        pos = self._tree_index[self._check_index(i)]
        proof: list[bytes] = []
        while pos > 0:
            # odd positions are left children, their sibling is to the right
            proof.append(nodes[pos + 1] if pos & 1 else nodes[pos - 1])
            pos = (pos - 1) >> 1
        return proof

    def all_proofs(self) -> list[tuple[bytes, ...]]:
        """Every input leaf's proof, in input order, as tuples of siblings.

        Tuples rather than lists: a child's proof is its sibling prepended to
        its parent's proof, and a one-allocation tuple concatenation makes the
        million-leaf case about twice as fast as lists. Equal in content to
        :meth:`proof`.
        """
        nodes = self._nodes
        size = len(nodes)
        n = len(self._tree_index)
        first_leaf = n - 1
        by_position: list[tuple[bytes, ...]] = [()] if n == 1 else []
        parent_proofs: list[tuple[bytes, ...]] = [()]
        deepest = size.bit_length() - 1
        with GcPaused():
            for level in range(1, deepest + 1):
                start = (1 << level) - 1
                stop = min((1 << (level + 1)) - 1, size)
                block = nodes[start:stop]
                # a left child's proof starts with its right sibling and vice versa
                proofs = [
                    proof
                    for left, right, up in zip(block[0::2], block[1::2], parent_proofs)
                    for proof in ((right,) + up, (left,) + up)
                ]
                if stop > first_leaf:
                    by_position += proofs[max(start, first_leaf) - start :]
                parent_proofs = proofs
            return [by_position[t - first_leaf] for t in self._tree_index]


# -- proofs from a stored node array -------------------------------------------------


def proof_positions(tree_index: int) -> list[int]:
    """Node positions of the proof of the node at ``tree_index``, leaf upwards.

    In the node array (root first; node ``i`` has children ``2i+1`` and ``2i+2``)
    the sibling of ``i`` is ``i-1`` if ``i`` is even, else ``i+1``; the walk goes
    to the parent ``(i-1)//2`` and stops at the root.
    """
    positions: list[int] = []
    i = tree_index
    while i > 0:
        positions.append(i - 1 if i % 2 == 0 else i + 1)
        i = (i - 1) // 2
    return positions


def proof_from_nodes(nodes: bytes, tree_index: int) -> list[bytes]:
    """The Merkle proof of node ``tree_index`` from a packed node array.

    ``nodes`` is ``(2n-1)*32`` bytes, root first, in OpenZeppelin
    ``StandardMerkleTree`` order (``b"".join(tree.nodes)``, what the store keeps per
    round). Equal to ``MerkleTree.proof(leaf)`` for the leaf stored at ``tree_index``.
    """
    size = len(nodes)
    if size == 0 or size % 32 or (size // 32) % 2 == 0:
        raise MerkleError(f"nodes: {size} bytes is not (2n-1)*32")
    count = size // 32
    if not isinstance(tree_index, int) or not 0 <= tree_index < count:
        raise MerkleError(f"tree_index: {shown(tree_index, None)} out of range 0..{count - 1}")
    return [nodes[p * 32 : (p + 1) * 32] for p in proof_positions(tree_index)]


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` (OZ ``processProof``)."""
    if type(leaf) is not bytes or len(leaf) != 32:
        raise MerkleError(f"leaf: expected 32 bytes, got {shown(leaf, 80)}")
    _check_nodes(proof, "proof")
    k256 = keccak256
    node = leaf
    for sibling in proof:
        node = k256(node + sibling) if node < sibling else k256(sibling + node)
    return node


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` proves ``leaf`` under ``root``; malformed input is False."""
    if type(root) is not bytes or len(root) != 32:
        return False
    try:
        return process_proof(leaf, proof) == root
    except MerkleError:
        return False


# -- dump / load ----------------------------------------------------------------


def dump(
    tree: MerkleTree,
    values: Sequence[DecisionLeaf] | Sequence[Sequence[Any]],
    leaf_encoding: Sequence[str] = LEAF_ENCODING,
) -> dict[str, Any]:
    """The OZ ``standard-v1`` dump of ``tree`` whose input leaf ``i`` is ``values[i]``.

    ``values`` are DecisionLeafs (written via ``to_values()``) or ready-made
    JSON value lists. Key order matches ``StandardMerkleTree.dump()``, so
    ``json.dumps(d, separators=(",", ":"))`` equals JS ``JSON.stringify``.
    Nothing is re-hashed here; :func:`load` is where a dump is checked.
    """
    if len(values) != len(tree):
        raise MerkleError(f"values: {len(values)} values for a tree of {len(tree)} leaves")
    return {
        "format": DUMP_FORMAT,
        "leafEncoding": list(leaf_encoding),
        "tree": ["0x" + h.hex() for h in tree.nodes],
        "values": [
            {"value": v.to_values() if isinstance(v, DecisionLeaf) else v, "treeIndex": t}
            for v, t in zip(values, tree.tree_indices)
        ],
    }


def _parse_tree(tree: Any) -> list[bytes]:
    if not isinstance(tree, list):
        raise MerkleError(f"tree: expected a list of hex nodes, got {type(tree).__name__}")
    try:
        nodes = [bytes.fromhex(s[2:]) for s in tree if s[:2] == "0x"]
    except (TypeError, ValueError):
        nodes = []
    if len(nodes) == len(tree) and set(map(len, tree)) <= {66} and set(map(len, nodes)) <= {32}:
        return nodes
    for j, s in enumerate(tree):
        ok = isinstance(s, str) and len(s) == 66 and s[:2] == "0x"
        if ok:
            try:
                ok = len(bytes.fromhex(s[2:])) == 32
            except ValueError:
                ok = False
        if not ok:
            raise MerkleError(f"tree[{j}]: malformed node {shown(s, 80)}")
    raise MerkleError("tree: malformed")  # unreachable: the scan names the node


def load(data: Mapping[str, Any]) -> tuple[MerkleTree, list[DecisionLeaf]]:
    """Rebuild a ``standard-v1`` dump of decision leaves from its values alone.

    Every value is parsed and re-hashed, the tree is rebuilt in canonical
    (sorted) order, and the dump must match it exactly: each value's leaf
    hash at its ``treeIndex``, each ``treeIndex`` where sorting puts it, and
    every internal node. The first discrepancy raises :class:`MerkleError`
    naming the value or node (nodes are scanned from the leaves up, so the
    reported node is the lowest wrong one). Returns the rebuilt tree and the
    leaves in the dump's value order.
    """
    if not isinstance(data, Mapping):
        raise MerkleError(f"dump: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != DUMP_FORMAT:
        raise MerkleError(f"format: expected {DUMP_FORMAT!r}, got {shown(data.get('format'), 80)}")
    encoding = data.get("leafEncoding")
    if not isinstance(encoding, list) or tuple(encoding) != LEAF_ENCODING:
        raise MerkleError(
            f"leafEncoding: expected the decision leaf encoding {list(LEAF_ENCODING)}, got {shown(encoding, 200)}"
        )
    raw_values = data.get("values")
    if not isinstance(raw_values, list) or not raw_values:
        raise MerkleError("values: expected a non-empty list (a tree has at least one leaf)")
    n = len(raw_values)
    dumped = _parse_tree(data.get("tree"))
    if len(dumped) != 2 * n - 1:
        raise MerkleError(f"tree: {len(dumped)} nodes, expected {2 * n - 1} for {n} values")

    leaves: list[DecisionLeaf] = []
    positions: list[int] = []
    for i, entry in enumerate(raw_values):
        if not isinstance(entry, Mapping) or set(entry) != {"value", "treeIndex"}:
            raise MerkleError(f"values[{i}]: expected {{'value', 'treeIndex'}}, got {shown(entry, 120)}")
        pos = entry["treeIndex"]
        if type(pos) is not int or not n - 1 <= pos < 2 * n - 1:
            raise MerkleError(f"values[{i}]: treeIndex {shown(pos, None)} is not a leaf position")
        try:
            leaves.append(DecisionLeaf.from_values(entry["value"]))
        except LeafError as exc:
            raise MerkleError(f"values[{i}]: {exc}") from exc
        positions.append(pos)

    hashes = leaf_hashes(leaves)
    for i, (h, pos) in enumerate(zip(hashes, positions)):
        if dumped[pos] != h:
            raise MerkleError(f"values[{i}]: leaf hash 0x{h.hex()} does not match tree[{pos}] 0x{dumped[pos].hex()}")
    rebuilt = MerkleTree.build(hashes)
    if rebuilt.tree_indices != positions:
        i = next(i for i, (a, b) in enumerate(zip(rebuilt.tree_indices, positions)) if a != b)
        raise MerkleError(
            f"values[{i}]: treeIndex {positions[i]} is not its sorted position "
            f"{rebuilt.tree_indices[i]} (leaves out of canonical order)"
        )
    if rebuilt.nodes != dumped:
        j = next(j for j in range(2 * n - 2, -1, -1) if rebuilt.nodes[j] != dumped[j])
        raise MerkleError(f"tree[{j}]: node 0x{dumped[j].hex()} does not match the rebuilt 0x{rebuilt.nodes[j].hex()}")
    return rebuilt, leaves
