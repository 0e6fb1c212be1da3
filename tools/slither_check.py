"""slither-check: Slither over contracts/ with the project's compiler settings, gated by contracts/SECURITY.md.

    .venv/bin/python tools/slither_check.py                 # the findings; exit 1 on an unexplained one
    .venv/bin/python tools/slither_check.py --json out.json # also keep Slither's JSON report

``tests/contracts/test_slither.py`` runs the same functions inside the test command.

What Slither compiles is exactly what ``ledger/compiler.py`` compiles: the solc standard-JSON
input of ``ledger.compiler.standard_input()`` (every ``contracts/*.sol`` source, EVM ``shanghai``,
the optimizer on with 200 runs, the remapping ``@openzeppelin/=node_modules/@openzeppelin/``),
with Slither's own output selection (it needs the AST). It is written to
``build/slither/input.json`` and handed to Slither as a ``solc-json`` target, compiled by
``tools/solc`` (the solc-js shim, which answers ``--version`` and ``--standard-json`` as Slither
calls them), with ``--filter-paths node_modules`` (OpenZeppelin's own code is not ours to triage)
and ``--json -``.

The gate: every High or Medium finding must match a row of the accepted-findings table in
``contracts/SECURITY.md`` (between the ``slither-accepted`` markers: detector, where as
``Contract.function``, what Slither flags, why it is safe); one that matches none fails, and so
does a row that matches no finding any more (a fixed finding's row must go). Low and
informational findings are printed, never fail.

Slither comes from the project's dev dependencies (``pip install -e '.[dev]'``, which ``make
test`` does): it installs beside web3 without changing any installed version.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECURITY_MD = ROOT / "contracts" / "SECURITY.md"
INPUT_JSON = ROOT / "build" / "slither" / "input.json"
SHIM = ROOT / "tools" / "solc"
GATED = ("High", "Medium")
BEGIN, END = "<!-- slither-accepted:begin -->", "<!-- slither-accepted:end -->"


class SlitherCheckError(RuntimeError):
    """Slither could not run, or its report or the accepted table is malformed."""


@dataclass(frozen=True)
class Finding:
    detector: str
    impact: str
    confidence: str
    where: str  # Contract.function (or Contract when the finding is about the contract)
    what: str  # the flagged expression or variable, as Slither names it
    description: str

    @property
    def gated(self) -> bool:
        return self.impact in GATED


@dataclass(frozen=True)
class Accepted:
    detector: str
    where: str
    what: str
    why: str

    def matches(self, finding: Finding) -> bool:
        return (self.detector, self.where, self.what) == (finding.detector, finding.where, finding.what)


@dataclass
class Verdict:
    unexplained: list[Finding]  # High/Medium findings no row accepts: the gate fails
    accepted: list[tuple[Finding, Accepted]]
    stale: list[Accepted]  # rows that match no finding: the gate fails
    reported: list[Finding]  # Low/Informational/Optimization: printed only

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.stale


# -- running Slither --------------------------------------------------------------------------


def slither_input() -> dict[str, Any]:
    """ledger/compiler.py's standard-JSON input, with Slither's output selection instead of ours."""
    sys.path.insert(0, str(ROOT))
    from ledger.compiler import standard_input

    data = standard_input()
    del data["settings"]["outputSelection"]  # crytic-compile adds its own (abi, bytecode, the AST, ...)
    return data


def slither_binary() -> Path:
    binary = Path(sys.executable).parent / "slither"
    if not binary.is_file():
        raise SlitherCheckError(
            f"{binary} is missing: slither-analyzer is a dev dependency; run {sys.executable} -m pip install -e '.[dev]'"
        )
    return binary


def run_slither(input_path: Path = INPUT_JSON, timeout: float = 600) -> dict[str, Any]:
    """Slither's JSON report over ``slither_input()``, written to ``input_path`` first."""
    input_path.parent.mkdir(parents=True, exist_ok=True)
    input_path.write_text(json.dumps(slither_input(), indent=1))
    command = [
        str(slither_binary()),
        str(input_path),
        "--compile-force-framework",
        "solc-json",
        "--solc",
        str(SHIM),
        "--filter-paths",
        "node_modules",
        "--json",
        "-",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    # Slither's exit status counts findings; the report says whether the analysis itself succeeded.
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SlitherCheckError(
            f"slither printed no JSON report (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        ) from None
    if not report.get("success"):
        raise SlitherCheckError(f"slither failed: {report.get('error')}\n{done.stderr[-4000:]}")
    return report


# -- reading the report and the accepted table --------------------------------------------------------


def _contract_function(element: dict[str, Any]) -> str | None:
    """``Contract.function`` of a function element, or of the function a node or variable sits in."""
    fields = element.get("type_specific_fields", {})
    if element.get("type") == "function":
        parent = fields.get("parent", {})
        return f"{parent.get('name')}.{element['name']}"
    parent = fields.get("parent", {})
    if parent.get("type") == "function":
        return _contract_function(parent)
    if parent.get("type") == "contract":
        return str(parent["name"])
    return None


def findings(report: dict[str, Any]) -> list[Finding]:
    out = []
    for result in report.get("results", {}).get("detectors", []):
        elements = result.get("elements", [])
        where = next((w for w in (_contract_function(e) for e in elements) if w), "?")
        flagged = [e for e in elements if e.get("type") in ("node", "variable")]
        what = flagged[0]["name"] if flagged else (elements[0]["name"] if elements else "")
        out.append(
            Finding(
                detector=result["check"],
                impact=result["impact"],
                confidence=result["confidence"],
                where=where,
                what=what,
                description=result.get("description", "").strip().splitlines()[0] if result.get("description") else "",
            )
        )
    return out


def _cell(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "`":
        text = text[1:-1]
    return text.replace("\\|", "|")


def accepted_findings(markdown: str) -> list[Accepted]:
    """The rows of the table between the ``slither-accepted`` markers of SECURITY.md."""
    if BEGIN not in markdown or END not in markdown:
        raise SlitherCheckError(f"{SECURITY_MD.name} has no accepted-findings table between {BEGIN} and {END}")
    block = markdown.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = [line.strip() for line in block.splitlines() if line.strip().startswith("|")]
    if len(rows) < 2:
        raise SlitherCheckError("the accepted-findings table has no header")
    out = []
    for line in rows[2:]:  # the header and its separator first
        # split on the | that separate cells, not on \| inside one
        cells = [_cell(c) for c in line.strip("|").replace("\\|", "\0").split("|")]
        cells = [c.replace("\0", "|") for c in cells]
        if len(cells) != 4 or not all(cells):
            raise SlitherCheckError(f"accepted-findings row needs detector | where | what | why, all filled: {line}")
        out.append(Accepted(*cells))
    return out


def classify(found: list[Finding], accepted: list[Accepted]) -> Verdict:
    verdict = Verdict(unexplained=[], accepted=[], stale=[], reported=[])
    used: set[Accepted] = set()
    for finding in found:
        if not finding.gated:
            verdict.reported.append(finding)
            continue
        row = next((a for a in accepted if a.matches(finding)), None)
        if row is None:
            verdict.unexplained.append(finding)
        else:
            verdict.accepted.append((finding, row))
            used.add(row)
    verdict.stale = [a for a in accepted if a not in used]
    return verdict


def render(verdict: Verdict) -> str:
    lines = []

    def show(title: str, items: list[Finding]) -> None:
        lines.append(f"{title}: {len(items)}")
        for f in items:
            lines.append(f"  [{f.impact}/{f.confidence}] {f.detector} {f.where}: {f.what}")

    show("unexplained High/Medium findings (fix them, or accept them in contracts/SECURITY.md)", verdict.unexplained)
    lines.append(f"accepted High/Medium findings (contracts/SECURITY.md): {len(verdict.accepted)}")
    for f, _ in verdict.accepted:
        lines.append(f"  [{f.impact}/{f.confidence}] {f.detector} {f.where}: {f.what}")
    lines.append(f"accepted rows that match no finding (remove them): {len(verdict.stale)}")
    for a in verdict.stale:
        lines.append(f"  {a.detector} {a.where}: {a.what}")
    show("low and informational findings (reported, not gated)", verdict.reported)
    return "\n".join(lines)


def check(report: dict[str, Any]) -> Verdict:
    return classify(findings(report), accepted_findings(SECURITY_MD.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write Slither's JSON report here")
    args = parser.parse_args(argv)
    try:
        report = run_slither()
        verdict = check(report)
    except SlitherCheckError as exc:
        print(f"slither-check: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(render(verdict))
    print("slither-check:", "passed" if verdict.ok else "FAILED")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
