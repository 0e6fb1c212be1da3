"""The synthetic platform and the scoring engine: the model, the policy, and the platform's weeks.

:class:`ScoringSource` holds what scores a round (the segment's trained artifact, cached
as its canonical file, and its policy) and generates the synthetic platform
(``scoring.synth``) one week further on per weekly round, so behaviour, scores and
limits move from round to round. The synthetic platform is one source among others:
``credit-ledger oracle run-round --synthetic`` writes its week to disk as an export and
scores it exactly as a platform's own export (:class:`sources.platform.ExportSource`);
:meth:`ScoringSource.decisions` scores it in memory (tests, benchmarks, the on-demand
desk) and archives the same export with the same validation report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from scoring import (
    DecisionBatch,
    ModelArtifact,
    PlatformData,
    Policy,
    ValidationResult,
    build_features,
    default_policy,
    generate_farmers,
    generate_merchants,
    load_artifact,
    load_policy,
    score_columns,
    train_segment,
    validate,
    validation_report,
)
from sources.exports import ExportArchive, archive_in
from sources.records import DecisionColumns, ScoredDecision, ScoredRound

TRAINING_POPULATION = 20_000
TRAINING_SEED = 1
PLATFORM_SEED = 2026


class ScoringSource:
    """Scores the synthetic platform for one segment with a cached trained artifact."""

    def __init__(
        self,
        artifact: ModelArtifact,
        policy: Policy,
        merchants: int,
        seed: int = PLATFORM_SEED,
        archive: ExportArchive | None = None,
    ) -> None:
        self.archive = archive
        self.artifact = artifact
        self.policy = policy
        self.segment = artifact.segment
        self.merchants = merchants
        self.seed = seed
        self._cached_week: tuple[int, PlatformData, ValidationResult, pd.DataFrame] | None = None

    @staticmethod
    def model_path(home: Path, segment: str) -> Path:
        return Path(home) / "scoring" / "models" / f"{segment}.json"

    @staticmethod
    def policy_path(home: Path, segment: str) -> Path:
        return Path(home) / "scoring" / "policies" / f"{segment}.json"

    @classmethod
    def prepare(
        cls, home: Path, merchants: int, segment: str = "merchant", log: Callable[[str], None] = lambda _m: None
    ) -> ScoringSource:
        """Load the segment's artifact and policy, training and saving them on first use."""
        model_path = cls.model_path(home, segment)
        if model_path.is_file():
            artifact = load_artifact(model_path)
        else:
            started = time.perf_counter()
            generate = generate_merchants if segment == "merchant" else generate_farmers
            training = generate(TRAINING_POPULATION, seed=TRAINING_SEED)
            result = train_segment(training, challenger=False)
            artifact = result.report.artifact
            artifact.save(model_path)
            log(
                f"trained {segment} scorecard on {TRAINING_POPULATION:,} synthetic {segment}s in "
                f"{time.perf_counter() - started:.1f}s: hold-out AUC {result.metrics['scorecard_auc']:.3f} "
                f"(hidden-risk AUC {result.metrics['hidden_risk_auc']:.3f})"
            )
        policy_path = cls.policy_path(home, segment)
        if policy_path.is_file():
            policy = load_policy(policy_path)
        else:
            policy = default_policy(segment)
            policy.save(policy_path)
        return cls(artifact, policy, merchants, archive=archive_in(home))

    def model_document(self) -> bytes:
        return self.artifact.to_json_bytes()

    def feature_schema_hash(self) -> bytes:
        return self.artifact.feature_schema_hash()

    def policy_document(self) -> bytes:
        return self.policy.to_json_bytes()

    def policy_reason(self) -> str:
        return f"parameter set {self.policy.version}"

    def generate_week(self, week: int) -> PlatformData:
        """The synthetic platform's export for week ``week`` (deterministic: same seed, same bytes)."""
        generate = generate_merchants if self.segment == "merchant" else generate_farmers
        return generate(self.merchants, seed=self.seed, round_offset=week)

    def platform_data(self, week: int) -> tuple[PlatformData, pd.DataFrame]:
        """The platform's export for week ``week`` and its features (cached: on-demand decisions reuse them)."""
        if self._cached_week is None or self._cached_week[0] != week:
            data = self.generate_week(week)
            validation = validate(data)
            self._cached_week = (week, data, validation, build_features(data, validation))
        return self._cached_week[1], self._cached_week[3]

    def decide_one(self, merchant_id: str, week: int) -> tuple[str, ScoredDecision]:
        """Score one merchant at once (an on-demand application); returns (as_of, decision)."""
        data, features = self.platform_data(week)
        if merchant_id not in features.index:
            raise KeyError(f"no platform records for merchant {merchant_id!r} in week {week}")
        scored = self.score(data, features.loc[[merchant_id]])
        return scored.as_of, scored.decisions[0]

    def decisions(self, round_id: int, week: int = 0) -> ScoredRound:
        """Score week ``week``'s export in memory; the export is archived first, and the round names it."""
        data, features = self.platform_data(week)
        scored = self.score(data, features)
        if self.archive is not None:
            assert self._cached_week is not None  # platform_data filled it
            scored.export_hash = self.archive.put(data)
            scored.validation_report = validation_report(data, self._cached_week[2], scored.export_hash)
        return scored

    def score(self, data: PlatformData, features: pd.DataFrame) -> ScoredRound:
        """The decisions of ``features`` (rows of ``data``'s entities) as the oracle's columns."""
        batch = score_columns(self.artifact, self.policy, features, data.as_of)
        entities = data.entities.set_index(data.entities["merchant_id"].astype(str))
        industry = entities["industry"] if "industry" in entities else entities.get("main_crop")
        region = entities["region"]
        ids = batch.merchant_id.tolist()
        industries: list[str | None] = _nullable(industry.reindex(ids)) if industry is not None else [None] * len(ids)
        regions = _nullable(region.reindex(ids))
        return ScoredRound(as_of=data.as_of.isoformat(), columns=decision_columns(batch, industries, regions, ids))


def _nullable(series: pd.Series) -> list[str | None]:
    """A pandas Series (of strings) as a list of Python objects with missing values as None."""
    values: list[str | None] = series.astype(object).where(lambda x: x.notna(), None).tolist()
    return values


def decision_columns(
    batch: DecisionBatch, industries: list[str | None], regions: list[str | None], ids: list[str] | None = None
) -> DecisionColumns:
    """A scoring ``DecisionBatch`` as the oracle's :class:`DecisionColumns` (no per-merchant objects).

    ``tolist()`` turns the int64 arrays into plain ints; the (n, 4) reason codes become
    four columns.
    """
    r0, r1, r2, r3 = batch.reason_codes.T.tolist() if len(batch) else ([], [], [], [])
    return DecisionColumns(
        merchant_id=batch.merchant_id.tolist() if ids is None else ids,
        score=batch.score.tolist(),
        limit_cny=batch.limit_cny.tolist(),
        product_mask=batch.product_mask.tolist(),
        reason_codes=(r0, r1, r2, r3),
        feature_bytes=list(batch.feature_bytes),
        status=list(map(str, batch.status.tolist())),
        industry=industries,
        region=regions,
    )
