"""Rebuild geomatch_app/resources/demo/ from ../shared/data (maintainers run it once; the result
is committed).

Gallery: OpenSfM Berlin/Lund street sequence (BSD-2), Fordham campus photos with GPS (GPL-3.0),
Arezzo EXIF photos (CC BY-SA 4.0). Queries: three photos of gallery places whose true location
is known (one of them a night photo of a place the gallery shows by day).
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "geomatch_app" / "resources" / "demo"
QUERIES = {"opensfm_berlin_lund": {"images/berlin_02.jpg", "images/lund_10.jpg"},
           "fordham_places": {"images/p2_i1.jpg"}}
SETS = ["opensfm_berlin_lund", "fordham_places", "arezzo_exif_gps"]
LICENCE_FILES = ["LICENSE", "SOURCE.txt", "UPSTREAM_README.rst", "UPSTREAM_gps_README"]


def main() -> int:
    if not SHARED.is_dir():
        print(f"{SHARED} not found", file=sys.stderr)
        return 1
    if OUT.exists():
        shutil.rmtree(OUT)
    rows = []
    for name in SETS:
        src = SHARED / name
        for lic in LICENCE_FILES:
            if (src / lic).exists():
                (OUT / "licenses" / name).mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / lic, OUT / "licenses" / name / lic)
        with (src / "manifest.csv").open() as fh:
            for row in csv.DictReader(fh):
                is_query = row["path"] in QUERIES.get(name, set())
                if not row["lat"]:
                    continue  # the demo shows locations: only geotagged photos
                if row["split"] == "query" and not is_query:
                    continue
                dest = Path("images") / name / Path(row["path"]).name
                (OUT / dest).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / row["path"], OUT / dest)
                rows.append({**row, "path": dest.as_posix(),
                             "split": "query" if is_query else "gallery"})
    with (OUT / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "place_id", "lat", "lon", "domain", "split"])
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} photos written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
