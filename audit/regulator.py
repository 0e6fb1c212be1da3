"""Read-only aggregates for regulators: approvals and limits, and the model/policy timeline.

Aggregates join the store's decisions with its rounds (segment, status) and
merchants (region, industry). Only rounds the store records as anchored or confirmed
count by default, so a regulator sees what is on-chain, not a round being built.
Nothing here returns a merchant id or key: groups are rounds, segments, regions and
industries only.

The timeline is read from the indexer's ``chain_events`` (sync it first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger.enums import Segment
from ledger.indexer import EventFilter, InvalidQuery, iter_all
from ledger.store import SEGMENTS
from ledger.store.schema import decisions, merchants, rounds

GROUPS: dict[str, Any] = {
    "round": decisions.c.round_id,
    "segment": rounds.c.segment,
    "region": merchants.c.region,
    "industry": merchants.c.industry,
}
TIMELINE_EVENTS = (
    "ModelRegistered",
    "ModelActivated",
    "ModelRetired",
    "PolicyProposed",
    "PolicyActivated",
    "PolicySuperseded",
    "PolicyCancelled",
)
SEGMENT_BY_ID = {int(s): s.label for s in Segment}


@dataclass(frozen=True)
class ApprovalRow:
    group: dict[str, Any]
    decisions: int
    approved: int
    declined: int
    not_scored: int
    total_limit_cny: int
    mean_limit_cny: float | None  # over approved decisions
    mean_score: float | None  # over scored decisions

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decisions if self.decisions else None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.group,
            "decisions": self.decisions,
            "approved": self.approved,
            "declined": self.declined,
            "not_scored": self.not_scored,
            "approval_rate": self.approval_rate,
            "total_limit_cny": self.total_limit_cny,
            "mean_limit_cny": self.mean_limit_cny,
            "mean_score": self.mean_score,
        }


def approvals(
    engine: Engine,
    group_by: Sequence[str] = ("round",),
    *,
    from_round: int | None = None,
    to_round: int | None = None,
    segment: str | None = None,
    include_unanchored: bool = False,
) -> list[ApprovalRow]:
    """Approvals, declines and limits per group (any of round, segment, region, industry)."""
    if not group_by:
        raise InvalidQuery("group_by: name at least one of " + ", ".join(GROUPS))
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise InvalidQuery(f"group_by: unknown {unknown}; expected some of {list(GROUPS)}")
    if segment is not None and segment not in SEGMENTS:
        raise InvalidQuery(f"segment: expected one of {list(SEGMENTS)}, got {segment!r}")
    if from_round is not None and to_round is not None and from_round > to_round:
        raise InvalidQuery(f"from_round {from_round} is after to_round {to_round}")
    keys = list(dict.fromkeys(group_by))
    cols = [GROUPS[g].label(g) for g in keys]
    d = decisions.c
    approved = sa.case((d.limit_cny > 0, 1), else_=0)
    scored = sa.case((d.score > 0, 1), else_=0)
    stmt = (
        sa.select(
            *cols,
            sa.func.count().label("n"),
            sa.func.sum(approved).label("approved"),
            sa.func.sum(scored).label("scored"),
            sa.func.coalesce(sa.func.sum(d.limit_cny), 0).label("total_limit"),
            sa.func.sum(sa.case((d.score > 0, d.score), else_=0)).label("score_sum"),
        )
        .select_from(
            decisions.join(rounds, rounds.c.round_id == d.round_id).outerjoin(
                merchants, merchants.c.merchant_key == d.merchant_key
            )
        )
        .group_by(*[GROUPS[g] for g in keys])
        .order_by(*[GROUPS[g] for g in keys])
    )
    if not include_unanchored:
        stmt = stmt.where(rounds.c.status.in_(("anchored", "confirmed")))
    if from_round is not None:
        stmt = stmt.where(d.round_id >= from_round)
    if to_round is not None:
        stmt = stmt.where(d.round_id <= to_round)
    if segment is not None:
        stmt = stmt.where(rounds.c.segment == segment)
    out = []
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            m = row._mapping
            n, ok, sc = int(m["n"]), int(m["approved"] or 0), int(m["scored"] or 0)
            total = int(m["total_limit"] or 0)
            out.append(
                ApprovalRow(
                    group={g: m[g] for g in keys},
                    decisions=n,
                    approved=ok,
                    declined=sc - ok,
                    not_scored=n - sc,
                    total_limit_cny=total,
                    mean_limit_cny=round(total / ok, 2) if ok else None,
                    mean_score=round(int(m["score_sum"] or 0) / sc, 2) if sc else None,
                )
            )
    return out


def timeline(engine: Engine, chain_id: int | None = None, segment: str | None = None) -> list[dict[str, Any]]:
    """Model and policy changes in chain order, with hashes, reasons and block times."""
    if segment is not None and segment not in SEGMENTS:
        raise InvalidQuery(f"segment: expected one of {list(SEGMENTS)}, got {segment!r}")
    out = []
    policy_segment: dict[int, str] = {}
    for e in iter_all(engine, EventFilter(chain_id=chain_id, events=TIMELINE_EVENTS)):
        a = e.args
        seg = SEGMENT_BY_ID.get(int(a["segment"])) if "segment" in a else None
        kind = "model" if e.event.startswith("Model") else "policy"
        version = int(a["version"])
        if kind == "policy":
            # PolicyCancelled carries no segment: take it from the proposal.
            seg = seg or policy_segment.get(version)
            policy_segment.setdefault(version, seg or "")
        if segment is not None and seg != segment:
            continue
        entry = {
            "block_number": e.block_number,
            "block_time": e.block_time.isoformat() if e.block_time else None,
            "tx_hash": "0x" + e.tx_hash.hex(),
            "kind": kind,
            "event": e.event,
            "version": version,
            "segment": seg,
        }
        for name in (
            "artifactHash",
            "featureSchemaHash",
            "oldHash",
            "newHash",
            "reason",
            "uri",
            "metadataURI",
            "previousVersion",
            "supersededBy",
        ):
            if name in a:
                entry[name] = a[name]
        out.append(entry)
    return out
