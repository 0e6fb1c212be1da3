"""Where a round's decisions come from.

A :class:`DecisionSource` hands the oracle the documents to publish (model artifact,
policy parameter set) and, per round, the scored decisions. The real source runs the
``scoring`` package; :class:`GeneratedSource` makes deterministic stand-in records for
when no trained model is at hand (chain-only tests, gas benchmarks).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol


@dataclass(frozen=True)
class ScoredDecision:
    """What the oracle needs of one scored merchant to build its leaf."""

    merchant_id: str
    score: int
    limit_cny: int
    product_mask: int
    reason_codes: tuple[int, int, int, int]
    feature_bytes: bytes
    status: str = "scored"
    industry: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class ScoredRound:
    """A round's decisions and the date their data window ends."""

    as_of: str
    decisions: list[ScoredDecision]


class DecisionSource(Protocol):
    segment: str

    def model_document(self) -> bytes: ...

    def feature_schema_hash(self) -> bytes: ...

    def policy_document(self) -> bytes: ...

    def policy_reason(self) -> str: ...

    def decisions(self, round_id: int, week: int) -> ScoredRound:
        """The decisions of round ``round_id``; ``week`` counts this segment's weekly rounds from 0."""
        ...


class GeneratedSource:
    """Deterministic stand-in decisions: same seed and round, same records."""

    segment = "merchant"

    def __init__(self, merchants: int, seed: int = 7) -> None:
        self.merchants = merchants
        self.seed = seed

    def model_document(self) -> bytes:
        return json.dumps({"kind": "generated-records", "seed": self.seed, "segment": self.segment}, sort_keys=True).encode()

    def feature_schema_hash(self) -> bytes:
        return hashlib.sha256(b"generated-records/features/v1").digest()

    def policy_document(self) -> bytes:
        return json.dumps({"kind": "generated-records-policy", "limits": [5000, 300000]}, sort_keys=True).encode()

    def policy_reason(self) -> str:
        return "initial parameter set"

    def decisions(self, round_id: int, week: int = 0) -> ScoredRound:
        out = []
        for i in range(self.merchants):
            rng = random.Random(f"{self.seed}/{i}/{week}")
            score = rng.randint(300, 900)
            limit = 0 if score < 450 else min(300_000, max(5_000, (score - 450) * 650))
            reasons = tuple(sorted(rng.sample(range(1, 15), 4)))
            features = json.dumps({"orders": rng.randint(0, 3000), "volatility": round(rng.random(), 4)}, sort_keys=True)
            out.append(ScoredDecision(f"M{i:07d}", score, limit, rng.randint(0, 7) if limit else 0, reasons, features.encode()))  # type: ignore[arg-type]
        return ScoredRound(as_of="", decisions=out)


def default_source(home: Path, merchants: int, log: Callable[[str], None] = lambda _m: None) -> DecisionSource:
    """The scoring engine's source when the package is usable, else generated records."""
    try:
        from oracle.scoring_source import ScoringSource
    except ImportError:
        log("scoring engine not available: using generated records")
        return GeneratedSource(merchants)
    return ScoringSource.prepare(home, merchants, log=log)
