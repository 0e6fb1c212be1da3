"""credit-ledger core: the decision record, its Merkle tree, chain and store access.

Every other package (oracle, api, scripts) builds on this one; it imports none of
them. Import the submodules directly (``from ledger.leaf import DecisionLeaf``);
this package file deliberately imports nothing so that ``import ledger`` stays
cheap and free of side effects.
"""
