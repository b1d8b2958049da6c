"""Vendor Vega / Vega-Lite / vega-embed into the page `dvc plots show|diff` writes.

    python scripts/vendor_plots.py            # npm pack the pinned versions, verify, rebuild
    python scripts/vendor_plots.py --from DIR # use tarballs already in DIR (offline)

Reads .dvc/plots-vendor/manifest.json (name, version, file inside the package, npm integrity),
downloads each package tarball with `npm pack` (the npm registry), checks its sha512 against the
pinned integrity, copies the package's LICENSE to .dvc/plots-vendor/LICENSE-<name> and inlines the
minified build into .dvc/plots-page.html (from .dvc/plots-vendor/page.html.in), recording each
inlined file's sha256 in the manifest (tests/unit/test_plots_page.py checks the page against it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / ".dvc" / "plots-vendor"
PAGE = ROOT / ".dvc" / "plots-page.html"
MARK = "@VENDORED_SCRIPTS@"


def _tarball(pkg: dict, source: Path | None, tmp: Path) -> Path:
    name = f"{pkg['name']}-{pkg['version']}.tgz"
    if source is not None:
        return source / name
    subprocess.run(["npm", "pack", f"{pkg['name']}@{pkg['version']}", "--silent"], cwd=tmp,
                   check=True, stdout=subprocess.DEVNULL)
    return tmp / name


def _member(tgz: Path, rel: str) -> bytes:
    with tarfile.open(tgz) as tar:
        f = tar.extractfile(f"package/{rel}")
        if f is None:
            sys.exit(f"{tgz}: no package/{rel}")
        return f.read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", type=Path, default=None,
                    help="folder holding <name>-<version>.tgz (default: npm pack)")
    args = ap.parse_args()
    manifest = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))
    blocks = []
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in manifest["packages"]:
            tgz = _tarball(pkg, args.source, Path(tmp))
            algo, want = pkg["integrity"].split("-", 1)
            got = base64.b64encode(hashlib.new(algo, tgz.read_bytes()).digest()).decode()
            if got != want:
                sys.exit(f"{tgz}: {algo} {got} is not the pinned {want}")
            js = _member(tgz, pkg["file"]).decode("utf-8")
            if "</script" in js.lower():
                sys.exit(f"{pkg['name']}: the build contains '</script', cannot inline it")
            (VENDOR / f"LICENSE-{pkg['name']}").write_bytes(_member(tgz, "LICENSE"))
            pkg["sha256"] = hashlib.sha256(js.encode("utf-8")).hexdigest()
            blocks.append(f"    <!-- {pkg['name']}@{pkg['version']} ({pkg['file']}, "
                          f"{pkg['license']}, .dvc/plots-vendor/LICENSE-{pkg['name']}) -->\n"
                          f"    <script>{js}</script>")
    page = (VENDOR / "page.html.in").read_text(encoding="utf-8").replace(MARK, "\n".join(blocks))
    PAGE.write_text(page, encoding="utf-8")
    (VENDOR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"{PAGE.relative_to(ROOT)}: {PAGE.stat().st_size:,} bytes, "
          + ", ".join(f"{p['name']}@{p['version']}" for p in manifest["packages"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
