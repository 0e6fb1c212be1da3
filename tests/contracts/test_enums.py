"""ledger/enums.py mirrors every Solidity enum: same names, same order, nothing missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.enums import SOLIDITY_ENUMS, ChainEnum, MerchantKind, Segment

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
ENUM = re.compile(r"\benum\s+(\w+)\s*\{([^}]*)\}")


def _solidity_enums() -> dict[tuple[str, str], list[str]]:
    found = {}
    for path in sorted(CONTRACTS.glob("*.sol")):
        text = re.sub(r"//[^\n]*", "", path.read_text())
        for name, body in ENUM.findall(text):
            found[(path.name, name)] = [m.strip() for m in body.split(",") if m.strip()]
    return found


@pytest.mark.parametrize("enum", list(SOLIDITY_ENUMS), ids=lambda e: e.__name__)
def test_python_enum_mirrors_solidity(enum: type[ChainEnum]) -> None:
    members = _solidity_enums()[SOLIDITY_ENUMS[enum]]
    assert [m.name for m in enum] == [m.upper() for m in members]
    assert [int(m) for m in enum] == list(range(len(members)))


def test_every_solidity_enum_has_a_python_enum() -> None:
    assert set(_solidity_enums()) == set(SOLIDITY_ENUMS.values())


def test_labels() -> None:
    assert Segment.labels() == ("merchant", "farmer")
    assert MerchantKind.from_label("virtual") is MerchantKind.VIRTUAL
    with pytest.raises(ValueError, match="expected one of merchant, farmer, virtual"):
        MerchantKind.from_label("bank")
