#!/usr/bin/env bash
# Render `dvc plots show` and `dvc plots diff` OFFLINE in headless Chromium and screenshot them.
#
#   bash scripts/plots_screenshot.sh [OUT_DIR]      (default: ./plots-screenshots)
#
# In a throw-away copy of this working tree (tracked + untracked, not ignored) with small params
# (seconds per stage), two DVC experiments (bce, wgan-gp) run; then
#   OUT_DIR/show.png  `dvc plots show`  (the workspace = the last experiment)
#   OUT_DIR/diff.png  `dvc plots diff bce wgan-gp`  (one colour per revision)
#   OUT_DIR/compare.txt  `gantext compare` of the two experiments, and how long it took
# Chromium gets a dead proxy and a resolver that maps every host to NOTFOUND, so a page that
# needed a CDN would stay blank. The script then counts the rendered charts in the DOM (4 each)
# and fails otherwise. Needs: the project's .venv (bash scripts/setup.sh) and a Chromium
# (Debian: apt-get install -y chromium).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/plots-screenshots}")"
CHROME="${CHROME:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
[ -n "$CHROME" ] || { echo "no chromium found (apt-get install -y chromium)" >&2; exit 2; }
# shellcheck disable=SC1091
. "$ROOT/.venv/bin/activate"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
REPO="$WORK/repo"
mkdir -p "$REPO"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | grep -zv '^\.venv/' \
   | xargs -0 cp --parents -t "$REPO")
cd "$REPO"
python - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml"))
p["ingest"]["builtin"]["num_sentences"] = 1000
p["pretrain"].update(epochs=3, device="cpu")
p["adversarial"].update(steps=30, log_every=5, sample_every=30, checkpoint_every=30, device="cpu")
p["evaluate"].update(num_samples=200, sweep_samples=200, sweep_temperatures=[0.7, 1.0, 1.3],
                     device="cpu")
p["tracking"]["enabled"] = False
yaml.safe_dump(p, open("params.yaml", "w"), sort_keys=False)
PY
git init -q && git add -A && git -c user.name=s -c user.email=s@s commit -qm screenshot
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
dvc exp run -n bce -S adversarial.loss=bce >"$OUT/pipeline.log" 2>&1
dvc exp run -n wgan-gp -S adversarial.loss=wgan-gp >>"$OUT/pipeline.log" 2>&1
python - "$OUT/compare.txt" <<'PY'
import subprocess, sys, time
t0 = time.perf_counter()
table = subprocess.run(["gantext", "compare"], capture_output=True, text=True, check=True).stdout
took = time.perf_counter() - t0
open(sys.argv[1], "w").write(table + f"gantext compare: {took:.2f} s\n")
print(table + f"gantext compare: {took:.2f} s")
PY
dvc plots show -q -o "$WORK/show" >/dev/null
dvc plots diff -q bce wgan-gp -o "$WORK/diff" >/dev/null

status=0
for kind in show diff; do
  page="$WORK/$kind/index.html"
  if grep -q 'src="http' "$page"; then echo "$kind: the page loads scripts from the network" >&2; status=1; fi
  flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
         --disable-component-update --disable-sync --no-first-run
         --proxy-server=127.0.0.1:9 --host-resolver-rules="MAP * ~NOTFOUND"
         --window-size=1300,1500 --virtual-time-budget=15000)
  "$CHROME" "${flags[@]}" --user-data-dir="$WORK/profile-$kind-1" \
      --screenshot="$OUT/$kind.png" "file://$page" >/dev/null 2>&1
  "$CHROME" "${flags[@]}" --user-data-dir="$WORK/profile-$kind-2" \
      --dump-dom "file://$page" 2>/dev/null >"$WORK/$kind.dom.html"
  charts=$(grep -o '<canvas\|<svg class="marks"' "$WORK/$kind.dom.html" | wc -l)
  echo "$kind: $charts of 4 charts rendered -> $OUT/$kind.png"
  [ "$charts" -eq 4 ] || status=1
done
exit $status
