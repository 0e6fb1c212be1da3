"""Auditor routes: run a replay, fetch its report, fetch any document by hash.

Every route needs ``AUDITOR_ROLE`` on-chain (checked per request by
:func:`api.auth.require_role`).

``POST /auditor/replays`` runs :func:`audit.replay.replay` in the request (seconds
for thousands of decisions; for a million, run ``credit-ledger audit replay`` instead)
and stores the report as a content-addressed document, so ``GET
/auditor/replays/{hash}`` and ``GET /auditor/documents/{hash}`` both return it and its
hash is what ``recordAudit`` would attest. One replay runs at a time (409 otherwise).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from api.auth import require_role
from api.deps import Services, get_services
from api.errors import ApiError, BadRequest, Conflict, NotFoundError, errors
from audit.replay import replay
from foundation.errors import EXIT_FAILED
from ledger.documents import DirectoryDocuments, DocumentAltered, DocumentMissing, uri_for
from ledger.roles import Role

log = logging.getLogger("credit_ledger.api")

router = APIRouter(
    prefix="/auditor",
    tags=["auditor"],
    dependencies=[Depends(require_role(Role.AUDITOR))],
    responses=errors(400, 401, 403, 404, 422, 503),
)

HEX64 = r"^(0x)?[0-9a-fA-F]{64}$"
_replay_lock = threading.Lock()


class AlteredDocument(ApiError):
    status_code = 409
    code = "document_altered"
    hint = "the server's copy of this document no longer matches its hash; ask the operator to restore it"
    exit_code = EXIT_FAILED


def _digest(value: str) -> bytes:
    if not re.fullmatch(HEX64, value):
        raise BadRequest("expected a sha256 as 64 hex digits", code="invalid_parameter")
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _document(services: Services, digest: bytes) -> bytes:
    try:
        return services.documents().get(digest)
    except DocumentAltered as exc:
        # The store's message names the server's file; the caller gets the hash it asked for.
        log.warning("%s", exc)
        raise AlteredDocument(
            f"document sha256:{digest.hex()} was altered: its bytes no longer match its hash"
        ) from None
    except DocumentMissing:
        raise NotFoundError(f"no document sha256:{digest.hex()}") from None


@router.post("/replays", summary="Replay the ledger now and store the report", responses=errors(409))
def run_replay(
    from_round: int | None = Query(None, ge=0, le=2**63 - 1),
    to_round: int | None = Query(None, ge=0, le=2**63 - 1),
    rescore: bool = Query(True, description="Re-score every decision from its committed inputs"),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    """Run a full replay (chain, documents, store, inputs) and answer its report and hash."""
    if from_round is not None and to_round is not None and from_round > to_round:
        raise BadRequest(f"from_round {from_round} is after to_round {to_round}", code="invalid_parameter")
    if not _replay_lock.acquire(blocking=False):
        raise Conflict("a replay is already running; fetch its report when it finishes", code="replay_running")
    try:
        report = replay(
            services.contracts(),
            DirectoryDocuments(services.settings.documents_dir),
            services.store(),
            from_round=from_round,
            to_round=to_round,
            rescore=rescore,
        )
    finally:
        _replay_lock.release()
    digest = services.documents().put(report.to_bytes())
    return {"report_hash": "0x" + digest.hex(), "uri": uri_for(digest), "ok": report.ok, "report": report.to_json()}


@router.get("/replays/{report_hash}", summary="A stored replay report")
def get_replay(
    report_hash: str = Path(..., description="sha256 of the report (hex)"), services: Services = Depends(get_services)
) -> dict[str, Any]:
    digest = _digest(report_hash)
    data = _document(services, digest)
    try:
        report = json.loads(data)
    except ValueError:
        report = None
    if not isinstance(report, dict) or report.get("format") != "credit-ledger-audit-v1":
        raise NotFoundError(f"sha256:{digest.hex()} is not an audit report")
    return {"report_hash": "0x" + digest.hex(), "ok": report.get("ok"), "report": report}


@router.get("/documents/{content_hash}", summary="A model artifact, policy document, batch file or report by sha256")
def get_document(
    content_hash: str = Path(..., description="sha256 (hex) as recorded on-chain"),
    services: Services = Depends(get_services),
) -> Response:
    """The exact bytes stored under this hash (checked against it before they are served)."""
    digest = _digest(content_hash)
    data = _document(services, digest)
    media = "application/json" if data[:1] in (b"{", b"[") else "application/octet-stream"
    return Response(data, media_type=media, headers={"X-Content-SHA256": digest.hex()})
