"""The scripted sign-in client (what `credit-ledger api login` uses) against the real app."""

from __future__ import annotations

from typing import Any

import pytest

from api.client import SignInError, sign_in
from ledger.accounts import dev_account


def test_sign_in_as_demo_merchant_then_read_history(client: Any, ledger_env: Any) -> None:
    reply = sign_in(client, ledger_env.merchant_account(1))
    history = client.get("/merchant/history", headers={"Authorization": f"Bearer {reply['token']}"})
    assert history.status_code == 200, history.text
    body = history.json()
    rounds = body["decisions"] if isinstance(body, dict) and "decisions" in body else body
    assert len(rounds) >= 2


def test_sign_in_with_an_unbound_key_is_refused(client: Any) -> None:
    with pytest.raises(SignInError, match=r"401|403"):
        sign_in(client, dev_account(19))
