"""Shared, session-scoped fixtures: one generated dataset and one trained model per segment.

Sizes are modest so the whole tests/scoring run stays within a few minutes on
two cores; the large runs live in bench/scoring_bench.py.
"""

from __future__ import annotations

import pytest

from scoring.pipeline import SegmentTrainResult, train_segment
from scoring.synth import PlatformData, generate_farmers, generate_merchants

MERCHANT_N = 20_000
FARMER_N = 12_000


@pytest.fixture(scope="session")
def merchant_data() -> PlatformData:
    return generate_merchants(MERCHANT_N, seed=11)


@pytest.fixture(scope="session")
def merchant_model(merchant_data: PlatformData) -> SegmentTrainResult:
    return train_segment(merchant_data, challenger=False)


@pytest.fixture(scope="session")
def farmer_data() -> PlatformData:
    return generate_farmers(FARMER_N, seed=12)


@pytest.fixture(scope="session")
def farmer_model(farmer_data: PlatformData) -> SegmentTrainResult:
    return train_segment(farmer_data, challenger=False)
