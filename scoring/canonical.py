"""Canonical JSON and fixed-point numbers: the byte-exact encodings we hash.

Artifacts, policies and feature commitments are identified by the sha256 of
their bytes, so those bytes must not depend on dict order, whitespace, the
float printer or the CPU.  Two rules make that hold:

* JSON is written with sorted keys, ``(",", ":")`` separators, ASCII only, and
  floats that are whole numbers written as ints.  Other floats use Python's
  ``repr`` (shortest round-trip form, identical on every IEEE-754 platform).
  NaN and infinity are refused.
* Every number the score depends on (feature values, bin edges, peer
  averages) is a *fixed-point integer* in micro-units (value x 10**6, rounded
  half to even).  Integer comparisons and sums are exact everywhere, which is
  why the replayed value is the integer score and not a float.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from foundation.errors import shown
from scoring.errors import CanonicalEncodingError

#: Fixed-point scale: one unit = 1e-6 of the natural value.
FIXED_SCALE: int = 1_000_000
#: Sentinel for a missing fixed-point value (never produced by a real value).
FIXED_MISSING: int = -(2**63)


def _normalise(obj: Any) -> Any:
    """Turn numpy scalars, tuples and whole floats into plain JSON values."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise CanonicalEncodingError(f"non-string key {shown(key, None)}")
            out[key] = _normalise(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [_normalise(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if not math.isfinite(value):
            raise CanonicalEncodingError(f"non-finite float {value!r}")
        # Whole floats become ints so 1.0 and 1 hash alike.
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if obj is None or isinstance(obj, str):
        return obj
    raise CanonicalEncodingError(f"cannot encode {type(obj).__name__}")


def canonical_json_bytes(obj: Any) -> bytes:
    """Return the canonical JSON encoding of ``obj`` as UTF-8 (ASCII) bytes."""
    return json.dumps(
        _normalise(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def sha256(data: bytes) -> bytes:
    """32-byte sha256 digest (the form the on-chain registries record)."""
    return hashlib.sha256(data).digest()


#: Largest magnitude :func:`to_fixed` represents (its micro-units stay below 2**63).
FIXED_MAX: float = 9.2e12


def to_fixed(values: NDArray[np.floating[Any]] | float) -> NDArray[np.int64]:
    """Quantise floats to int64 micro-units (always an array).

    NaN, infinities and magnitudes above :data:`FIXED_MAX` become :data:`FIXED_MISSING`:
    a value int64 cannot hold is missing on every CPU, not whatever the cast yields.
    """
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    missing: NDArray[np.bool_] = ~(np.abs(arr) <= FIXED_MAX)
    finite: NDArray[np.float64] = np.where(missing, 0.0, arr)
    # np.rint rounds half to even: deterministic and unbiased.
    fixed = np.rint(finite * FIXED_SCALE).astype(np.int64)
    fixed[missing] = FIXED_MISSING
    return fixed


def from_fixed(values: NDArray[np.int64] | int) -> NDArray[np.float64]:
    """Inverse of :func:`to_fixed` (missing back to NaN)."""
    arr = np.atleast_1d(np.asarray(values, dtype=np.int64))
    out = arr.astype(np.float64) / FIXED_SCALE
    out[arr == FIXED_MISSING] = np.nan
    return out
