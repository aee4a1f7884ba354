from __future__ import annotations

from pathlib import Path

import pytest

from geomatch_app.core.paths import shared_data_dir
from geomatch_app.store import Store


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "curation.sqlite")
    yield s
    s.close()


@pytest.fixture
def fordham() -> Path:
    data = shared_data_dir()
    if data is None or not (data / "fordham_places").is_dir():
        pytest.skip("../shared/data/fordham_places is not present")
    return data / "fordham_places"
