"""faiss index on disk: round trip, incremental re-indexing, fingerprint mismatch, bad files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from geomatch_app.core.errors import GeomatchError, ImageError, IndexMismatchError
from geomatch_app.core.progress import Cancelled, Progress
from geomatch_app.core.types import Photo
from geomatch_app.index import Index, build_index, is_index


@pytest.fixture()
def gallery(tmp_path, shared_data):
    """Six real street photos with GPS, copied so tests may touch them."""
    src = shared_data / "opensfm_berlin_lund" / "images"
    folder = tmp_path / "gallery"
    folder.mkdir()
    photos = []
    for i, name in enumerate(["berlin_01", "berlin_03", "lund_01", "lund_05", "lund_09",
                              "lund_13"]):
        dest = folder / f"{name}.jpg"
        shutil.copy(src / f"{name}.jpg", dest)
        photos.append(Photo(str(dest), 52.0 + i, 13.0 + i, None, name))
    return photos


def test_round_trip_and_search(tmp_path, gallery):
    built = build_index(gallery, tmp_path / "idx", device="cpu", workers=0)
    assert len(built) == 6
    assert is_index(tmp_path / "idx") and built.generation == 1
    opened = Index.open(tmp_path / "idx", device="cpu")
    assert opened.model_name == "effnetlite2-gem"
    assert [p.path for p in opened.photos] == [p.path for p in gallery]
    np.testing.assert_allclose(opened.descriptors(), built.descriptors(), atol=1e-6)
    # every gallery photo finds itself first, with cosine ≈ 1
    results = opened.search_paths([gallery[3].path], k=3)
    top = results[0][0]
    assert top.path == gallery[3].path and top.score == pytest.approx(1.0, abs=1e-4)
    assert (top.lat, top.lon, top.place_id) == (55.0, 16.0, "lund_05")
    assert [c.rank for c in results[0]] == [1, 2, 3]
    norms = np.linalg.norm(opened.descriptors(), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_reindex_embeds_only_new_or_changed(tmp_path, gallery, monkeypatch):
    build_index(gallery[:4], tmp_path / "idx", device="cpu", workers=0)
    import geomatch_app.index.extract as extract

    seen: list[list[str]] = []
    real = extract.embed_paths

    def spy(model, paths, **kw):
        seen.append(list(paths))
        return real(model, paths, **kw)

    monkeypatch.setattr(extract, "embed_paths", spy)
    # touch one existing file (changed content), add two new ones
    shutil.copy(gallery[5].path, gallery[1].path)
    idx = build_index(gallery, tmp_path / "idx", device="cpu", workers=0)
    assert sorted(seen[0]) == sorted([gallery[1].path, gallery[4].path, gallery[5].path])
    assert len(idx) == 6
    seen.clear()
    build_index(gallery, tmp_path / "idx", device="cpu", workers=0)
    assert seen == []  # nothing changed: nothing embedded


def test_opening_with_another_model_is_a_clear_error(tmp_path, gallery):
    build_index(gallery[:2], tmp_path / "idx", device="cpu", workers=0)
    with pytest.raises(IndexMismatchError, match="effnetlite2-gem") as err:
        Index.open(tmp_path / "idx", model_name="resnet18-netvlad")
    assert "idx" in str(err.value)
    with pytest.raises(IndexMismatchError):
        build_index(gallery[:2], tmp_path / "idx", model_name="resnet18-gem", device="cpu")


def test_changed_weights_are_detected(tmp_path, gallery):
    build_index(gallery[:2], tmp_path / "idx", device="cpu", workers=0)
    mf_file = tmp_path / "idx" / "gen-000001" / "manifest.json"
    manifest = json.loads(mf_file.read_text())
    manifest["fingerprint"]["weight_hash"] = "0" * 16
    mf_file.write_text(json.dumps(manifest))
    idx = Index.open(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="weights"):
        idx.search_paths([gallery[0].path])


def test_dimension_mismatch_in_search(tmp_path, gallery):
    idx = build_index(gallery[:2], tmp_path / "idx", device="cpu", workers=0)
    with pytest.raises(IndexMismatchError, match="dimension"):
        idx.search(np.zeros((1, 7), dtype=np.float32))


def test_unreadable_gallery_files_are_skipped_with_reason(tmp_path, gallery, shared_data):
    bad = tmp_path / "gallery" / "truncated.jpg"
    shutil.copy(shared_data / "odd" / "truncated_DSCN0010.jpg", bad)
    from geomatch_app.data.gallery import ImportReport

    report = ImportReport()
    idx = build_index(gallery[:2] + [Photo(str(bad), 1.0, 2.0)], tmp_path / "idx",
                      device="cpu", workers=0, report=report)
    assert len(idx) == 2
    assert report.skipped and report.skipped[0][0] == str(bad)
    assert "truncated" in report.skipped[0][1]


def test_bad_query_names_the_file(tmp_path, gallery, shared_data):
    idx = build_index(gallery[:2], tmp_path / "idx", device="cpu", workers=0)
    with pytest.raises(ImageError, match="not_an_image.jpg"):
        idx.search_paths([str(shared_data / "odd" / "not_an_image.jpg")])


def test_cancel_stops_indexing(tmp_path, gallery):
    calls = []
    progress = Progress(report=lambda d, t, m: calls.append(d), cancelled=lambda: len(calls) > 1)
    with pytest.raises(Cancelled):
        build_index(gallery, tmp_path / "idx", device="cpu", workers=0, batch_size=2,
                    progress=progress)
    assert not is_index(tmp_path / "idx")  # nothing half-written


def test_not_an_index(tmp_path):
    with pytest.raises(GeomatchError, match="not a geomatch index"):
        Index.open(tmp_path)
