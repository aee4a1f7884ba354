"""A small real gallery (OpenSfM Berlin/Lund from ../shared/data) indexed with the tiny test
model: real files, a real faiss index and a real SQLite file, in milliseconds per query."""

from __future__ import annotations

import pytest


@pytest.fixture
def berlin(shared_data):
    manifest = shared_data / "opensfm_berlin_lund" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip("needs ../shared/data/opensfm_berlin_lund")
    return manifest


@pytest.fixture
def berlin_index(berlin, tmp_path, tiny_model_name, one_torch_thread):
    from geomatch_app.index import build_index

    return build_index(berlin, tmp_path / "berlin-index", model_name=tiny_model_name,
                       workers=0)


@pytest.fixture
def berlin_queries(berlin):
    from geomatch_app.data.gallery import load_photos

    return load_photos(berlin, role="query").photos
