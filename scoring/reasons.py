"""Reason codes: the one table of stable uint16 codes with Chinese and English text.

A decision carries four codes: the features that cost the most points against
their best bin (adverse-action practice), 0 meaning "no reason".  Codes are
part of the on-chain leaf, so they are **append-only**: never renumber or
reuse a code; add new ones at the end of their range.

Ranges: 1xx merchant features, 2xx merchant features against peers, 3xx
farmer features, 4xx farmer features against peers, 9xx record-level
statuses, 60000+ features of a generic (non-platform) training frame, numbered
by their position in the artifact.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_REASON = 0
GENERIC_BASE = 60000


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason: its stable code and its text in Chinese and English."""

    code: int
    zh: str
    en: str


_TABLE: tuple[tuple[int, str, str, str], ...] = (
    # code, feature, zh, en
    (101, "transaction_count", "交易笔数偏少", "Low transaction count"),
    (102, "order_volatility", "订单波动较大", "High order volatility"),
    (103, "sku_turnover", "商品周转较慢", "Slow SKU turnover"),
    (104, "repeat_purchase_rate", "回头客比例偏低", "Low repeat-purchase rate"),
    (105, "inventory_update_freq", "库存更新不频繁", "Infrequent inventory updates"),
    (106, "review_score", "评价分数偏低", "Low review score"),
    (107, "review_trend", "评价分数下滑", "Review score declining"),
    (108, "refund_rate", "退款比例偏高", "High refund rate"),
    (109, "complaint_rate", "投诉率偏高", "High complaint rate"),
    (110, "order_trend", "订单量下滑", "Order volume declining"),
    (111, "active_day_ratio", "营业天数偏少", "Few trading days"),
    (
        201,
        "transaction_count_vs_peers",
        "交易笔数低于同业同区域商户",
        "Fewer transactions than industry and region peers",
    ),
    (
        202,
        "order_volatility_vs_peers",
        "订单波动高于同业同区域商户",
        "More volatile orders than industry and region peers",
    ),
    (203, "sku_turnover_vs_peers", "商品周转慢于同业同区域商户", "Slower SKU turnover than industry and region peers"),
    (
        204,
        "repeat_purchase_rate_vs_peers",
        "回头客比例低于同业同区域商户",
        "Lower repeat-purchase rate than industry and region peers",
    ),
    (
        205,
        "inventory_update_freq_vs_peers",
        "库存更新少于同业同区域商户",
        "Fewer inventory updates than industry and region peers",
    ),
    (206, "review_score_vs_peers", "评价分数低于同业同区域商户", "Lower review score than industry and region peers"),
    (207, "review_trend_vs_peers", "评价走势弱于同业同区域商户", "Review trend weaker than industry and region peers"),
    (208, "refund_rate_vs_peers", "退款比例高于同业同区域商户", "Higher refund rate than industry and region peers"),
    (
        209,
        "complaint_rate_vs_peers",
        "投诉率高于同业同区域商户",
        "Higher complaint rate than industry and region peers",
    ),
    (301, "planted_area_mu", "种植面积较小", "Small planted area"),
    (302, "output_value_per_mu", "亩均产值偏低", "Low output value per mu"),
    (303, "output_growth", "产值下降", "Output value falling"),
    (304, "output_volatility", "产值波动较大", "Volatile output value"),
    (305, "order_count", "订单数量偏少", "Few buyer orders"),
    (306, "order_volatility", "订单金额不稳定", "Unstable order value"),
    (307, "coop_trade_freq", "合作社交易不频繁", "Infrequent co-operative trade"),
    (308, "ndvi_mean", "作物长势指数偏低", "Low vegetation index"),
    (309, "machinery_hours_per_mu", "农机作业时长偏少", "Few machinery hours"),
    (310, "crop_count", "种植品种单一", "Narrow crop mix"),
    (401, "planted_area_mu_vs_peers", "种植面积小于同作物同区域农户", "Smaller area than crop and region peers"),
    (
        402,
        "output_value_per_mu_vs_peers",
        "亩均产值低于同作物同区域农户",
        "Lower output per mu than crop and region peers",
    ),
    (403, "output_growth_vs_peers", "产值增长弱于同作物同区域农户", "Weaker output growth than crop and region peers"),
    (
        404,
        "output_volatility_vs_peers",
        "产值波动高于同作物同区域农户",
        "More volatile output than crop and region peers",
    ),
    (405, "order_count_vs_peers", "订单少于同作物同区域农户", "Fewer orders than crop and region peers"),
    (
        406,
        "order_volatility_vs_peers",
        "订单稳定性弱于同作物同区域农户",
        "Less stable orders than crop and region peers",
    ),
    (
        407,
        "coop_trade_freq_vs_peers",
        "合作社交易少于同作物同区域农户",
        "Less co-operative trade than crop and region peers",
    ),
    (408, "ndvi_mean_vs_peers", "作物长势弱于同作物同区域农户", "Weaker vegetation index than crop and region peers"),
    (
        409,
        "machinery_hours_per_mu_vs_peers",
        "农机作业少于同作物同区域农户",
        "Fewer machinery hours than crop and region peers",
    ),
)

INSUFFICIENT_HISTORY = 900
NO_VALID_RECORDS = 901
BELOW_CUTOFF = 902
MISSING_FEATURE = 903

_STATUS: tuple[tuple[int, str, str], ...] = (
    (INSUFFICIENT_HISTORY, "经营历史不足，暂不评分", "Insufficient history: not scored"),
    (NO_VALID_RECORDS, "无有效经营记录", "No valid operating records"),
    (BELOW_CUTOFF, "评分低于准入线", "Score below the approval cut-off"),
    (MISSING_FEATURE, "关键数据缺失", "Key data missing"),
)

REASONS: dict[int, Reason] = {code: Reason(code, zh, en) for code, _f, zh, en in _TABLE}
REASONS.update({code: Reason(code, zh, en) for code, zh, en in _STATUS})


def _segment_of(code: int) -> str:
    return "merchant" if code < 300 else "farmer"


# Keyed by (segment, feature): both segments have an "order_volatility", with different meanings.
FEATURE_REASON: dict[tuple[str, str], int] = {(_segment_of(code), feature): code for code, feature, _zh, _en in _TABLE}


def _check_table() -> None:
    codes = [c for c, *_ in _TABLE] + [c for c, *_ in _STATUS]
    if len(codes) != len(set(codes)) or not all(0 < c < 2**16 for c in codes):
        raise AssertionError("reason codes must be unique uint16 values")


_check_table()


def reason_code_for(segment: str, feature: str, position: int) -> int:
    """The stable code for a segment's model feature; generic features get 60000 + position."""
    return FEATURE_REASON.get((segment, feature), GENERIC_BASE + position)


def describe(code: int, feature: str | None = None) -> Reason:
    """The text for a code; generic codes are described by their feature name."""
    if code in REASONS:
        return REASONS[code]
    if code == NO_REASON:
        return Reason(0, "", "")
    label = feature or f"feature #{code - GENERIC_BASE}"
    return Reason(code, f"{label} 扣分较多", f"{label} cost the most points")
