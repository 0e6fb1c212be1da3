"""Public routes (no sign-in): health and proof-bundle verification."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Body, Depends

from api.deps import Services, get_services
from api.errors import ServiceUnavailable, Unprocessable, errors
from api.schemas import VerificationResponse
from foundation.errors import CreditLedgerError
from ledger.bundle import BUNDLE_JSON_SCHEMA, BundleError, parse_bundle, verify_bundle

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
        # ServiceUnavailable messages are already written for callers; others may name
        # URLs or paths, which the log gets instead
        if isinstance(exc, ServiceUnavailable):
            return {"ok": False, "code": exc.code, "error": exc.message[:300]}
        log.warning("health: %s: %s", exc.code, exc)
        return {"ok": False, "code": exc.code, "error": message}
    log.warning("health: %s: %s: %s", code, type(exc).__name__, exc)
    return {"ok": False, "code": code, "error": f"{message} ({type(exc).__name__})"}


#: What ``POST /verify``'s body looks like (a real bundle's shape, made-up values).
BUNDLE_EXAMPLE: dict[str, Any] = {
    "version": 1,
    "leaf": {
        "merchant_key": "0x" + "1f" * 32,
        "round": 1,
        "score": 612,
        "limit_cny": 48000,
        "product_mask": 3,
        "reason_codes": [101, 104, 0, 0],
        "model_version": 1,
        "policy_version": 1,
        "feature_commitment": "0x" + "2e" * 32,
        "prev_leaf_hash": "0x" + "00" * 32,
    },
    "leafHash": "0x" + "3d" * 32,
    "proof": ["0x" + "4c" * 32],
    "root": "0x" + "5b" * 32,
    "chain": {
        "chainId": 31337,
        "contract": "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707",
        "round": 1,
        "anchorTx": "0x" + "6a" * 32,
        "block": 12,
    },
}


@router.post(
    "/verify",
    response_model=VerificationResponse,
    summary="Verify a proof bundle against the chain",
    responses=errors(408, 413, 422, 503),
    # The body is parsed by ledger.bundle.parse_bundle, not by a pydantic model, so the
    # schema is declared here: the parser's own, built from the same constants.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {**BUNDLE_JSON_SCHEMA, "examples": [BUNDLE_EXAMPLE]}}},
        }
    },
)
def verify(
    bundle: Any = Body(description="A bundle from `GET /merchant/history` or `/merchant/decisions/{round}`"),
    services: Services = Depends(get_services),
) -> VerificationResponse:
    """Run every check of `ledger.bundle.verify_bundle` against this server's chain.

    The verdict is in the body (`ok` and one line per check), so a bundle that
    does not verify is still a 200. A malformed one is a 422 `bundle_invalid` whose
    message names the field, in the words `credit-ledger verify` prints: both parse
    with `ledger.bundle.parse_bundle` (strict: JSON integers only, no missing or extra
    keys). For a check that does not trust this server, run
    `credit-ledger verify BUNDLE.json --rpc URL`.
    """
    try:
        parse_bundle(bundle)
    except BundleError as exc:
        raise Unprocessable(exc.message, code=exc.code) from None
    report = verify_bundle(bundle, services.chain())
    return VerificationResponse.model_validate(report.to_dict())
