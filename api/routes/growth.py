"""``GET /merchant/growth``: the signed-in merchant's growth plan (indicators, diagnosis, daily series).

The merchant is the one the chain binds to the caller's account
(:func:`api.auth.require_merchant`); its private platform id is looked up in the
store's ``merchants`` table by that merchant key and never leaves the server
(the answer carries no id, and nothing in the request can name another
merchant).

The report is computed from what was stored for that week's round, never
regenerated: the platform export the round scored (kept in the export archive
under the hash the round recorded, :mod:`sources.exports`) and the policy the
round was decided under (its document by the on-chain hash). ``week`` defaults to
the week of the latest weekly merchant round (the oracle's numbering: the n-th
weekly round scores week n-1). One analysis per (export, policy) is cached in
process memory (the last four), so only the first request of a week pays for
analysing the export (well under a second for 1,000 merchants).

The report is :meth:`scoring.growth.GrowthReport.to_dict` (see
``scoring/growth.py`` for every formula) plus ``week`` and, per item,
``offered``: whether the matched product is in the merchant's latest decision.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import MerchantPrincipal, require_merchant
from api.deps import Services, get_services
from api.errors import Conflict, NotFoundError, errors
from ledger.store import NotFound, RoundRow
from sources.exports import archive_in
from sources.stored import RoundDataMissing, round_policy, scored_export, weekly_round

router = APIRouter(prefix="/merchant", tags=["merchant"], responses=errors(401, 403, 503))

#: Weeks the API will look at: never past the store's latest weekly round.
MAX_WEEK = 10_000
_CACHE_SIZE = 4
_lock = threading.Lock()
_analyses: OrderedDict[tuple[bytes | None, int], Any] = OrderedDict()


# -- response models -------------------------------------------------------------


class GrowthComponent(BaseModel):
    metric: str
    name: str
    better: Literal["higher", "lower", "diff"]
    weight: float
    value: float | None = Field(description="The merchant's value (null = missing, counted as neutral)")
    peer: float | None = Field(description="Average over industry x region peers")
    ratio: float | None = Field(description="Peer-relative ratio, > 1 = better than peers, clipped to [1/8, 8]")


class GrowthIndicator(BaseModel):
    key: Literal["operating_stability", "growth_potential", "marketing_conversion", "capital_efficiency"]
    name: str
    value: int = Field(ge=0, le=100)
    peerAverage: int = Field(ge=0, le=100)
    percentile: int = Field(ge=0, le=100, description="Share of peers with a value <= this one, in %")
    components: list[GrowthComponent]


class GrowthItem(BaseModel):
    code: str = Field(examples=["SKU_PROMO_ONLY"], description="Stable item code")
    category: Literal["sku", "restock", "customer", "marketing"]
    title: str
    text: str
    numbers: dict[str, Any] = Field(description="The numbers that triggered the item")
    productMask: int = Field(description="Matched product bit (scoring.policy), 0 if none")
    product: str | None
    offered: bool = Field(description="The matched product is in the merchant's latest decision")


class GrowthDay(BaseModel):
    date: str
    revenueCny: float
    orders: int


class GrowthResponse(BaseModel):
    version: str
    lang: Literal["zh", "en"]
    week: int
    asOf: str
    windowStart: str
    industry: str
    region: str
    historyDays: int
    peerCount: int
    indicators: list[GrowthIndicator]
    items: list[GrowthItem]
    daily: list[GrowthDay] = Field(
        description="The merchant's daily revenue and orders over the 60-day window, oldest first"
    )


# -- data ----------------------------------------------------------------------------


def _analysis(services: Services, rnd: RoundRow) -> Any:
    """The cached :class:`scoring.growth.GrowthAnalysis` of what round ``rnd`` scored."""
    from scoring.growth import GrowthAnalysis

    key = (rnd.export_hash, rnd.policy_version)
    with _lock:
        if key in _analyses:
            _analyses.move_to_end(key)
            return _analyses[key]
    data = scored_export(archive_in(services.settings.home), rnd)
    policy = round_policy(services.contracts(), services.documents(), rnd)
    analysis = GrowthAnalysis(data, policy=policy)
    with _lock:
        _analyses[key] = analysis
        while len(_analyses) > _CACHE_SIZE:
            _analyses.popitem(last=False)
    return analysis


def clear_cache() -> None:
    """Forget cached analyses (tests)."""
    with _lock:
        _analyses.clear()


@router.get(
    "/growth",
    response_model=GrowthResponse,
    summary="The signed-in merchant's growth plan: indicators, diagnosis and daily series",
    responses=errors(404, 409, 422),
)
def growth(
    lang: Literal["zh", "en"] = Query("zh", description="Language of names and texts"),
    week: int | None = Query(None, ge=0, le=MAX_WEEK, description="Platform week (default: the latest weekly round's)"),
    me: MerchantPrincipal = Depends(require_merchant),
    services: Services = Depends(get_services),
) -> GrowthResponse:
    """Only the caller's own report: the merchant is taken from the sign-in, never from the request."""
    store = services.store()
    try:
        merchant = store.merchant_by_key(me.key)
    except NotFound:
        raise NotFoundError("you have no platform records yet") from None
    if merchant.segment != "merchant":
        raise Conflict("growth diagnostics are for merchants, not farmers", code="wrong_segment")
    try:
        rnd, wk = weekly_round(store, "merchant", week)
        analysis = _analysis(services, rnd)
    except RoundDataMissing as exc:
        raise NotFoundError(str(exc)) from None
    if merchant.merchant_id not in analysis:
        raise NotFoundError(f"you have no records in the platform export of week {wk}")
    report = analysis.report(merchant.merchant_id)
    decisions = store.decisions_for_merchant(me.key)
    offered_mask = decisions[-1].product_mask if decisions else 0
    body = report.to_dict(lang)  # never includes the private merchant id
    body["week"] = wk
    for item in body["items"]:
        item["offered"] = bool(item["productMask"] & offered_mask)
    return GrowthResponse.model_validate(body)
