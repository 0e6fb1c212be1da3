"""Policy properties: monotone in score, within bounds, immutable and versioned."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.canonical import FIXED_MISSING, FIXED_SCALE
from scoring.errors import PolicyError
from scoring.policy import (
    MARKETING_LOAN,
    STOCKING_FINANCE,
    WORKING_CAPITAL,
    Policy,
    default_policy,
    load_policy,
)

scores = st.integers(min_value=0, max_value=1000)
turnovers = st.one_of(st.just(FIXED_MISSING), st.integers(min_value=0, max_value=10**9 * FIXED_SCALE))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    k = draw(st.integers(min_value=1, max_value=6))
    knots = sorted(draw(st.sets(st.integers(min_value=300, max_value=900), min_size=k, max_size=k)))
    mults = sorted(draw(st.lists(st.integers(min_value=0, max_value=50_000), min_size=k, max_size=k)))
    lo = draw(st.integers(min_value=1, max_value=50)) * 1000
    hi = lo + draw(st.integers(min_value=0, max_value=400)) * 1000
    seg = draw(st.sampled_from(["merchant", "farmer"]))
    base = default_policy(seg)
    return dataclasses.replace(
        base,
        version="h",
        score_knots=tuple(knots),
        multiplier_bp=tuple(mults),
        min_limit_cny=lo,
        max_limit_cny=hi,
        cutoff_score=draw(st.integers(300, 700)),
    )


@settings(max_examples=200, deadline=None)
@given(policies(), scores, scores, turnovers)
def test_higher_score_never_lowers_limit(pol: Policy, s1: int, s2: int, t: int) -> None:
    lo, hi = sorted((s1, s2))
    lim = pol.limits(np.array([lo, hi]), np.array([t, t]))
    assert lim[0] <= lim[1]


@settings(max_examples=200, deadline=None)
@given(policies(), scores, turnovers)
def test_every_limit_is_within_bounds_or_declined(pol: Policy, s: int, t: int) -> None:
    lim = int(pol.limits(np.array([s]), np.array([t]))[0])
    if s < pol.cutoff_score:
        assert lim == 0
    else:
        assert pol.min_limit_cny <= lim <= pol.max_limit_cny
        assert lim % pol.rounding_cny == 0


@settings(max_examples=100, deadline=None)
@given(scores, st.integers(min_value=0, max_value=10**8))
def test_default_merchant_policy_bounds(s: int, turnover_cny: int) -> None:
    lim = default_policy("merchant").limit(s, turnover_cny)
    assert lim == 0 or 5_000 <= lim <= 300_000


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=481, max_value=900), st.integers(min_value=1, max_value=10_000))
def test_policy_change_is_a_new_version(new_cutoff: int, bump: int) -> None:
    old = default_policy("merchant")
    new = old.evolve(version=f"merchant-policy-v{bump + 1}", cutoff_score=new_cutoff)
    assert new.version != old.version
    assert new.content_hash() != old.content_hash()
    assert old.cutoff_score == 480  # the old one is untouched


def test_policy_is_immutable_and_validated(tmp_path: Path) -> None:
    pol = default_policy("merchant")
    with pytest.raises(dataclasses.FrozenInstanceError):
        pol.cutoff_score = 300  # type: ignore[misc]
    with pytest.raises(PolicyError):
        pol.evolve(version=pol.version, cutoff_score=500)
    with pytest.raises(PolicyError):
        pol.evolve(version="x", multiplier_bp=(5, 4, 3, 2, 1, 0))
    with pytest.raises(PolicyError):
        pol.evolve(version="x", min_limit_cny=5_500)
    assert len(pol.content_hash()) == 32
    path = pol.save(tmp_path / "p.json")
    assert load_policy(path) == pol
    assert path.read_bytes() == pol.to_json_bytes()
    assert b" " not in pol.to_json_bytes()


def test_products() -> None:
    pol = default_policy("merchant")
    inputs = {
        "promo_top_sku_share_ratio": np.array([3 * FIXED_SCALE, FIXED_SCALE, 3 * FIXED_SCALE]),
        "festival_lift": np.array([2 * FIXED_SCALE, 2 * FIXED_SCALE, FIXED_MISSING]),
    }
    approved = np.array([True, True, False])
    before_618 = pol.products(approved, np.array([700, 700, 400]), inputs, dt.date(2025, 6, 1))
    assert before_618.tolist() == [
        WORKING_CAPITAL | MARKETING_LOAN | STOCKING_FINANCE,
        WORKING_CAPITAL | STOCKING_FINANCE,
        0,
    ]
    quiet = pol.products(approved, np.array([700, 700, 400]), inputs, dt.date(2025, 7, 10))  # no peak within 30 days
    assert quiet.tolist() == [WORKING_CAPITAL | MARKETING_LOAN, WORKING_CAPITAL, 0]
    assert all(int(m) < 2**32 for m in before_618)
