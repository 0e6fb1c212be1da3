"""Credit policy: score and turnover -> limit and products; an immutable, versioned parameter set.

A :class:`Policy` is a frozen value.  Its canonical JSON (:meth:`Policy.to_json_bytes`)
is hashed with sha256 for the on-chain PolicyRegistry.  Changing a parameter
means making a new Policy with a new version label (:meth:`Policy.evolve`);
there is no way to edit one in place, so every decision names the exact
parameters that produced it.

Limit rule (integer arithmetic only, so it replays exactly):

1. A score below ``cutoff_score`` is declined: limit 0, no products.
2. Otherwise the multiplier (basis points of turnover) is interpolated
   linearly, with floor division, between ``score_knots`` and
   ``multiplier_bp``; outside the knots it is flat.  Knots rise and
   multipliers never fall, so a higher score never lowers the limit.
3. ``limit = turnover * multiplier_bp // 10000``, clamped to
   [``min_limit_cny``, ``max_limit_cny``] and rounded down to
   ``rounding_cny`` (the bounds are multiples of it, so it stays in bounds).

Turnover is monthly revenue for merchants and last year's output value for
farmers.  Limits are whole CNY.

Products (bits of ``product_mask``; constants defined once, here):

* ``WORKING_CAPITAL`` - every approved merchant.
* ``MARKETING_LOAN`` (14 days interest-free) - approved merchants whose top
  SKUs sell in promotions but not outside them
  (``promo_top_sku_share_ratio >= marketing_min_promo_ratio``).
* ``STOCKING_FINANCE`` - short-cycle stocking finance, offered when a festival
  peak is at most ``stocking_lead_days`` ahead and the merchant's history shows
  festival demand (``festival_lift >= stocking_min_festival_lift``).
* Farmers: ``FARM_INPUT_LOAN`` (every approved farmer), ``MACHINERY_FINANCE``
  (heavy machinery users), ``COOP_TRADE_LINE`` (active co-operative traders).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from scoring.calendar import next_peak
from scoring.canonical import FIXED_MISSING, FIXED_SCALE, canonical_json_bytes, sha256
from scoring.errors import PolicyError

POLICY_FORMAT = "credit-ledger-policy/1"

WORKING_CAPITAL: int = 1 << 0
MARKETING_LOAN: int = 1 << 1
STOCKING_FINANCE: int = 1 << 2
FARM_INPUT_LOAN: int = 1 << 8
MACHINERY_FINANCE: int = 1 << 9
COOP_TRADE_LINE: int = 1 << 10

PRODUCTS: dict[int, tuple[str, str]] = {
    WORKING_CAPITAL: ("经营周转贷", "Working-capital line"),
    MARKETING_LOAN: ("营销贷（14天免息）", "Marketing loan (14 days interest-free)"),
    STOCKING_FINANCE: ("节前备货贷", "Short-cycle stocking finance"),
    FARM_INPUT_LOAN: ("农资贷", "Farm-input loan"),
    MACHINERY_FINANCE: ("农机贷", "Machinery finance"),
    COOP_TRADE_LINE: ("合作社交易贷", "Co-operative trade line"),
}


def product_names(mask: int, lang: str = "en") -> list[str]:
    """Human names of the products in a mask, in bit order."""
    i = 0 if lang == "zh" else 1
    return [names[i] for bit, names in sorted(PRODUCTS.items()) if mask & bit]


@dataclass(frozen=True)
class Policy:
    """One immutable, versioned policy parameter set for one segment.

    Thresholds on feature values are fixed-point micro-units (x 10**6), the
    same scale as the committed features, so product decisions are exact.
    """

    segment: str
    version: str
    min_limit_cny: int
    max_limit_cny: int
    cutoff_score: int
    min_history_days: int
    score_knots: tuple[int, ...]
    multiplier_bp: tuple[int, ...]
    turnover_input: str
    rounding_cny: int = 1000
    # merchant products
    marketing_min_promo_ratio: int = 2 * FIXED_SCALE
    stocking_lead_days: int = 30
    stocking_min_festival_lift: int = 1_300_000
    # farmer products
    machinery_min_hours_per_mu: int = 2 * FIXED_SCALE
    coop_min_trades: int = 2 * FIXED_SCALE

    def __post_init__(self) -> None:
        object.__setattr__(self, "score_knots", tuple(int(k) for k in self.score_knots))
        object.__setattr__(self, "multiplier_bp", tuple(int(m) for m in self.multiplier_bp))
        k, m = self.score_knots, self.multiplier_bp
        if self.segment not in ("merchant", "farmer"):
            raise PolicyError(f"unknown segment {self.segment!r}")
        if not self.version:
            raise PolicyError("a policy needs a version label")
        if len(k) < 1 or len(k) != len(m):
            raise PolicyError("score_knots and multiplier_bp must be non-empty and equally long")
        if any(b <= a for a, b in itertools.pairwise(k)) or any(b < a for a, b in itertools.pairwise(m)):
            raise PolicyError("score knots must rise and multipliers must not fall")
        if min(m) < 0 or max(m) > 1_000_000:
            raise PolicyError("multipliers must be within 0..1,000,000 basis points")
        r = self.rounding_cny
        if r <= 0 or self.min_limit_cny % r or self.max_limit_cny % r:
            raise PolicyError("limits must be positive multiples of rounding_cny")
        if not 0 < self.min_limit_cny <= self.max_limit_cny < 2**63 // 10_000:
            raise PolicyError("need 0 < min_limit_cny <= max_limit_cny")
        if self.min_history_days < 1 or self.stocking_lead_days < 0:
            raise PolicyError("min_history_days must be >= 1 and stocking_lead_days >= 0")

    # ------------------------------------------------------------- identity

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["format"] = POLICY_FORMAT
        return d

    def to_json_bytes(self) -> bytes:
        return canonical_json_bytes(self.to_dict())

    def content_hash(self) -> bytes:
        """sha256 of :meth:`to_json_bytes` (32 bytes): the PolicyRegistry hash."""
        return sha256(self.to_json_bytes())

    def evolve(self, version: str, **changes: Any) -> Policy:
        """A new policy with ``changes`` applied; the version label must change too."""
        if version == self.version:
            raise PolicyError("a policy change needs a new version label")
        return dataclasses.replace(self, version=version, **changes)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.to_json_bytes())
        return p

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        if d.get("format") != POLICY_FORMAT:
            raise PolicyError(f"unknown policy format {d.get('format')!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields - {"format"}
        if unknown:
            raise PolicyError(f"unknown policy fields {sorted(unknown)}")
        return cls(**{k: v for k, v in d.items() if k != "format"})

    # ------------------------------------------------------------- decisions

    def multiplier(self, scores: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
        """Basis points of turnover for each score (integer, nondecreasing in score)."""
        s = np.asarray(scores, dtype=np.int64)
        k = np.array(self.score_knots, dtype=np.int64)
        m = np.array(self.multiplier_bp, dtype=np.int64)
        if len(k) == 1:
            return np.full(s.shape, m[0], dtype=np.int64)
        i = np.clip(np.searchsorted(k, s, side="right") - 1, 0, len(k) - 2)
        sc = np.clip(s, k[0], k[-1])
        bp: NDArray[np.int64] = m[i] + (m[i + 1] - m[i]) * (sc - k[i]) // (k[i + 1] - k[i])
        return bp

    def limits(self, scores: NDArray[np.integer[Any]], turnover_fixed: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
        """Limit in whole CNY per row: 0 below the cut-off, else within [min, max]."""
        s = np.asarray(scores, dtype=np.int64)
        t = np.asarray(turnover_fixed, dtype=np.int64)
        turnover = np.where(t == FIXED_MISSING, 0, np.maximum(t, 0) // FIXED_SCALE)
        turnover = np.minimum(turnover, self.max_limit_cny * 10_000)  # keeps the product in int64
        raw = turnover * self.multiplier(s) // 10_000
        lim = np.clip(raw, self.min_limit_cny, self.max_limit_cny)
        lim = lim // self.rounding_cny * self.rounding_cny
        return np.where(s >= self.cutoff_score, lim, 0).astype(np.int64)

    def limit(self, score: int, turnover_cny: float) -> int:
        """Scalar convenience for :meth:`limits`."""
        t = np.array(
            [FIXED_MISSING if turnover_cny != turnover_cny else round(turnover_cny * FIXED_SCALE)], dtype=np.int64
        )
        return int(self.limits(np.array([score]), t)[0])

    def products(
        self,
        approved: NDArray[np.bool_],
        scores: NDArray[np.integer[Any]],
        inputs: Mapping[str, NDArray[np.integer[Any]]],
        as_of: dt.date,
    ) -> NDArray[np.int64]:
        """Product mask per row; ``inputs`` are fixed-point feature columns by name."""
        approved = np.asarray(approved, dtype=bool)
        mask = np.zeros(approved.shape, dtype=np.int64)

        def col(name: str) -> NDArray[np.int64]:
            v = inputs.get(name)
            return (
                np.full(approved.shape, FIXED_MISSING, dtype=np.int64) if v is None else np.asarray(v, dtype=np.int64)
            )

        def at_least(name: str, threshold: int) -> NDArray[np.bool_]:
            v = col(name)
            # ndarray.__ne__ is typed as returning Any (it must accept any object)
            present: NDArray[np.bool_] = v != FIXED_MISSING
            return present & (v >= threshold)

        if self.segment == "merchant":
            mask |= np.where(approved, WORKING_CAPITAL, 0)
            mask |= np.where(
                approved & at_least("promo_top_sku_share_ratio", self.marketing_min_promo_ratio), MARKETING_LOAN, 0
            )
            if next_peak(as_of, self.stocking_lead_days) is not None:
                mask |= np.where(
                    approved & at_least("festival_lift", self.stocking_min_festival_lift), STOCKING_FINANCE, 0
                )
        else:
            mask |= np.where(approved, FARM_INPUT_LOAN, 0)
            mask |= np.where(
                approved & at_least("machinery_hours_per_mu", self.machinery_min_hours_per_mu), MACHINERY_FINANCE, 0
            )
            coop = at_least("coop_member", FIXED_SCALE) & at_least("coop_trade_freq", self.coop_min_trades)
            mask |= np.where(approved & coop, COOP_TRADE_LINE, 0)
        return mask

    def explain(self, score: int, inputs: dict[str, int], as_of: dt.date) -> list[str]:
        """Plain-language steps behind one row's limit and products (for ``explain``)."""
        lines: list[str] = []
        if score < self.cutoff_score:
            return [f"score {score} < cut-off {self.cutoff_score}: declined, limit 0, no products"]
        t = inputs.get(self.turnover_input, FIXED_MISSING)
        turnover = 0 if t == FIXED_MISSING else max(t, 0) // FIXED_SCALE
        m = int(self.multiplier(np.array([score]))[0])
        lim = self.limit(score, turnover)
        lines.append(
            f"{self.turnover_input} {turnover:,} CNY x {m / 100:.2f}% (multiplier at score {score}) "
            f"= {turnover * m // 10_000:,}; clamped to [{self.min_limit_cny:,}, {self.max_limit_cny:,}] "
            f"and rounded down to {self.rounding_cny:,} -> {lim:,} CNY"
        )
        mask = int(
            self.products(np.array([True]), np.array([score]), {k: np.array([v]) for k, v in inputs.items()}, as_of)[0]
        )
        for bit, (zh, en) in sorted(PRODUCTS.items()):
            if mask & bit:
                lines.append(f"product: {en} / {zh}")
        if self.segment == "merchant":
            peak = next_peak(as_of, self.stocking_lead_days)
            lift = inputs.get("festival_lift", FIXED_MISSING)
            lift_txt = "n/a" if lift == FIXED_MISSING else f"{lift / FIXED_SCALE:.2f}"
            peak_txt = (
                f"{peak[1].name_en} on {peak[0]}" if peak else f"no festival peak within {self.stocking_lead_days} days"
            )
            lines.append(
                f"stocking finance: {peak_txt}; festival lift {lift_txt} (needs >= {self.stocking_min_festival_lift / FIXED_SCALE:.2f})"
            )
            ratio = inputs.get("promo_top_sku_share_ratio", FIXED_MISSING)
            ratio_txt = "n/a" if ratio == FIXED_MISSING else f"{ratio / FIXED_SCALE:.2f}"
            lines.append(
                f"marketing loan: top-SKU promo share ratio {ratio_txt} (needs >= {self.marketing_min_promo_ratio / FIXED_SCALE:.2f})"
            )
        return lines


def default_policy(segment: str) -> Policy:
    """The shipped default policy for ``"merchant"`` or ``"farmer"``."""
    if segment == "merchant":
        return Policy(
            segment="merchant",
            version="merchant-policy-v1",
            min_limit_cny=5_000,
            max_limit_cny=300_000,
            cutoff_score=480,
            min_history_days=45,
            score_knots=(480, 550, 600, 650, 700, 800),
            multiplier_bp=(2_000, 3_500, 5_000, 7_000, 9_000, 12_000),
            turnover_input="monthly_revenue_cny",
        )
    if segment == "farmer":
        return Policy(
            segment="farmer",
            version="farmer-policy-v1",
            min_limit_cny=3_000,
            max_limit_cny=150_000,
            cutoff_score=480,
            min_history_days=45,
            score_knots=(480, 550, 600, 650, 700, 800),
            multiplier_bp=(1_400, 2_200, 3_100, 3_900, 4_600, 5_600),
            turnover_input="annual_output_value_cny",
        )
    raise PolicyError(f"unknown segment {segment!r}")


def load_policy(path: str | Path) -> Policy:
    """Read a policy file written by :meth:`Policy.save`."""
    try:
        return Policy.from_dict(json.loads(Path(path).read_bytes()))
    except (ValueError, TypeError) as exc:
        raise PolicyError(f"{path}: malformed policy: {exc}") from exc
