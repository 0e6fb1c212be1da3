"""One export window of one segment, in memory: what validation, features and scoring read.

A :class:`PlatformData` comes from the generator (:mod:`scoring.synth`), from an export
on disk (:func:`scoring.export.read_platform_data`), or from records cut into a window
by a caller; all three are judged by the same checks (:func:`scoring.tables.check_tables`,
:func:`scoring.validate.validate`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class PlatformData:
    """One export window of one segment: entities, daily records and (synthetic only) truth.

    ``entities`` has one row per merchant (or farmer) keyed by ``merchant_id``;
    ``daily`` has one row per entity per day; ``truth`` (optional) holds the
    hidden default probability and the realised default for the period after
    ``window_end``. See ``scoring/DATA_FORMAT.md`` for every column.

    ``files`` names where each part was read from (``manifest``, ``entities``,
    ``daily``), for messages; frames built in memory leave it empty and are named
    by their table. ``faults`` lists the daily cells the file reader could not parse
    (a CSV cell that is not a number, a date that is not a day): one row per cell
    with ``position`` (0-based, in ``daily`` as read), ``column``, ``rule`` and
    ``reason``; validation rejects those records.
    """

    segment: str
    entities: pd.DataFrame
    daily: pd.DataFrame
    window_start: dt.date
    window_end: dt.date
    truth: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    faults: pd.DataFrame | None = None

    @property
    def as_of(self) -> dt.date:
        """The scoring date: the last day of the window."""
        return self.window_end

    def file(self, part: str) -> str:
        """Where ``part`` (``manifest``, ``entities``, ``daily``) came from, as messages name it."""
        return self.files.get(part, part)

    def write(self, directory: str | Path, table_format: str = "parquet") -> Path:
        """Write this window as an export (``scoring/DATA_FORMAT.md``), Parquet or CSV; returns the directory."""
        # The format lives in scoring.export, which imports this module.
        from scoring.export import write_export

        return write_export(self, directory, table_format)
