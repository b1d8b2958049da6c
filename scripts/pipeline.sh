#!/usr/bin/env bash
# One command: install what is needed, then run the whole pipeline (dvc repro) on params.yaml.
# Extra arguments go to `dvc repro` (e.g. `bash scripts/pipeline.sh evaluate`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
dvc repro "$@"
echo
gantext summary   # all metrics: dvc metrics show; lineage: gantext lineage
echo
# Did this run reproduce the committed figures (on another CPU: within their intervals)?
# Exit 3 = some figure lies outside its interval: said above, not a failed pipeline.
gantext verify --brief || [ $? -eq 3 ]
