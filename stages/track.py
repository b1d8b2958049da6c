"""Stage track: MLflow bookkeeping after the others (gantext.tracking.record_pipeline).

A stage that DVC skipped or restored from its run-cache runs no code, so it logs nothing; this
stage, which has no outputs (DVC never caches it) and depends on every stage's metrics and the
lineage report, runs whenever the pipeline produced anything new. It gives each stage without a
run in this pipeline a short run tagged ``gantext.cached=true`` that points at the run that
computed its outputs, puts the headline figures on the pipeline's parent run and ends it.
Tracking never blocks science: whatever happens, it prints one line and exits 0.
"""

from __future__ import annotations

import sys

from stages._common import run


def main() -> None:
    from gantext.paths import repo_paths
    from gantext.tracking import record_pipeline

    print(f"track: {record_pipeline(repo_paths())}", file=sys.stderr)


if __name__ == "__main__":
    run(main)
