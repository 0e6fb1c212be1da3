"""Alembic migration scripts of the off-chain store (:mod:`ledger.store`).

Shipped inside the package so that :meth:`ledger.store.Store.migrate` works from
an installed wheel with no ``alembic.ini``: it builds an Alembic ``Config`` whose
``script_location`` is ``ledger:migrations``.

To write a new revision during development::

    .venv/bin/python -m ledger.migrations revision -m "what changed"

(see ``__main__.py``); then edit the new file under ``versions/`` by hand and
keep :data:`ledger.store.schema.metadata` in step -- ``tests/ledger/store`` fails when the
migrated schema and the metadata differ.
"""
