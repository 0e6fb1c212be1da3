"""Platform sources: where the data a round scores comes from, validated before anything is scored.

Both the oracle and the API read from here; scoring never does I/O itself.

* :mod:`sources.records`   -- the contract between a source and the oracle
  (:class:`~sources.records.DecisionSource`, :class:`~sources.records.ScoredRound`,
  :class:`~sources.records.DecisionColumns`) and generated stand-in records;
* :mod:`sources.synthetic` -- the synthetic platform, scored week by week by the
  ``scoring`` package (:class:`~sources.synthetic.ScoringSource`).
"""
