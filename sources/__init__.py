"""Platform sources: where the data a round scores comes from, validated before anything is scored.

Both the oracle and the API read from here; scoring reads only the files it is handed.

* :mod:`sources.records`   -- the contract between a source and the oracle
  (:class:`~sources.records.DecisionSource`, :class:`~sources.records.ScoredRound`,
  :class:`~sources.records.DecisionColumns`) and generated stand-in records;
* :mod:`sources.platform`  -- the platform's export on disk, the input of record: staged,
  hashed, validated and archived (:func:`~sources.platform.check_export`), then scored
  (:class:`~sources.platform.ExportSource`);
* :mod:`sources.synthetic` -- the model and policy that score, and the synthetic platform
  week by week (:class:`~sources.synthetic.ScoringSource`);
* :mod:`sources.exports`   -- the export archive, each export under its export hash;
* :mod:`sources.stored`    -- what a stored round scored, read back.
"""
