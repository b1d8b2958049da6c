#!/usr/bin/env bash
# One command: install what is needed, then run the test suite. Extra arguments go to pytest.
# The suite is spread over the machine's cores (pytest-xdist; each test is single-threaded):
# GANTEXT_TEST_WORKERS=0 runs it in this one process, so does `-n 0` among the arguments.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
python -m pytest -n "${GANTEXT_TEST_WORKERS:-auto}" --dist loadgroup "$@"
