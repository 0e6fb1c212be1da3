"""``GET /merchant/growth``: the signed-in merchant's growth plan (indicators, diagnosis, daily series).

The merchant is the one the chain binds to the caller's account
(:func:`api.auth.require_merchant`); its private platform id is looked up in the
store's ``merchants`` table by that merchant key and never leaves the server
(the answer carries no id, and nothing in the request can name another
merchant).

The platform data is produced the way the oracle produces it:
``ScoringSource.prepare(settings.home, merchants)`` then
``platform_data(week)``, with ``merchants`` from the app's
``Settings.platform_merchants`` (``$CREDIT_LEDGER_PLATFORM_MERCHANTS``, default
**1000**, the demo's count; it must equal the count the oracle scored, or the
peer groups - and, above the real count, the merchants themselves - differ).
``week`` defaults to the week of the latest weekly merchant round in the store
(the oracle's numbering: the n-th weekly round scores week n-1).  One analysis per (home, merchants, week)
is cached in process memory (the last four), so only the first request of a
week pays for generating and analysing the export (well under a second for
1,000 merchants; if the home holds no trained model yet, ``prepare`` trains
one first, as the oracle would, which takes a few tens of seconds once).

The report is :meth:`scoring.growth.GrowthReport.to_dict` (see
``scoring/growth.py`` for every formula) plus ``week`` and, per item,
``offered``: whether the matched product is in the merchant's latest decision.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import MerchantPrincipal, require_merchant
from api.deps import Services, get_services
from api.errors import Conflict, NotFoundError, ServiceUnavailable, errors
from ledger.store import NotFound

router = APIRouter(prefix="/merchant", tags=["merchant"], responses=errors(401, 403, 503))

#: Weeks the API will look at: never past the store's latest weekly round.
MAX_WEEK = 10_000
_CACHE_SIZE = 4
_lock = threading.Lock()
_sources: dict[tuple[str, int], Any] = {}
_analyses: OrderedDict[tuple[str, int, int], Any] = OrderedDict()


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


def _analysis(home: Path, merchants: int, week: int) -> Any:
    """The cached :class:`scoring.growth.GrowthAnalysis` of the oracle's export for ``week``."""
    from scoring.growth import GrowthAnalysis
    from sources.synthetic import ScoringSource

    key = (str(home), merchants, week)
    with _lock:
        if key in _analyses:
            _analyses.move_to_end(key)
            return _analyses[key]
        source = _sources.get(key[:2])
        if source is None:
            source = _sources[key[:2]] = ScoringSource.prepare(Path(home), merchants)
        data, features = source.platform_data(week)
        analysis = GrowthAnalysis(data, features=features, policy=source.policy)
        _analyses[key] = analysis
        while len(_analyses) > _CACHE_SIZE:
            _analyses.popitem(last=False)
        return analysis


def clear_cache() -> None:
    """Forget cached sources and analyses (tests; after a model or policy change)."""
    with _lock:
        _sources.clear()
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
    from scoring.errors import ScoringError

    store = services.store()
    try:
        merchant = store.merchant_by_key(me.key)
    except NotFound:
        raise NotFoundError("you have no platform records yet") from None
    if merchant.segment != "merchant":
        raise Conflict("growth diagnostics are for merchants, not farmers", code="wrong_segment")
    weekly = store.rounds(segment="merchant", kind="weekly")
    if not weekly:
        raise NotFoundError("no weekly round has been scored yet")
    latest = len(weekly) - 1
    wk = latest if week is None else week
    if wk > latest:
        raise NotFoundError(f"week {wk} has not been scored yet (latest: {latest})")
    try:
        analysis = _analysis(services.settings.home, services.settings.platform_merchants, wk)
    except ScoringError as exc:
        raise ServiceUnavailable(f"growth diagnostics are unavailable: {exc}", code="growth_unavailable") from None
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
