"""The ``credit-ledger`` command line: the one entry point over every package."""
