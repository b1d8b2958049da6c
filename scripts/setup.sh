#!/usr/bin/env bash
# Create .venv (once) and install gantext with pinned dependencies, the test, cluster (ray) and
# docs (mkdocs) extras included (again only when pyproject.toml or this file changes).
# Sourced by scripts/pipeline.sh and scripts/test.sh; safe to run on its own.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: gantext needs Python >= 3.11 ($py is $("$py" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $py"
  "$py" -m venv .venv
fi
stamp=".venv/.gantext-installed"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing gantext and its pinned dependencies (first run: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test,cluster,docs]"
  echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
