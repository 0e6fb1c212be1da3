"""The ``credit-ledger score`` command group: synth, train, run, explain.

Typical session (defaults live under ``$CREDIT_LEDGER_HOME/scoring``)::

    credit-ledger score synth --n 20000            # round 0 of generated data
    credit-ledger score train                      # scorecard + challenger, artifact
    credit-ledger score run                        # decisions for round 0
    credit-ledger score synth --round 1 && credit-ledger score run --round 1   # weekly refresh
    credit-ledger score explain M00000042
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import SupportsInt

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from credit_ledger import score_paths as paths
from credit_ledger.common import ReportErrors
from scoring.canonical import FIXED_MISSING, FIXED_SCALE
from scoring.engine import Decision, DecisionBatch, decode_feature_bytes, score_columns
from scoring.errors import ScoringError
from scoring.features import build_features
from scoring.pipeline import train_segment
from scoring.policy import Policy, default_policy, load_policy, product_names
from scoring.reasons import describe
from scoring.refresh import compare
from scoring.scorecard import ModelArtifact, load_artifact
from scoring.synth import PlatformData, generate, inject_defects, read_platform_data
from scoring.validate import ValidationResult, validate

app = typer.Typer(
    help="Behaviour-based credit scoring: generate data, train the scorecard, score a round, explain a decision.",
    no_args_is_help=True,
    cls=ReportErrors,  # a ScoringError is reported with its code and hint, and exits with its status
)
console = Console(width=140)

SegmentOpt = typer.Option("merchant", "--segment", "-s", help="merchant or farmer")
RoundOpt = typer.Option(0, "--round", "-r", help="weekly round number (0 = first window)")


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=1)


def _policy_for(segment: str, path: Path | None) -> Policy:
    p = path or paths.policy_path(segment)
    if p.exists():
        return load_policy(p)
    if path is not None:
        raise ScoringError(f"policy file {p} not found")
    pol = default_policy(segment)
    pol.save(p)  # make the default explicit and hashable on disk
    return pol


@app.command()
def synth(
    segment: str = SegmentOpt,
    n: int = typer.Option(20_000, "--n", help="number of merchants (or farmers)"),
    seed: int = typer.Option(7, help="generator seed: same seed + id = same hidden risk"),
    round_no: int = RoundOpt,
    days: int = typer.Option(60, help="days of history per window"),
    dirty: bool = typer.Option(
        False, help="inject export faults (gaps, duplicates, NaNs, negative refunds, short histories)"
    ),
    out: Path | None = typer.Option(
        None, help="output directory (default: $CREDIT_LEDGER_HOME/scoring/data/<segment>/round-NNN)"
    ),
) -> None:
    """Generate one window of platform data (Parquet; see scoring/DATA_FORMAT.md)."""
    try:
        t0 = time.perf_counter()
        data = generate(segment, n, seed, days=days, round_offset=round_no)
        if dirty:
            data = inject_defects(data, seed=seed + 1)
        target = data.write(out or paths.data_dir(segment, round_no))
        secs = time.perf_counter() - t0
    except ValueError as exc:  # the generator's argument checks (segment, n, days, seed)
        _fail(exc)
    t = Table(title=f"Generated {segment} data")
    for col in ("what", "value"):
        t.add_column(col)
    t.add_row("directory", str(target))
    t.add_row("entities", f"{len(data.entities):,}")
    t.add_row("daily records", f"{len(data.daily):,}")
    t.add_row("window", f"{data.window_start} .. {data.window_end} (round {round_no})")
    t.add_row("default rate (truth)", f"{data.truth['defaulted'].mean():.2%}" if data.truth is not None else "-")
    t.add_row("seconds", f"{secs:.1f}")
    console.print(t)


@app.command()
def train(
    segment: str = SegmentOpt,
    data_dir: Path | None = typer.Option(None, "--data", help="training export (default: round 0 data)"),
    model: Path | None = typer.Option(None, help="artifact path to write"),
    version: str | None = typer.Option(None, help="model version label"),
    challenger: bool = typer.Option(True, help="also train the gradient-boosting challenger"),
    seed: int = typer.Option(0, help="train/hold-out split seed"),
) -> None:
    """Train the scorecard (and challenger) and write the canonical JSON artifact."""
    data = read_platform_data(data_dir or paths.data_dir(segment, 0))
    if data.segment != segment:
        raise ScoringError(f"data is for segment {data.segment!r}; pass --segment {data.segment}")
    result = train_segment(data, version=version, challenger=challenger, seed=seed)
    art = result.report.artifact
    target = art.save(model or paths.model_path(segment))
    pol = _policy_for(segment, None)
    m = result.metrics
    t = Table(title=f"Training report - {art.version}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    rows = [
        ("train / hold-out merchants", f"{m['n_train']:,} / {m['n_holdout']:,}"),
        ("features used", f"{m['features_used']} of {result.report.metrics['features_offered']}"),
        ("scorecard AUC (hold-out)", f"{m['scorecard_auc']:.4f}"),
        ("hidden-risk AUC (best possible)", f"{m['hidden_risk_auc']:.4f}"),
        ("scorecard KS", f"{m['scorecard_ks']:.4f}"),
    ]
    if "challenger_auc" in m:
        rows += [
            ("challenger AUC (gradient boosting)", f"{m['challenger_auc']:.4f}"),
            ("cost of interpretability (AUC)", f"{m['challenger_auc'] - m['scorecard_auc']:+.4f}"),
        ]
    rows += [
        ("training seconds (scorecard)", f"{m['train_seconds']:.1f}"),
        ("artifact", str(target)),
        ("artifact sha256", art.content_hash().hex()),
        ("feature schema sha256", art.feature_schema_hash().hex()),
        ("policy", f"{pol.version} sha256 {pol.content_hash().hex()[:16]}..."),
    ]
    for r in rows:
        t.add_row(*r)
    console.print(t)
    if result.report.calibration is not None:
        c = Table(title="Calibration by score band (hold-out)")
        for col in ("band", "count", "observed default rate", "predicted PD"):
            c.add_column(col, justify="right")
        for r in result.report.calibration.itertuples():
            c.add_row(
                r.band, f"{r.count:,}", f"{np.nan_to_num(r.observed_rate):.2%}", f"{np.nan_to_num(r.predicted_pd):.2%}"
            )
        console.print(c)
    p = Table(title="Points table (worst bin = 0)")
    for col in ("feature", "bins", "points per bin", "missing"):
        p.add_column(col)
    p.add_row("(base points)", "", str(art.base_points), "")
    for b in art.bins:
        p.add_row(b.name, str(len(b.points)), " ".join(str(x) for x in b.points), str(b.missing_points))
    console.print(p)


def _score_round(
    segment: str, data_dir: Path | None, round_no: int, model: Path | None, policy: Path | None
) -> tuple[PlatformData, ModelArtifact, Policy, ValidationResult, pd.DataFrame, DecisionBatch]:
    data = read_platform_data(data_dir or paths.data_dir(segment, round_no))
    art = load_artifact(model or paths.model_path(segment))
    pol = _policy_for(segment, policy)
    validation = validate(data)
    feats = build_features(data, validation)
    batch = score_columns(art, pol, feats, data.as_of)
    return data, art, pol, validation, feats, batch


def _reason_codes(values: Iterable[SupportsInt]) -> tuple[int, int, int, int]:
    """A decision's four reason codes as ints (from a batch row or a stored decisions row)."""
    first, second, third, fourth = (int(v) for v in values)
    return first, second, third, fourth


@app.command()
def run(
    segment: str = SegmentOpt,
    round_no: int = RoundOpt,
    data_dir: Path | None = typer.Option(None, "--data", help="export to score (default: this round's data)"),
    model: Path | None = typer.Option(None, help="model artifact"),
    policy: Path | None = typer.Option(None, help="policy file (default: the segment's default policy)"),
    out: Path | None = typer.Option(None, help="decisions Parquet to write"),
    previous: Path | None = typer.Option(None, help="previous round's decisions (default: round-1's file if present)"),
) -> None:
    """Score a round: validate records, build features, score, write decisions, show changes."""
    t0 = time.perf_counter()
    data, art, pol, validation, _feats, batch = _score_round(segment, data_dir, round_no, model, policy)
    secs = time.perf_counter() - t0
    frame = batch.to_frame()
    target = out or paths.decisions_path(segment, round_no)
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(target, index=False)
    v = Table(title="Input validation")
    v.add_column("rule")
    v.add_column("records", justify="right")
    for k, val in sorted(validation.summary.items()):
        v.add_row(k, f"{val:,}")
    console.print(v)
    s = Table(title=f"Round {round_no} as of {data.as_of}: {art.version} / {pol.version}")
    for col in ("status", "merchants", "approved", "mean score", "mean limit (CNY)"):
        s.add_column(col, justify="right")
    for status, g in frame.groupby("status"):
        ok = g[g.limit_cny > 0]
        s.add_row(
            status,
            f"{len(g):,}",
            f"{len(ok):,}",
            f"{g.score.mean():.0f}",
            f"{ok.limit_cny.mean():,.0f}" if len(ok) else "-",
        )
    console.print(s)
    pr = Table(title="Products offered")
    pr.add_column("product")
    pr.add_column("merchants", justify="right")
    for bit_name in sorted({n for m in frame.product_mask.unique() for n in product_names(int(m))}):
        cnt = sum(bit_name in product_names(int(m)) for m in frame.product_mask)
        pr.add_row(bit_name, f"{cnt:,}")
    console.print(pr)
    prev_path = previous or (paths.decisions_path(segment, round_no - 1) if round_no > 0 else None)
    if prev_path is not None and Path(prev_path).exists():
        prev = pd.read_parquet(prev_path).set_index("merchant_id")
        cur = frame.set_index("merchant_id")
        both = cur.join(prev[["score", "limit_cny"]].add_suffix("_prev"), how="inner")
        both = both[(both.status == "scored") & (both.score_prev > 0)]
        d = Table(title=f"Change since previous round ({prev_path})")
        for col in ("measure", "value"):
            d.add_column(col)
        d.add_row("merchants compared", f"{len(both):,}")
        d.add_row("mean score delta", f"{(both.score - both.score_prev).mean():+.1f}")
        d.add_row(
            "limits up / down / same",
            f"{(both.limit_cny > both.limit_cny_prev).sum():,} / {(both.limit_cny < both.limit_cny_prev).sum():,} / {(both.limit_cny == both.limit_cny_prev).sum():,}",
        )
        console.print(d)
    console.print(f"wrote {len(frame):,} decisions to {target} in {secs:.1f} s")


@app.command()
def explain(
    merchant: str = typer.Argument(..., help="merchant (or farmer) id, e.g. M00000042"),
    segment: str = SegmentOpt,
    round_no: int = RoundOpt,
    data_dir: Path | None = typer.Option(None, "--data", help="export holding the merchant"),
    model: Path | None = typer.Option(None, help="model artifact"),
    policy: Path | None = typer.Option(None, help="policy file"),
    previous: Path | None = typer.Option(None, help="previous round's decisions, to show what changed"),
) -> None:
    """Explain one decision: points per feature against the best bin, reasons, limit and products."""
    data, art, pol, _v, feats, batch = _score_round(segment, data_dir, round_no, model, policy)
    pos = np.flatnonzero(batch.merchant_id == merchant)
    if len(pos) == 0:
        raise ScoringError(f"{merchant} is not in this export")
    i = int(pos[0])
    dec = (
        batch.decisions()[i]
        if len(batch) < 50_000
        else Decision(
            merchant,
            batch.segment,
            batch.status[i],
            batch.status_reason[i],
            int(batch.score[i]),
            int(batch.limit_cny[i]),
            int(batch.product_mask[i]),
            _reason_codes(batch.reason_codes[i]),
            batch.feature_bytes[i],
            batch.model_version,
            batch.policy_version,
            batch.as_of,
        )
    )
    values = decode_feature_bytes(art, dec.feature_bytes)
    head = Table(
        title=f"{merchant} as of {dec.as_of} - {dec.status}{' (' + dec.status_reason + ')' if dec.status_reason else ''}"
    )
    head.add_column("")
    head.add_column("")
    row = feats.loc[merchant]
    for key in [k for k in ("industry", "region", "main_crop") if k in feats.columns]:
        head.add_row(key, str(row[key]))
    head.add_row("history days", str(int(row["history_days"])))
    head.add_row(
        "score", f"{dec.score}  (300..900; 600 = odds 20:1, +50 doubles the odds)" if dec.score else "not scored"
    )
    head.add_row("limit", f"{dec.limit_cny:,} CNY")
    head.add_row("products", ", ".join(product_names(dec.product_mask)) or "none")
    head.add_row("model / policy", f"{art.version} / {pol.version}")
    console.print(head)
    pts = batch.points[i]
    t = Table(title=f"Points per feature (base {art.base_points})")
    for col in ("feature", "value", "bin", "points", "best", "short of best", "reason"):
        t.add_column(col, justify="right" if col not in ("feature", "bin", "reason") else "left")
    for j, b in enumerate(art.bins):
        raw = values[b.name]
        if raw == FIXED_MISSING:
            val, label = "missing", "missing"
        else:
            val = f"{raw / FIXED_SCALE:,.4f}"
            label = b.bin_labels()[int(np.searchsorted(np.array(b.splits, dtype=np.int64), raw, side="right"))]
        short = b.best_points - int(pts[j])
        t.add_row(
            b.name,
            val,
            label,
            str(int(pts[j])),
            str(b.best_points),
            str(short) if short else "",
            str(b.reason_code) if short else "",
        )
    t.add_row("[bold]total[/]", "", "", f"[bold]{art.base_points + int(pts.sum())}[/]", "", "", "")
    console.print(t)
    r = Table(title="Top four reasons (most points lost against the best bin)")
    for col in ("#", "code", "中文", "English"):
        r.add_column(col)
    for k, code in enumerate(dec.reason_codes, 1):
        if code:
            txt = describe(code)
            r.add_row(str(k), str(code), txt.zh, txt.en)
    console.print(r)
    console.print("[bold]Limit and products[/]")
    if dec.status != "scored":
        console.print(f"  not scored: {dec.status_reason} (needs {pol.min_history_days} days of history)")
    else:
        for line in pol.explain(dec.score, values, data.as_of):
            console.print("  " + line)
    if previous is not None and previous.exists():
        prev = pd.read_parquet(previous).set_index("merchant_id")
        if merchant in prev.index:
            p = prev.loc[merchant]
            pdec = Decision(
                merchant,
                dec.segment,
                p.status,
                p.status_reason,
                int(p.score),
                int(p.limit_cny),
                int(p.product_mask),
                _reason_codes([p[f"reason_{k}"] for k in range(1, 5)]),
                bytes(p.feature_bytes),
                p.model_version,
                p.policy_version,
                p.as_of,
            )
            ch = compare(pdec, dec)
            console.print(
                f"since {pdec.as_of}: score {ch.score_delta:+d}, limit {ch.limit_delta:+,d} CNY, "
                f"reasons added {list(ch.reasons_added)}, removed {list(ch.reasons_removed)}"
            )
