"""On-demand decisions: score an application at once, anchor it in the next small batch.

An application is scored immediately and queued in the store's
``pending_applications`` (the answer says "decided, anchoring pending"). A flush
takes the queued decisions into a new ``on_demand`` round when there are
``batch_size`` of them or the oldest has waited ``max_wait`` seconds, and the oracle
builds and anchors that round like any other, with the same crash safety: the
applications are claimed by the round inside the store, so a restarted desk finishes
the round with exactly the decisions it had claimed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from foundation.errors import EXIT_INPUT, CreditLedgerError
from ledger.store import ApplicationRow, NotFound, Segment, Store
from oracle.service import UNFINISHED_STATUSES, Oracle, RoundResult, store_segment
from sources.records import ScoredDecision, ScoredRound
from sources.synthetic import ScoringSource

if TYPE_CHECKING:
    from fastapi import FastAPI

STATUS_PENDING = "decided, anchoring pending"
STATUS_ANCHORED = "anchored"


class Application(BaseModel):
    """An on-demand application: the platform's merchant id (never sent on-chain)."""

    merchant_id: str = Field(..., min_length=1, max_length=128, examples=["M00000042"])


class ApplicationError(CreditLedgerError, ValueError):
    """An application cannot be decided (unknown merchant, bad input)."""

    code = "application_invalid"
    hint = "apply with the platform merchant id of a merchant in the current export, e.g. M00000042"
    exit_code = EXIT_INPUT


def _payload(as_of: str, d: ScoredDecision) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "score": d.score,
        "limit_cny": d.limit_cny,
        "product_mask": d.product_mask,
        "reason_codes": list(d.reason_codes),
        "feature_bytes": d.feature_bytes.hex(),
        "status": d.status,
        "industry": d.industry,
        "region": d.region,
    }


def _decision(merchant_id: str, p: dict[str, Any]) -> ScoredDecision:
    first, second, third, fourth = (int(code) for code in p["reason_codes"])
    return ScoredDecision(
        merchant_id,
        int(p["score"]),
        int(p["limit_cny"]),
        int(p["product_mask"]),
        (first, second, third, fourth),
        bytes.fromhex(p["feature_bytes"]),
        p["status"],
        p.get("industry"),
        p.get("region"),
    )


class ApplicationsSource:
    """A DecisionSource over queued applications: the decisions were made when they arrived."""

    def __init__(self, scoring: ScoringSource, store: Store, batch_size: int) -> None:
        self.scoring = scoring
        self.segment = scoring.segment
        self._store_segment: Segment = store_segment(scoring.segment)
        self.store = store
        self.batch_size = batch_size

    def model_document(self) -> bytes:
        return self.scoring.model_document()

    def feature_schema_hash(self) -> bytes:
        return self.scoring.feature_schema_hash()

    def policy_document(self) -> bytes:
        return self.scoring.policy_document()

    def policy_reason(self) -> str:
        return self.scoring.policy_reason()

    def decisions(self, round_id: int, week: int = 0) -> ScoredRound:
        # A restart finds the applications this round already claimed; else claim now.
        claimed = self.store.applications_in_round(round_id) or self.store.claim_applications(
            round_id, self._store_segment, limit=self.batch_size
        )
        decisions = [_decision(a.merchant_id, a.payload) for a in claimed]
        as_of = max((a.payload["as_of"] for a in claimed), default="")
        return ScoredRound(as_of=as_of, decisions=decisions)


@dataclass(frozen=True)
class ApplicationStatus:
    application_id: int
    merchant_id: str
    status: str
    score: int
    limit_cny: int
    product_mask: int
    reason_codes: list[int]
    received_at: str
    round_id: int | None = None
    anchor_tx: str | None = None
    proof: list[str] | None = None
    root: str | None = None


class OnDemandDesk:
    """Takes applications, decides them at once, and flushes small batches to the chain."""

    def __init__(
        self,
        oracle: Oracle,
        scoring: ScoringSource,
        batch_size: int = 50,
        max_wait: float = 60.0,
        log: Callable[[str], None] = print,
    ) -> None:
        if batch_size < 1 or max_wait <= 0:
            raise ValueError("batch_size must be >= 1 and max_wait > 0")
        self.oracle = oracle
        self.scoring = scoring
        self.segment: Segment = store_segment(scoring.segment)
        self.store = oracle.store
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.log = log
        self.source = ApplicationsSource(scoring, oracle.store, batch_size)
        self._lock = threading.RLock()

    def current_week(self) -> int:
        """The week of the latest weekly round (on-demand decisions use the freshest data)."""
        weekly = self.store.rounds(segment=self.segment, kind="weekly")
        return max(len(weekly) - 1, 0)

    def apply(self, merchant_id: str) -> ApplicationStatus:
        """Decide now; one open application per merchant (a repeat returns the open one)."""
        with self._lock:
            for pending in self.store.pending_applications(self.segment):
                if pending.merchant_id == merchant_id:
                    return self.status(pending.id)
            try:
                as_of, decision = self.scoring.decide_one(merchant_id, self.current_week())
            except KeyError as exc:
                raise ApplicationError(str(exc.args[0])) from None
            row = self.store.add_application(merchant_id, self.segment, _payload(as_of, decision))
            self.log(
                f"application {row.id} from {merchant_id}: score {decision.score}, limit {decision.limit_cny:,} CNY ({STATUS_PENDING})"
            )
            return self.status(row.id)

    def due(self) -> bool:
        pending = self.store.pending_applications(self.segment, limit=self.batch_size)
        if not pending:
            return False
        if len(pending) >= self.batch_size:
            return True
        oldest = pending[0].received_at
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return (datetime.now(UTC) - oldest).total_seconds() >= self.max_wait

    def flush(self, force: bool = False) -> RoundResult | None:
        """Anchor the queued decisions as one on-demand round (if due, or ``force``)."""
        with self._lock:
            unfinished = self.store.rounds(segment=self.segment, kind="on_demand", status=UNFINISHED_STATUSES)
            if (
                not unfinished
                and not (force and self.store.pending_applications(self.segment, limit=1))
                and not self.due()
            ):
                return None
            result = self.oracle.run_round(self.source, kind="on_demand")
            self.log(
                f"on-demand round {result.round_id}: {result.decisions} decisions anchored in tx 0x{result.tx_hash.hex()}"
            )
            return result

    def status(self, application_id: int) -> ApplicationStatus:
        row: ApplicationRow = self.store.get_application(application_id)
        p = row.payload
        status = STATUS_PENDING
        round_id: int | None = None
        anchor_tx: str | None = None
        proof: list[str] | None = None
        root: str | None = None
        if row.batched_round is not None:
            rnd = self.store.get_round(row.batched_round)
            round_id = rnd.round_id
            if rnd.status in ("anchored", "confirmed"):
                key = self.oracle.pseudonyms.merchant_key(row.merchant_id)
                status = STATUS_ANCHORED
                anchor_tx = "0x" + self.store.get_anchor(rnd.round_id).tx_hash.hex()
                proof = ["0x" + h.hex() for h in self.store.proof(rnd.round_id, key)]
                root = "0x" + (rnd.root or b"").hex()
        return ApplicationStatus(
            application_id=row.id,
            merchant_id=row.merchant_id,
            status=status,
            score=int(p["score"]),
            limit_cny=int(p["limit_cny"]),
            product_mask=int(p["product_mask"]),
            reason_codes=[int(code) for code in p["reason_codes"]],
            received_at=row.received_at.isoformat(),
            round_id=round_id,
            anchor_tx=anchor_tx,
            proof=proof,
            root=root,
        )

    def run_forever(self, stop: threading.Event, poll: float = 0.5) -> None:
        """Flush whenever a batch is due, until ``stop`` is set (errors are logged, retried)."""
        while not stop.is_set():
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - whatever failed, keep serving: the next pass resumes the round
                self.log(f"flush failed ({type(exc).__name__}: {exc}); will retry")
            stop.wait(poll)


def create_app(desk: OnDemandDesk) -> FastAPI:
    """The oracle's small HTTP front: POST /applications, GET /applications/{id}."""
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="credit-ledger oracle: on-demand decisions")

    @app.post("/applications", status_code=202)
    def apply(body: Application) -> dict[str, Any]:
        try:
            return desk.apply(body.merchant_id).__dict__
        except ApplicationError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    @app.get("/applications/{application_id}")
    def get(application_id: int) -> dict[str, Any]:
        try:
            return desk.status(application_id).__dict__
        except NotFound:
            raise HTTPException(status_code=404, detail=f"no application {application_id}") from None

    @app.post("/flush")
    def flush() -> dict[str, Any]:
        result = desk.flush(force=True)
        return {"round": result.round_id if result else None, "decisions": result.decisions if result else 0}

    return app
