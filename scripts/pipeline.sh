#!/usr/bin/env bash
# One command: install what is needed, then run the whole pipeline (dvc repro) on params.yaml.
# Extra arguments go to `dvc repro` (e.g. `bash scripts/pipeline.sh evaluate`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
if [ -n "$(dvc remote list 2>/dev/null)" ]; then
  dvc repro "$@"
else
  # DVC ends every repro with "Use `dvc push` to send your updates to remote storage.", also
  # where there is no remote to push to (a fresh clone): drop that line from its stdout only
  # (the stages' progress goes to stderr). Unbuffered, so the stages' own lines come as they
  # are printed, not when the pipe's buffer fills.
  PYTHONUNBUFFERED=1 dvc repro "$@" | sed -u '/^Use `dvc push` to send your updates to remote storage\.$/d'
fi
echo
gantext summary   # all metrics: dvc metrics show; lineage: gantext lineage
echo
# Did this run reproduce the committed figures (on another CPU: within their intervals)?
# Exit 3 = some figure lies outside its interval: said above, not a failed pipeline.
gantext verify --brief || [ $? -eq 3 ]
