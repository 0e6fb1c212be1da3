"""What a platform source hands the oracle: a round's scored decisions and the documents behind them.

A :class:`DecisionSource` hands the oracle the documents to publish (model artifact,
policy parameter set) and, per round, the scored decisions (:class:`ScoredRound`,
column by column in :class:`DecisionColumns`). The synthetic platform scored by the
``scoring`` package is :class:`sources.synthetic.ScoringSource`;
:class:`GeneratedSource` makes deterministic stand-in records for when no trained
model is at hand (chain-only tests, gas benchmarks).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Protocol


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
class DecisionColumns:
    """A round's decisions column by column (the fast path: no per-merchant objects).

    Every column is a list of plain Python values of the same length, in the
    round's input order; ``reason_codes`` is four such columns (first to fourth
    code). ``industry``/``region`` entries may be None.
    """

    merchant_id: list[str]
    score: list[int]
    limit_cny: list[int]
    product_mask: list[int]
    reason_codes: tuple[list[int], list[int], list[int], list[int]]
    feature_bytes: list[bytes]
    status: list[str]
    industry: list[str | None]
    region: list[str | None]

    def __len__(self) -> int:
        return len(self.merchant_id)

    def __post_init__(self) -> None:
        n = len(self.merchant_id)
        if len(self.reason_codes) != 4:
            raise ValueError("reason_codes: expected four columns")
        for name in ("score", "limit_cny", "product_mask", "feature_bytes", "status", "industry", "region"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: {len(getattr(self, name))} values for {n} merchants")
        for j, col in enumerate(self.reason_codes):
            if len(col) != n:
                raise ValueError(f"reason_codes[{j}]: {len(col)} values for {n} merchants")

    @classmethod
    def from_decisions(cls, decisions: list[ScoredDecision]) -> DecisionColumns:
        codes = [d.reason_codes for d in decisions]
        if any(len(c) != 4 for c in codes):
            raise ValueError("reason_codes: expected four codes per decision")
        return cls(
            merchant_id=[d.merchant_id for d in decisions],
            score=[d.score for d in decisions],
            limit_cny=[d.limit_cny for d in decisions],
            product_mask=[d.product_mask for d in decisions],
            reason_codes=([c[0] for c in codes], [c[1] for c in codes], [c[2] for c in codes], [c[3] for c in codes]),
            feature_bytes=[d.feature_bytes for d in decisions],
            status=[d.status for d in decisions],
            industry=[d.industry for d in decisions],
            region=[d.region for d in decisions],
        )

    def to_decisions(self) -> list[ScoredDecision]:
        return [
            ScoredDecision(m, s, lim, pm, (r0, r1, r2, r3), fb, st, ind, reg)
            for m, s, lim, pm, r0, r1, r2, r3, fb, st, ind, reg in zip(
                self.merchant_id,
                self.score,
                self.limit_cny,
                self.product_mask,
                *self.reason_codes,
                self.feature_bytes,
                self.status,
                self.industry,
                self.region,
            )
        ]


class ScoredRound:
    """A round's decisions, the date their data window ends, and the export they came from.

    Made from ``decisions`` (a list of :class:`ScoredDecision`) or from ``columns``
    (:class:`DecisionColumns`, what the scoring engine produces); the other form is
    derived on first use. The oracle's round build reads :attr:`columns`.
    ``export_hash`` names the archived platform export (:mod:`sources.exports`) that
    was scored, when there is one, and ``validation_report`` is the canonical report of
    its validation (:mod:`scoring.validation_report`); the oracle stores the report as a
    document and records both hashes with the round and in its batch file.
    """

    __slots__ = ("_columns", "_decisions", "as_of", "export_hash", "validation_report")

    def __init__(
        self,
        as_of: str,
        decisions: list[ScoredDecision] | None = None,
        columns: DecisionColumns | None = None,
        export_hash: bytes | None = None,
        validation_report: bytes | None = None,
    ) -> None:
        if decisions is None and columns is None:
            raise TypeError("ScoredRound needs decisions or columns")
        self.as_of = as_of
        self.export_hash = export_hash
        self.validation_report = validation_report
        self._decisions = decisions
        self._columns = columns

    @property
    def decisions(self) -> list[ScoredDecision]:
        if self._decisions is None:
            assert self._columns is not None
            self._decisions = self._columns.to_decisions()
        return self._decisions

    @property
    def columns(self) -> DecisionColumns:
        if self._columns is None:
            assert self._decisions is not None
            self._columns = DecisionColumns.from_decisions(self._decisions)
        return self._columns

    def __len__(self) -> int:
        return len(self._columns) if self._columns is not None else len(self._decisions or ())

    def __repr__(self) -> str:
        return f"ScoredRound(as_of={self.as_of!r}, {len(self):,} decisions)"


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
        return json.dumps(
            {"kind": "generated-records", "seed": self.seed, "segment": self.segment}, sort_keys=True
        ).encode()

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
            r0, r1, r2, r3 = sorted(rng.sample(range(1, 15), 4))
            features = json.dumps(
                {"orders": rng.randint(0, 3000), "volatility": round(rng.random(), 4)}, sort_keys=True
            )
            out.append(
                ScoredDecision(
                    f"M{i:07d}", score, limit, rng.randint(0, 7) if limit else 0, (r0, r1, r2, r3), features.encode()
                )
            )
        return ScoredRound(as_of="", decisions=out)
