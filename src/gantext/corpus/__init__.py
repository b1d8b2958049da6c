"""gantext.corpus: where the text comes from.

* :mod:`gantext.corpus.grammar`  -- the built-in "Quantum Coffee Maker" review grammar: seeded
  sampler and exact oracle (validity, probability, mode); ``default_grammar()``, ``MODES``.
* :mod:`gantext.corpus.readers`  -- txt / csv / tsv / jsonl / parquet -> one record per line.
* :mod:`gantext.corpus.cleaning` -- NFKC, whitespace, lower-casing, token filters, dedupe.
* :mod:`gantext.corpus.ingest`   -- the ingest stage's logic: read, clean, split, account.
"""
