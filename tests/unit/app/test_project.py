"""A project = database + index; the store owns the gallery (registered once per index
version), and reopening the project costs no registration and no new suggestion run."""

from __future__ import annotations

import json
import sqlite3

from geomatch_app.app import recent
from geomatch_app.app.project import content_key, open_project
from geomatch_app.app.ranking import rank
from geomatch_app.store.check import check_database


def _count(db, sql):
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchone()[0]


def test_attach_registers_gallery_images_and_index(tmp_path, berlin_index):
    db = tmp_path / "c.sqlite"
    project = open_project(db, berlin_index.folder)
    try:
        images = project.store.images()
        assert len(images) == len(berlin_index) == 24
        rec = {r["path"]: r for batch in berlin_index.record_batches() for r in batch}
        for img in images:  # path, location, place id and the index's change key
            r = rec[img.path]
            assert (img.lat, img.lon, img.place_id) == (r["lat"], r["lon"], r["place_id"])
            assert (img.size, img.mtime_ns) == (r["size"], r["mtime_ns"])
        (ix,) = project.store.indexes()
        assert ix.gallery_id == project.gallery_id and ix.n_images == 24
        assert json.loads(ix.fingerprint)["content_key"] == content_key(berlin_index)
        assert project.store.models()[0].weight_hash == berlin_index.fingerprint["weight_hash"]
    finally:
        project.close()
    report = check_database(db)
    assert report.ok, report.problems
    assert (report.counts["galleries"], report.counts["images"], report.counts["indexes"]) == \
        (1, 24, 1)


def test_reopening_registers_nothing_and_ranks_nothing_twice(tmp_path, berlin_index,
                                                             berlin_queries):
    db = tmp_path / "c.sqlite"
    photo = berlin_queries[0].path
    for _ in range(2):  # two starts of the app on the same project
        project = open_project(db, berlin_index.folder)
        result = rank(project, photo, k=5)
        project.close()
    assert result.reused
    assert _count(db, "SELECT count(*) FROM suggestion_runs") == 1
    assert _count(db, "SELECT count(*) FROM events WHERE kind = 'register_model'") == 1
    assert _count(db, "SELECT count(*) FROM events WHERE kind = 'register_gallery'") == 1
    # every suggestion references a gallery image of the store
    assert _count(db, "SELECT count(*) FROM suggestions WHERE image_id IS NULL") == 0
    assert _count(db, "SELECT count(*) FROM suggestion_runs WHERE index_id IS NULL") == 0


def test_a_changed_index_is_registered_again_and_ranked_again(tmp_path, berlin, berlin_index,
                                                              berlin_queries, tiny_model_name):
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.index import build_index

    db = tmp_path / "c.sqlite"
    photo = berlin_queries[0].path
    project = open_project(db, berlin_index.folder)
    rank(project, photo, k=5)
    project.close()
    fewer = load_photos(berlin, role="gallery").photos[:20]
    build_index(fewer, berlin_index.folder, model_name=tiny_model_name, workers=0)
    project = open_project(db, berlin_index.folder)
    try:
        assert len(project.store.images()) == 20  # four left the index: marked removed
        assert not rank(project, photo, k=5).reused
    finally:
        project.close()
    assert _count(db, "SELECT count(*) FROM suggestion_runs") == 2


def test_open_project_is_remembered_for_the_next_start(tmp_path, berlin_index):
    project = open_project(tmp_path / "c.sqlite", berlin_index.folder)
    project.close()
    assert recent.last_project() == project.ref
    assert project.ref.index == str(berlin_index.folder.resolve())
    assert "berlin-index" in project.title and "c.sqlite" in project.title
    assert "24 photos" in project.describe()
