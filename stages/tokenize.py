"""Stage tokenize: interim text -> vocabulary (train only) and fixed-length id arrays.

Reads data/interim/{train,valid,test}.txt; writes data/processed/{train,valid,test}.npy (int32,
shape (sentences, max_len + 1): tokens, <eos>, <pad>...), data/processed/vocab.json and
metrics/tokenize.json (vocab size, OOV and truncation rates, length stats, vocab hash, the
max_len used: `tokenize.max_len: auto` resolves to the 99th percentile of train lengths, at
most 4x their median). Warns
when max_len truncates more than 1% of a split.
"""

from __future__ import annotations

import sys

from stages._common import run


def main() -> None:
    from gantext.config import load_params
    from gantext.paths import repo_paths
    from gantext.provenance import record_machine
    from gantext.text.prepare import (SPLITS, read_splits, tokenize_splits, truncation_warnings,
                                      write_tokenized)
    from gantext.tracking import stage_run

    paths = repo_paths()
    params = load_params(paths.params)
    # Computed before the tracking run starts: missing input fails fast and leaves no MLflow run.
    result = tokenize_splits(read_splits(paths), params.tokenize)
    m = result.metrics
    for line in truncation_warnings(m):
        print(f"tokenize: warning: {line}", file=sys.stderr)
    with stage_run("tokenize", params, paths) as tracker:
        write_tokenized(result, paths)
        record_machine(paths.metrics_json("tokenize"))  # what computed these figures (verify)
        tracker.log_metrics(m)  # nested split stats become dotted keys (valid.oov_rate)
        tracker.set_tags({"gantext.vocab_hash": m["vocab_hash"]})
        tracker.log_artifact(paths.vocab)
        tracker.log_artifact(paths.metrics_json("tokenize"))
    stats = "; ".join(f"{s} {m[s]['sentences']} (oov {m[s]['oov_rate']:.2%}, truncated "
                      f"{m[s]['truncation_rate']:.2%})" for s in SPLITS)
    auto = f" (auto: {m['max_len_rule']})" if m["max_len_auto"] else ""
    print(f"tokenize ({m['level']}, max_len {m['max_len']}{auto}): vocabulary {m['vocab_size']} "
          f"incl. specials; {stats}", file=sys.stderr)


if __name__ == "__main__":
    run(main)
