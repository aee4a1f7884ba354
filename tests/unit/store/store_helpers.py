"""Small shared builders for the store tests (real fordham_places files)."""

from __future__ import annotations

from pathlib import Path

from geomatch_app.core.types import Candidate, Photo


def gallery_photos(root: Path) -> list[Photo]:
    """Two geotagged gallery photos of fordham_places (real files, real EXIF-derived GPS)."""
    return [
        Photo(path=str(root / "images/p0_i1.jpg"), lat=40.8623556, lon=-73.8848361,
              place_id="fordham_p0"),
        Photo(path=str(root / "images/p0_i2.jpg"), lat=40.8620028, lon=-73.8845972,
              heading=80.0, place_id="fordham_p0"),
    ]


def candidates_for(photos: list[Photo]) -> list[Candidate]:
    return [Candidate(rank=i + 1, score=1.0 - 0.1 * i, path=p.path, lat=p.lat, lon=p.lon,
                      heading=p.heading, place_id=p.place_id) for i, p in enumerate(photos)]
