"""The auditor's side of credit-ledger: replay the whole ledger from the chain and check it.

* :mod:`audit.replay`    -- :func:`replay`: events -> documents -> batch files -> roots,
  hash chains, the store's leaves, the private inputs, and a re-score of every decision;
* :mod:`audit.report`    -- :class:`AuditReport`, its canonical JSON (hashed for
  ``recordAudit``) and the rich rendering;
* :mod:`ledger.documents` -- where the content-addressed documents come from (a
  directory copy or the API);
* :mod:`audit.rescore`   -- the vectorised re-score of committed feature bytes;
* :mod:`audit.regulator` -- read-only aggregates for the regulator's routes.
"""

from audit.report import AuditReport, CheckResult, Discrepancy

__all__ = ["AuditReport", "CheckResult", "Discrepancy"]
