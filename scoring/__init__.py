"""credit-ledger scoring: behaviour-based credit for merchants and farmers.

Pure Python + scikit-learn; knows nothing of chains.  Public API (stable):

* :class:`PlatformData`, :func:`read_platform_data`, :func:`write_export` - the platform
  export, Parquet or CSV (``scoring/DATA_FORMAT.md``); :func:`generate_merchants`,
  :func:`generate_farmers` - synthetic exports
* :func:`validate` - structural refusal, then record-level accept / repair / reject;
  :func:`validation_report` - its canonical report
* :func:`build_features` - 60-day features indexed by ``merchant_id``
* :func:`train`, :class:`ModelArtifact`, :func:`load_artifact` - the scorecard
* :class:`Policy`, :func:`default_policy`, :func:`load_policy` and the product bits
* :func:`score_batch`, :class:`Decision` - vectorised scoring
* :func:`compare` - weekly refresh deltas
"""

from scoring.engine import (
    Decision,
    DecisionBatch,
    decode_feature_bytes,
    rescore_feature_bytes,
    score_batch,
    score_columns,
)
from scoring.errors import (
    ArtifactError,
    CanonicalEncodingError,
    DataFormatError,
    ExportColumnsInvalid,
    ExportEmpty,
    ExportFileUnreadable,
    ExportFormatUnknown,
    ExportValueInvalid,
    ManifestInvalid,
    PolicyError,
    ScoringError,
    TrainingError,
    ValidationError,
)
from scoring.export import read_platform_data, write_export
from scoring.features import build_features
from scoring.pipeline import train_segment
from scoring.platform import PlatformData
from scoring.policy import (
    COOP_TRADE_LINE,
    FARM_INPUT_LOAN,
    MACHINERY_FINANCE,
    MARKETING_LOAN,
    STOCKING_FINANCE,
    WORKING_CAPITAL,
    Policy,
    default_policy,
    load_policy,
)
from scoring.reasons import REASONS, Reason
from scoring.refresh import DecisionChange, compare, compare_rounds
from scoring.scorecard import ModelArtifact, load_artifact, train
from scoring.synth import generate_farmers, generate_merchants
from scoring.validate import ValidationResult, validate
from scoring.validation_report import validation_report

__all__ = [
    "COOP_TRADE_LINE",
    "FARM_INPUT_LOAN",
    "MACHINERY_FINANCE",
    "MARKETING_LOAN",
    "REASONS",
    "STOCKING_FINANCE",
    "WORKING_CAPITAL",
    "ArtifactError",
    "CanonicalEncodingError",
    "DataFormatError",
    "Decision",
    "DecisionBatch",
    "DecisionChange",
    "ExportColumnsInvalid",
    "ExportEmpty",
    "ExportFileUnreadable",
    "ExportFormatUnknown",
    "ExportValueInvalid",
    "ManifestInvalid",
    "ModelArtifact",
    "PlatformData",
    "Policy",
    "PolicyError",
    "Reason",
    "ScoringError",
    "TrainingError",
    "ValidationError",
    "ValidationResult",
    "build_features",
    "compare",
    "compare_rounds",
    "decode_feature_bytes",
    "default_policy",
    "generate_farmers",
    "generate_merchants",
    "load_artifact",
    "load_policy",
    "read_platform_data",
    "rescore_feature_bytes",
    "score_batch",
    "score_columns",
    "train",
    "train_segment",
    "validate",
    "validation_report",
    "write_export",
]
