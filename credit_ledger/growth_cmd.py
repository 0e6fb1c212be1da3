"""The ``credit-ledger growth`` command group: a merchant's growth plan as rich tables.

    credit-ledger growth report M00000042                 # latest weekly round's data, Chinese
    credit-ledger growth report M00000042 --week 1 --lang en
    credit-ledger growth report M00000042 --data DIR      # a platform export on disk

Without ``--data`` the platform export is produced exactly as the oracle produces
it (:meth:`sources.synthetic.ScoringSource.platform_data`) for
``$CREDIT_LEDGER_PLATFORM_MERCHANTS`` merchants (default 1000, the demo's count);
``--week`` defaults to the week of the store's latest weekly round (0 if none).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from credit_ledger.common import ReportErrors
from foundation.errors import CreditLedgerError
from scoring.growth import GrowthAnalysis, GrowthReport, platform_merchants

app = typer.Typer(
    help="Growth-plan diagnostics: peer-relative indicators and a diagnosis report per merchant.",
    no_args_is_help=True,
    cls=ReportErrors,
)
console = Console(width=160)

_HEAD = {
    "zh": (
        "指标",
        "得分",
        "同业平均",
        "同业分位",
        "构成（本店 / 同业 / 比值）",
        "代码",
        "诊断",
        "数据",
        "匹配产品",
        "建议",
    ),
    "en": (
        "indicator",
        "value",
        "peer avg",
        "percentile",
        "components (you / peers / ratio)",
        "code",
        "item",
        "numbers",
        "matched product",
        "advice",
    ),
}


@app.callback()
def _group() -> None:
    """Growth-plan diagnostics (``report``)."""


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=1)


def latest_week(settings) -> int:  # type: ignore[no-untyped-def]
    """Week index of the store's latest weekly merchant round (the oracle's numbering), else 0."""
    url = str(settings.database_url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        return 0  # no store yet (and opening one would create an empty database file)
    try:
        from ledger.store import Store

        store = Store.open(settings.database_url, migrate=False)
        try:
            weekly = store.rounds(segment="merchant", kind="weekly")
        finally:
            store.close()
    except Exception:  # no store yet, or not reachable: fall back to the first week
        return 0
    return max(len(weekly) - 1, 0)


def load_analysis(week: int | None, data_dir: Path | None, merchants: int | None) -> tuple[GrowthAnalysis, int]:
    if data_dir is not None:
        from scoring.synth import read_platform_data

        return GrowthAnalysis(read_platform_data(data_dir)), week or 0
    from ledger.config import Settings
    from sources.synthetic import ScoringSource

    settings = Settings.from_env()
    wk = latest_week(settings) if week is None else week
    source = ScoringSource.prepare(
        settings.home, merchants or platform_merchants(), log=lambda m: console.print(f"[dim]{m}[/]")
    )
    data, features = source.platform_data(wk)
    return GrowthAnalysis(data, features=features, policy=source.policy), wk


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, list):
        return "[" + " ".join(_fmt(x) for x in v) + "]"
    return str(v)


def render(report: GrowthReport, lang: str, week: int) -> None:
    h = _HEAD[lang]
    head = Table(
        title=f"{report.merchant_id} · {report.industry} / {report.region} · as of {report.as_of} (week {week}) · "
        f"{report.history_days} days · {report.peer_count} peers"
    )
    for col in h[:5]:
        head.add_column(col, justify="right" if col in h[1:4] else "left", overflow="fold")
    for ind in report.indicators:
        parts = []
        for c in ind.components:
            name = c.zh if lang == "zh" else c.en
            parts.append(f"{name}: {_fmt(c.value)} / {_fmt(c.peer)} / {_fmt(c.ratio)}")
        head.add_row(
            ind.zh if lang == "zh" else ind.en,
            str(ind.value),
            str(ind.peer_average),
            f"{ind.percentile}%",
            "\n".join(parts),
        )
    console.print(head)
    items = Table(title="诊断" if lang == "zh" else "Diagnosis", show_lines=True)
    items.add_column(h[5], no_wrap=True)
    items.add_column(h[6], overflow="fold", ratio=3)  # fold: Chinese text has no spaces to wrap at
    items.add_column(h[7], overflow="fold", ratio=2)
    items.add_column(h[8], overflow="fold", ratio=1)
    for it in report.items:
        numbers = "\n".join(
            f"{k} = {_fmt(v)}" for k, v in it.numbers.items() if k not in ("hour_share", "festival_zh", "festival_en")
        )
        items.add_row(it.code, f"[bold]{it.title(lang)}[/]\n{it.text(lang)}", numbers, it.product(lang) or "-")
    console.print(items)


@app.command()
def report(
    merchant: str = typer.Argument(..., help="platform merchant id, e.g. M00000042"),
    week: int | None = typer.Option(
        None, "--week", "-w", min=0, help="platform week (default: the latest weekly round's)"
    ),
    lang: str = typer.Option("zh", "--lang", help="zh or en"),
    data_dir: Path | None = typer.Option(None, "--data", help="read this platform export instead of the oracle's"),
    merchants: int | None = typer.Option(
        None, "--merchants", min=1, help="platform size (default $CREDIT_LEDGER_PLATFORM_MERCHANTS or 1000)"
    ),
) -> None:
    """Print a merchant's indicators (with peer comparison) and diagnosis items."""
    if lang not in ("zh", "en"):
        _fail("--lang must be zh or en")
    try:
        analysis, wk = load_analysis(week, data_dir, merchants)
    except CreditLedgerError:
        raise  # reported by the CLI with its code and hint
    except (ValueError, OSError) as exc:  # pyarrow/pandas on a directory that is not a platform export
        _fail(str(exc))
    if merchant not in analysis:
        _fail(f"{merchant} is not in the platform export for week {wk}")
    render(analysis.report(merchant, with_daily=False), lang, wk)
