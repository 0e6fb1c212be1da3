"""What a stored round scored, read back: its week, its archived export and its policy.

The growth plan shows a merchant the same data its credit was decided on, so it reads
the export the round recorded (:mod:`sources.exports`) and the policy the round was
decided under (by its on-chain hash, from the document store): nothing is generated,
scored or trained on the way. The API's growth route and ``credit-ledger growth``
both read through here.
"""

from __future__ import annotations

import json

from foundation.errors import CreditLedgerError
from ledger.deployment import LedgerContracts
from ledger.documents import DocumentError, DocumentStore
from ledger.store import RoundRow, Segment, Store
from scoring.errors import PolicyError
from scoring.platform import PlatformData
from scoring.policy import Policy
from sources.exports import ExportArchive

__all__ = ["RoundDataMissing", "round_policy", "scored_export", "weekly_round"]


class RoundDataMissing(CreditLedgerError, LookupError):
    """A round's export or policy is not where the round says it is."""

    code = "round_data_missing"
    hint = (
        "rounds record their export from this version on; run the next weekly round (`credit-ledger oracle run-round`)"
    )


def weekly_round(store: Store, segment: Segment, week: int | None = None) -> tuple[RoundRow, int]:
    """The ``week``-th weekly round of ``segment`` (default: the latest) and its week number.

    Weeks count a segment's weekly rounds from 0 (the oracle's numbering: the n-th
    weekly round scores week n-1). :class:`RoundDataMissing` if there is no such round.
    """
    weekly = store.rounds(segment=segment, kind="weekly")
    if not weekly:
        raise RoundDataMissing(f"no weekly {segment} round has been scored yet")
    latest = len(weekly) - 1
    wk = latest if week is None else week
    if not 0 <= wk <= latest:
        raise RoundDataMissing(f"week {wk} has not been scored yet (latest: {latest})")
    return weekly[wk], wk


def scored_export(archive: ExportArchive, rnd: RoundRow) -> PlatformData:
    """The platform export ``rnd`` scored, checked against the hash the round recorded."""
    if rnd.export_hash is None:
        raise RoundDataMissing(f"round {rnd.round_id} recorded no platform export")
    if rnd.export_hash not in archive:
        raise RoundDataMissing(f"round {rnd.round_id}'s export {rnd.export_hash.hex()} is not in {archive.root}")
    return archive.get(rnd.export_hash)


def round_policy(contracts: LedgerContracts, documents: DocumentStore, rnd: RoundRow) -> Policy:
    """The policy ``rnd`` was decided under: its on-chain hash, its document from the store."""
    params_hash = bytes(contracts.policies.functions.policy(rnd.policy_version).call()[2])
    try:
        return Policy.from_dict(json.loads(documents.get(params_hash)))
    except DocumentError as exc:
        raise RoundDataMissing(f"policy v{rnd.policy_version} of round {rnd.round_id}: {exc}") from exc
    except (ValueError, PolicyError) as exc:
        raise RoundDataMissing(f"policy v{rnd.policy_version} document is malformed: {exc}") from exc
