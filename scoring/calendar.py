"""Festival calendar shared by the generator and the policy.

Chinese retail demand peaks around a handful of festivals and platform
shopping days.  The generator uses these dates for seasonality; the policy
uses them to offer short-cycle stocking finance ahead of the next peak.  The
lunar festivals are listed explicitly (no lunar arithmetic at run time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Festival:
    """One festival kind: name, demand-ramp length and the kind of demand it moves."""

    key: str
    name_zh: str
    name_en: str
    ramp_days: int  # demand builds over this many days before the peak day
    kind: str  # "food", "ecommerce" or "holiday": which industries it moves


FESTIVALS: dict[str, Festival] = {
    "spring": Festival("spring", "春节", "Spring Festival", 14, "food"),
    "labour": Festival("labour", "劳动节", "Labour Day", 5, "holiday"),
    "dragon_boat": Festival("dragon_boat", "端午节", "Dragon Boat Festival", 7, "food"),
    "618": Festival("618", "618购物节", "618 Shopping Festival", 10, "ecommerce"),
    "mid_autumn": Festival("mid_autumn", "中秋节", "Mid-Autumn Festival", 10, "food"),
    "national": Festival("national", "国庆节", "National Day", 5, "holiday"),
    "double11": Festival("double11", "双十一", "Double 11", 10, "ecommerce"),
    "double12": Festival("double12", "双十二", "Double 12", 5, "ecommerce"),
}

_LUNAR: dict[str, dict[int, tuple[int, int]]] = {
    "spring": {2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26)},
    "dragon_boat": {2023: (6, 22), 2024: (6, 10), 2025: (5, 31), 2026: (6, 19), 2027: (6, 9), 2028: (5, 28)},
    "mid_autumn": {2023: (9, 29), 2024: (9, 17), 2025: (10, 6), 2026: (9, 25), 2027: (9, 15), 2028: (10, 3)},
}
_FIXED: dict[str, tuple[int, int]] = {
    "labour": (5, 1),
    "618": (6, 18),
    "national": (10, 1),
    "double11": (11, 11),
    "double12": (12, 12),
}
FIRST_YEAR, LAST_YEAR = 2023, 2028


def festival_peaks(start: dt.date, end: dt.date) -> list[tuple[dt.date, Festival]]:
    """All festival peak days in ``[start, end]``, sorted by date."""
    out: list[tuple[dt.date, Festival]] = []
    for year in range(max(FIRST_YEAR, start.year), min(LAST_YEAR, end.year) + 1):
        for key, (m, d) in _FIXED.items():
            out.append((dt.date(year, m, d), FESTIVALS[key]))
        for key, table in _LUNAR.items():
            m, d = table[year]
            out.append((dt.date(year, m, d), FESTIVALS[key]))
    return sorted((p for p in out if start <= p[0] <= end), key=lambda p: (p[0], p[1].key))


def next_peak(as_of: dt.date, within_days: int) -> tuple[dt.date, Festival] | None:
    """The first festival peak strictly after ``as_of`` and at most ``within_days`` away."""
    peaks = festival_peaks(as_of + dt.timedelta(days=1), as_of + dt.timedelta(days=within_days))
    return peaks[0] if peaks else None
