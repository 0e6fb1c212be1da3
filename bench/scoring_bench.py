"""Scoring benchmark: generator speed, training, model quality vs the hidden truth, scoring speed.

Run: ``python bench/scoring_bench.py [--n 100000] [--score-rows 1000000]``.
Prints one table of comparable numbers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from scoring import metrics
from scoring.engine import score_columns
from scoring.features import build_features
from scoring.pipeline import train_segment
from scoring.policy import default_policy
from scoring.synth import generate_farmers, generate_merchants


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--farmers", type=int, default=50_000)
    ap.add_argument("--score-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []

    t = time.perf_counter()
    data = generate_merchants(args.n, seed=2025)
    rows.append(
        (f"synth {args.n:,} merchants x 60 days ({len(data.daily):,} rows)", f"{time.perf_counter() - t:.1f} s")
    )
    res = train_segment(data, challenger=True)
    m = res.metrics
    rows += [
        ("features (validate + build), merchants", f"{m['feature_seconds']:.1f} s"),
        ("scorecard training (binning + LR + points)", f"{m['train_seconds']:.1f} s"),
        ("challenger training (HistGradientBoosting)", f"{m['challenger_seconds']:.1f} s"),
        ("merchant hold-out size", f"{m['n_holdout']:,}"),
        ("merchant scorecard AUC", f"{m['scorecard_auc']:.4f}"),
        ("merchant hidden-risk AUC (best possible)", f"{m['hidden_risk_auc']:.4f}"),
        ("merchant challenger AUC", f"{m['challenger_auc']:.4f}"),
        ("merchant scorecard KS / challenger KS", f"{m['scorecard_ks']:.4f} / {m['challenger_ks']:.4f}"),
    ]
    art = res.report.artifact
    pol = default_policy("merchant")

    # Weekly refresh: PSI of the score distribution between round 0 and round 1.
    n_psi = min(args.n, 50_000)
    r0 = generate_merchants(n_psi, seed=99, round_offset=0)
    r1 = generate_merchants(n_psi, seed=99, round_offset=1)
    b0 = score_columns(art, pol, build_features(r0), r0.as_of)
    b1 = score_columns(art, pol, build_features(r1), r1.as_of)
    ok = (b0.status == "scored") & (b1.status == "scored")
    edges = [300, 450, 500, 550, 600, 650, 700, 901]
    rows.append(("PSI of scores, round 0 -> round 1", f"{metrics.psi(b0.score[ok], b1.score[ok], edges):.4f}"))
    rows.append(("mean |score change| round 0 -> 1", f"{np.abs(b1.score[ok] - b0.score[ok]).mean():.1f} points"))
    approved = b0.limit_cny > 0
    rows.append(
        ("merchant approval rate / mean limit", f"{approved.mean():.1%} / {b0.limit_cny[approved].mean():,.0f} CNY")
    )

    # Scoring speed: replicate the feature frame up to score_rows rows with fresh ids.
    feats = build_features(r0)
    reps = int(np.ceil(args.score_rows / len(feats)))
    big = pd.concat([feats] * reps).iloc[: args.score_rows]
    big.index = pd.Index([f"X{i:09d}" for i in range(len(big))], name="merchant_id")
    t = time.perf_counter()
    batch = score_columns(art, pol, big, r0.as_of)
    t_cols = time.perf_counter() - t
    t = time.perf_counter()
    decisions = batch.decisions()
    t_obj = time.perf_counter() - t
    rows.append((f"score_columns on {len(big):,} feature rows", f"{t_cols:.1f} s"))
    rows.append((f"  + {len(decisions):,} Decision objects", f"{t_obj:.1f} s"))

    t = time.perf_counter()
    farm = generate_farmers(args.farmers, seed=2026)
    t_farm = time.perf_counter() - t
    fres = train_segment(farm, challenger=True)
    fm = fres.metrics
    fpol = default_policy("farmer")
    fb = score_columns(fres.report.artifact, fpol, build_features(farm), farm.as_of)
    fap = fb.limit_cny > 0
    rows += [
        (f"synth {args.farmers:,} farmers", f"{t_farm:.1f} s"),
        (
            "farmer scorecard / hidden-risk / challenger AUC",
            f"{fm['scorecard_auc']:.4f} / {fm['hidden_risk_auc']:.4f} / {fm['challenger_auc']:.4f}",
        ),
        ("farmer scorecard KS", f"{fm['scorecard_ks']:.4f}"),
        ("farmer approval rate / mean limit", f"{fap.mean():.1%} / {fb.limit_cny[fap].mean():,.0f} CNY"),
    ]

    table = Table(title="credit-ledger scoring benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for r in rows:
        table.add_row(*r)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
