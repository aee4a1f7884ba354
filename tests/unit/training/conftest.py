"""Training-test fixtures: small real Nordland subsets (tiny model: tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def nordland_photos(shared_data):
    """(queries, gallery) of 40 consecutive Nordland places (past the black opening frames)."""
    from geomatch_app.data.gallery import load_photos

    manifest = shared_data / "nordland_seqslam" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip("nordland_seqslam is not in ../shared/data")
    keep = {f"nordland_{n:05d}" for n in range(10000, 10400, 10)}
    q = [p for p in load_photos(manifest, "query").photos if p.place_id in keep]
    g = [p for p in load_photos(manifest, "gallery").photos if p.place_id in keep]
    return q, g
