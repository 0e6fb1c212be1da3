"""Weekly refresh: how a merchant's decision changed since the previous round."""

from __future__ import annotations

from dataclasses import dataclass

from scoring.engine import Decision


@dataclass(frozen=True, slots=True)
class DecisionChange:
    """The change from ``previous`` to ``current`` for one merchant.

    ``previous_*`` fields are None for a merchant's first decision; deltas are
    then measured from 0.
    """

    merchant_id: str
    score: int
    previous_score: int | None
    score_delta: int
    limit_cny: int
    previous_limit_cny: int | None
    limit_delta: int
    reasons_added: tuple[int, ...]
    reasons_removed: tuple[int, ...]
    products_added: int
    products_removed: int
    status_changed: bool


def compare(previous: Decision | None, current: Decision) -> DecisionChange:
    """Score delta, limit delta, reasons and products added/removed."""
    if previous is not None and previous.merchant_id != current.merchant_id:
        raise ValueError("decisions belong to different merchants")
    prev_reasons = set(previous.reason_codes) - {0} if previous else set()
    cur_reasons = set(current.reason_codes) - {0}
    prev_mask = previous.product_mask if previous else 0
    return DecisionChange(
        merchant_id=current.merchant_id,
        score=current.score,
        previous_score=previous.score if previous else None,
        score_delta=current.score - (previous.score if previous else 0),
        limit_cny=current.limit_cny,
        previous_limit_cny=previous.limit_cny if previous else None,
        limit_delta=current.limit_cny - (previous.limit_cny if previous else 0),
        reasons_added=tuple(c for c in current.reason_codes if c in cur_reasons - prev_reasons),
        reasons_removed=tuple(
            c for c in (previous.reason_codes if previous else ()) if c in prev_reasons - cur_reasons
        ),
        products_added=current.product_mask & ~prev_mask,
        products_removed=prev_mask & ~current.product_mask,
        status_changed=previous is None or previous.status != current.status,
    )


def compare_rounds(previous: list[Decision], current: list[Decision]) -> list[DecisionChange]:
    """:func:`compare` for every merchant of ``current`` (matched by merchant id)."""
    prev = {d.merchant_id: d for d in previous}
    return [compare(prev.get(d.merchant_id), d) for d in current]
