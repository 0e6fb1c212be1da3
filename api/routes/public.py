"""Public routes (no sign-in): health and proof-bundle verification."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Body, Depends

from api.deps import Services, get_services
from api.errors import errors
from api.schemas import ProofBundle, VerificationResponse
from foundation.errors import CreditLedgerError
from ledger.bundle import verify_bundle

router = APIRouter(tags=["public"])
log = logging.getLogger("credit_ledger.api")


@router.get("/health", summary="Is the API up, and can it reach the chain and the store")
def health(services: Services = Depends(get_services)) -> dict[str, Any]:
    """Always 200; each dependency reports its own state, so a probe sees what is down.

    A failing dependency reports ``{"ok": false, "code", "error"}``: the project
    error's code and message, or a short generic one for anything else (the
    library's own message goes to the server log, never into the body).
    """
    out: dict[str, Any] = {"api": "ok"}
    try:
        chain = services.chain()
        out["chain"] = {"ok": True, "chainId": chain.chain_id, "block": chain.w3.eth.block_number}
    except Exception as exc:  # noqa: BLE001 - the probe reports every failure, it never fails itself
        services.reset_chain()
        out["chain"] = _down(exc, "chain_unavailable", "the chain node does not answer")
    try:
        contracts = services.contracts()
        out["contracts"] = {"ok": True, "CreditLedger": contracts.ledger.address}
    except Exception as exc:  # noqa: BLE001 - as above
        out["contracts"] = _down(exc, "not_deployed", "the contracts cannot be loaded")
    try:
        out["store"] = {"ok": True, "backend": services.store().backend}
    except Exception as exc:  # noqa: BLE001 - as above
        out["store"] = _down(exc, "store_unavailable", "the ledger store does not answer")
    return out


def _down(exc: Exception, code: str, message: str) -> dict[str, Any]:
    """A dependency's failure as /health reports it: never a library's raw message."""
    if isinstance(exc, CreditLedgerError):
        return {"ok": False, "code": exc.code, "error": exc.message[:300]}
    log.warning("health: %s: %s: %s", code, type(exc).__name__, exc)
    return {"ok": False, "code": code, "error": f"{message} ({type(exc).__name__})"}


@router.post(
    "/verify",
    response_model=VerificationResponse,
    summary="Verify a proof bundle against the chain",
    responses=errors(413, 422, 503),
)
def verify(
    bundle: ProofBundle = Body(description="A bundle from `GET /merchant/history` or `/merchant/decisions/{round}`"),
    services: Services = Depends(get_services),
) -> VerificationResponse:
    """Run every check of `ledger.bundle.verify_bundle` against this server's chain.

    The verdict is in the body (`ok` and one line per check), so a bundle that
    does not verify is still a 200; a malformed one is a 422. For a check that
    does not trust this server, run `credit-ledger verify BUNDLE.json --rpc URL`.
    """
    report = verify_bundle(bundle.model_dump(mode="json"), services.chain())
    return VerificationResponse.model_validate(report.to_dict())
