"""Slither in the test command: no High or Medium finding that contracts/SECURITY.md does not accept.

The work is ``tools/slither_check.py`` (also a command: ``.venv/bin/python tools/slither_check.py``);
this module runs it once (about 5 s: solc-js compiles, Slither analyses), prints what it found,
and checks the gate itself on made-up findings, so that a gate which lets everything through
would fail here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ledger import compiler

TOOL = Path(__file__).resolve().parents[2] / "tools" / "slither_check.py"


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slither_check", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["slither_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


sc = _load_tool()


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return sc.run_slither()


def test_slither_input_is_the_projects_compiler_input() -> None:
    """Slither compiles what ledger/compiler.py compiles: same sources and settings."""
    given = sc.slither_input()
    ours = compiler.standard_input()
    assert given["sources"] == ours["sources"] and set(given["sources"]) >= {"contracts/CreditLedger.sol"}
    settings = given["settings"]
    assert settings["evmVersion"] == compiler.EVM_VERSION == "shanghai"
    assert settings["optimizer"] == {"enabled": True, "runs": compiler.OPTIMIZER_RUNS} == {"enabled": True, "runs": 200}
    assert settings["remappings"] == ["@openzeppelin/=node_modules/@openzeppelin/"]
    assert "outputSelection" not in settings  # Slither's own (it needs the AST)


def test_slither_no_unexplained_high_or_medium_findings(report: dict[str, Any]) -> None:
    verdict = sc.check(report)
    print("\n" + sc.render(verdict))
    assert not verdict.unexplained, "Slither High/Medium findings not accepted in contracts/SECURITY.md:\n" + "\n".join(
        f"  {f.detector} {f.where}: {f.what} ({f.description})" for f in verdict.unexplained
    )
    assert not verdict.stale, "contracts/SECURITY.md accepts findings Slither no longer reports (remove them):\n" + (
        "\n".join(f"  {a.detector} {a.where}: {a.what}" for a in verdict.stale)
    )
    # only our sources are analysed for findings: OpenZeppelin's are filtered out
    assert all(f.where.split(".")[0] in CONTRACT_NAMES for f in sc.findings(report)), sc.findings(report)


CONTRACT_NAMES = {"IdentityRegistry", "ModelRegistry", "PolicyRegistry", "PolicyTimelock", "CreditLedger"}


def test_accepted_table_rows_are_complete() -> None:
    rows = sc.accepted_findings(sc.SECURITY_MD.read_text())
    assert rows, "contracts/SECURITY.md accepts no finding: then remove the table's rows' expectations here too"
    for row in rows:
        contract, _, function = row.where.partition(".")
        assert contract in CONTRACT_NAMES and function, row
        assert len(row.why) > 80, f"say why {row.detector} at {row.where} is safe: {row.why!r}"
    assert len(set((r.detector, r.where, r.what) for r in rows)) == len(rows), "duplicate rows"


def _finding(impact: str = "Medium", detector: str = "reentrancy-no-eth", where: str = "CreditLedger.anchorBatch"):
    return sc.Finding(detector, impact, "Medium", where, "models.isActive(modelVersion)", "made up")


def test_gate_fails_on_an_unaccepted_medium_and_on_a_stale_row() -> None:
    accepted = [sc.Accepted("incorrect-equality", "CreditLedger._rootOf", "root == bytes32(0)", "a sentinel")]
    known = sc.Finding("incorrect-equality", "Medium", "High", "CreditLedger._rootOf", "root == bytes32(0)", "")
    assert sc.classify([known], accepted).ok
    # a new Medium finding fails the gate, and so does a High one
    for impact in ("Medium", "High"):
        verdict = sc.classify([known, _finding(impact)], accepted)
        assert not verdict.ok and verdict.unexplained == [_finding(impact)]
    # the same detector elsewhere, or another expression in the same function, is not covered
    elsewhere = sc.Finding("incorrect-equality", "Medium", "High", "CreditLedger.batch", "root == bytes32(0)", "")
    other = sc.Finding("incorrect-equality", "Medium", "High", "CreditLedger._rootOf", "count == 0", "")
    assert sc.classify([known, elsewhere, other], accepted).unexplained == [elsewhere, other]
    # a row whose finding is gone fails: the table must say what is true now
    verdict = sc.classify([], accepted)
    assert not verdict.ok and verdict.stale == accepted
    # Low and informational findings are reported, never gated
    for impact in ("Low", "Informational", "Optimization"):
        verdict = sc.classify([known, _finding(impact)], accepted)
        assert verdict.ok and verdict.reported == [_finding(impact)]


def test_accepted_table_parser() -> None:
    markdown = "\n".join(
        [
            "text",
            sc.BEGIN,
            "| detector | where | what | why |",
            "|---|---|---|---|",
            "| `unused-return` | `A.f` | `(a,None) = b.c(x)` | the dropped value decides nothing |",
            "| `x` | `A.g` | `a \\| b` | pipes escaped |",
            sc.END,
            "| `not` | `in` | `the` | table |",
        ]
    )
    assert sc.accepted_findings(markdown) == [
        sc.Accepted("unused-return", "A.f", "(a,None) = b.c(x)", "the dropped value decides nothing"),
        sc.Accepted("x", "A.g", "a | b", "pipes escaped"),
    ]
    with pytest.raises(sc.SlitherCheckError):
        sc.accepted_findings("no markers")
    with pytest.raises(sc.SlitherCheckError):
        sc.accepted_findings(f"{sc.BEGIN}\n| a | b | c | d |\n|---|---|---|---|\n| a | b | | d |\n{sc.END}")


def test_findings_are_located_by_contract_and_function(report: dict[str, Any]) -> None:
    """Every finding resolves to Contract.function and the expression or variable it flags, as
    the table names them; a local variable's finding to the function it is declared in."""
    for f in sc.findings(report):
        assert f.where != "?" and "." in f.where and f.what, f
    contract = {"type": "contract", "name": "PolicyRegistry"}
    function = {"type": "function", "name": "activatePolicy", "type_specific_fields": {"parent": contract}}
    variable = {"type": "variable", "name": "oldHash", "type_specific_fields": {"parent": function}}
    node = {"type": "node", "name": "x == 0", "type_specific_fields": {"parent": function}}
    made_up = {"results": {"detectors": [{"check": "c", "impact": "Medium", "confidence": "High", "elements": []}]}}
    for elements, where, what in (
        ([variable], "PolicyRegistry.activatePolicy", "oldHash"),
        ([function, node], "PolicyRegistry.activatePolicy", "x == 0"),
    ):
        made_up["results"]["detectors"][0]["elements"] = elements
        assert [(f.where, f.what) for f in sc.findings(made_up)] == [(where, what)]
