"""Revision files of :mod:`ledger.migrations` (one per schema change, never edited once shipped)."""
