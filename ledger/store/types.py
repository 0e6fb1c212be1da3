"""The store's vocabulary: segments, round kinds and the statuses of rounds, anchors, disputes.

The segment names are the on-chain ``Segment`` enum's (:mod:`ledger.enums`), in the
same order; the statuses are the store's own.
"""

from __future__ import annotations

from typing import Final, Literal

from ledger.enums import Segment as _SegmentEnum

__all__ = [
    "ANCHOR_STATUSES",
    "DISPUTE_STATUSES",
    "HASH_SIZE",
    "ROUND_KINDS",
    "ROUND_STATUSES",
    "SEGMENTS",
    "AnchorStatus",
    "DisputeStatus",
    "RoundKind",
    "RoundStatus",
    "Segment",
]

Segment = Literal["merchant", "farmer"]
RoundKind = Literal["weekly", "on_demand"]
RoundStatus = Literal["pending", "built", "anchoring", "anchored", "confirmed"]
AnchorStatus = Literal["sent", "mined", "confirmed"]
DisputeStatus = Literal["open", "upheld", "rejected"]

SEGMENTS: Final = tuple(s.label for s in _SegmentEnum)
ROUND_KINDS: Final = ("weekly", "on_demand")
ROUND_STATUSES: Final = ("pending", "built", "anchoring", "anchored", "confirmed")
ANCHOR_STATUSES: Final = ("sent", "mined", "confirmed")
DISPUTE_STATUSES: Final = ("open", "upheld", "rejected")

HASH_SIZE: Final = 32
assert SEGMENTS == ("merchant", "farmer"), "Segment literal and the on-chain enum differ"
