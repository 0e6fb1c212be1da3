"""What every package of credit-ledger shares and nothing else: the exception root.

This package sits below all the others (``ledger`` and ``scoring`` included, which
are otherwise independent of each other) and imports none of them.
"""
