"""Fixtures for the Solidity contract tests: one fresh deployment per test module."""

from __future__ import annotations

import pytest
from contracts_support import Env, deploy_env

from ledger.accounts import RoleAccounts
from ledger.chain import Chain


@pytest.fixture(scope="module")
def env(chain: Chain, accounts: RoleAccounts) -> Env:
    """A fresh set of the five contracts for this module, roles granted, model and policy active."""
    return deploy_env(chain, accounts)
