"""Stage ingest: corpus source (built-in grammar or files) -> cleaned, split sentences.

Writes data/interim/{train,valid,test}.txt (one sentence a line: nltk word tokens joined by single
spaces), data/interim/rejects.jsonl (file, line, reason, raw text of every rejected line) and
metrics/ingest.json (lines read = kept + rejected, per-file md5 and counts, train/held-out overlap
under `leakage`). Bad input stops with one error line and writes nothing.
"""

from __future__ import annotations

import sys

from stages._common import run


def main() -> None:
    from gantext.config import load_params
    from gantext.corpus.ingest import SPLITS, ingest, write_outputs
    from gantext.paths import repo_paths
    from gantext.provenance import record_machine
    from gantext.tracking import stage_run

    paths = repo_paths()
    params = load_params(paths.params)
    # Computed before the tracking run starts: bad input fails fast and leaves no MLflow run.
    result = ingest(params.ingest, params.ingest.split_seed, paths.root)
    with stage_run("ingest", params, paths) as tracker:
        write_outputs(result, paths)
        record_machine(paths.metrics_json("ingest"))  # what computed these figures (verify)
        m = result.metrics
        tracker.log_metrics({"lines_read": m["lines_read"],
                             **{f"kept_{k}": v for k, v in m["kept"].items()},
                             **{f"rejected_{k}": v for k, v in m["rejected"].items()},
                             **{f"leakage_{k}": v for k, v in m["leakage"].items()
                                if isinstance(v, int)}})
        tracker.log_artifact(paths.metrics_json("ingest"))
    kept = ", ".join(f"{s} {m['kept'][s]}" for s in SPLITS)
    print(f"ingest ({m['source']}): {m['lines_read']} lines read; kept {kept}; "
          f"rejected {m['rejected']['total']} (train copies of held-out sentences dropped: "
          f"{m['leakage']['dropped']})", file=sys.stderr)


if __name__ == "__main__":
    run(main)
