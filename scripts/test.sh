#!/usr/bin/env bash
# One command: install what is needed, then run the test suite. Extra arguments go to pytest.
# The suite is spread over the machine's cores (pytest-xdist, one test file per worker at a time:
# a file's module-level world is built once; each test is single-threaded).
# GANTEXT_TEST_WORKERS=0 runs it in this one process, so does `-n 0` among the arguments.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
python -m pytest -n "${GANTEXT_TEST_WORKERS:-auto}" --dist loadfile "$@"
