"""The ``credit-ledger growth`` command group: a merchant's growth plan as rich tables.

    credit-ledger growth report M00000042                 # latest weekly round's data, Chinese
    credit-ledger growth report M00000042 --week 1 --lang en
    credit-ledger growth report M00000042 --data DIR      # a platform export on disk

Without ``--data`` the report is computed from what the week's round stored: the
platform export it scored (the export archive, :mod:`sources.exports`) and the policy
it was decided under (by its on-chain hash), as the API's growth route does; nothing
is regenerated. ``--week`` defaults to the week of the store's latest weekly round.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

from credit_ledger.common import ReportErrors
from foundation.errors import CreditLedgerError
from scoring.growth import GrowthAnalysis, GrowthReport

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


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=1)


def load_analysis(week: int | None, data_dir: Path | None) -> tuple[GrowthAnalysis, int]:
    """The analysis of an export directory (``--data``), or of what a stored weekly round scored."""
    if data_dir is not None:
        from scoring.synth import read_platform_data

        return GrowthAnalysis(read_platform_data(data_dir)), week or 0
    from ledger.chain import Chain
    from ledger.config import Settings
    from ledger.deployment import AddressBook, load
    from ledger.documents import DocumentStore
    from ledger.store import Store
    from sources.exports import archive_in
    from sources.stored import round_policy, scored_export, weekly_round

    settings = Settings.from_env()
    with Store.open(settings.database_url) as store:
        rnd, wk = weekly_round(store, "merchant", week)
    chain = Chain.connect(settings.rpc_url, expected_chain_id=settings.chain_id)
    contracts = load(chain, AddressBook(settings.address_book_path))
    policy = round_policy(contracts, DocumentStore(settings.documents_dir), rnd)
    return GrowthAnalysis(scored_export(archive_in(settings.home), rnd), policy=policy), wk


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
    data_dir: Path | None = typer.Option(None, "--data", help="read this platform export instead of the round's"),
) -> None:
    """Print a merchant's indicators (with peer comparison) and diagnosis items."""
    if lang not in ("zh", "en"):
        _fail("--lang must be zh or en")
    try:
        analysis, wk = load_analysis(week, data_dir)
    except CreditLedgerError:
        raise  # reported by the CLI with its code and hint
    except (ValueError, OSError) as exc:  # pyarrow/pandas on a directory that is not a platform export
        _fail(str(exc))
    if merchant not in analysis:
        _fail(f"{merchant} is not in the platform export for week {wk}")
    render(analysis.report(merchant, with_daily=False), lang, wk)
