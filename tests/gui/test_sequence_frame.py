"""A frame of a recording dropped into the window is ranked with its neighbouring frames and
the results panel says so (training.sequence; README "Frames of a recording")."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def corridor_index(shared_data, tmp_path_factory):
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.index import Index, build_index

    root = shared_data / "corridor_vprbench"
    folder = tmp_path_factory.mktemp("corridor-gui") / "index"
    build_index(load_photos(root / "manifest.csv", role="gallery").photos, folder)
    return Index.open(folder), root / "images" / "query"


def test_a_corridor_frame_is_ranked_with_its_neighbours(qtbot, window, corridor_index):
    index, queries = corridor_index
    window.set_index(index)
    frame = str(queries / "0000040.jpg")
    with qtbot.waitSignal(window.query_ranked, timeout=60_000):
        window.add_photos([frame])
    result = window.session.result
    assert result.sequence_frames == 81 and not result.pending
    top = int(result.candidates[0].place_id.split("_")[1])
    assert abs(top - 40) <= 2  # alone the default model ranks corridor_089 first
    line = window.findChild(type(window.results.prior), "priorLine")
    assert line.isVisible() and "with 80 neighbouring frames" in line.text()
    assert result.verdict == "match"
    assert "Confident match" in window.results.banner.text()
