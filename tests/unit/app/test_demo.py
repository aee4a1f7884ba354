"""The demo project: its index is rebuilt only when missing or stale; `geomatch demo --no-gui`
prints the suggestions for a demo query through the same ranking call as the window."""

from __future__ import annotations

import os
import shutil

import pytest

from geomatch_app.app import demo
from geomatch_app.cli import main


@pytest.fixture(scope="module")
def built_demo_index(tmp_path_factory):
    from geomatch_app.core.paths import demo_manifest
    from geomatch_app.index import build_index

    if not demo_manifest().is_file():
        pytest.skip(f"demo gallery missing: {demo_manifest()}")
    out = tmp_path_factory.mktemp("demo-index")
    build_index(demo_manifest(), out, workers=0)
    return out


@pytest.fixture
def home_with_demo_index(built_demo_index, one_torch_thread):
    target = demo.demo_index_dir()
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(built_demo_index, target)
    yield target
    shutil.rmtree(target, ignore_errors=True)


def test_demo_index_staleness(home_with_demo_index):
    assert demo.demo_index_is_current()
    gallery = demo.demo_rows("gallery")[0]["path"]
    st = os.stat(gallery)
    try:
        os.utime(gallery, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert not demo.demo_index_is_current()  # a changed gallery photo
    finally:
        os.utime(gallery, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert demo.demo_index_is_current()
    for f in home_with_demo_index.glob("gen-*/*"):
        f.write_bytes(b"")
    assert not demo.demo_index_is_current()  # a broken index


def test_demo_no_gui_prints_suggestions(home_with_demo_index, capsys, monkeypatch):
    def no_rebuild(*a, **kw):
        raise AssertionError("the demo index is current; it must not be rebuilt")

    monkeypatch.setattr("geomatch_app.index.build_index", no_rebuild)
    assert main(["demo", "--no-gui", "-k", "5"]) == 0
    out = capsys.readouterr().out
    query = demo.demo_rows("query")[0]
    assert f"demo query: {query['path']}" in out
    assert f"true place: {query['place_id']}" in out
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    scores = [float(r[1]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert "estimate:" in out
    # the terminal demo records its ranking in the demo project, like the window does
    from geomatch_app.store import Store

    with Store(demo.demo_db_path(), create=False) as store:
        q = store.find_query(query["path"])
        assert q is not None and len(store.suggestion_runs(q.id)) == 1
    assert main(["demo", "--no-gui", "-k", "5"]) == 0  # a second run re-uses that ranking
    with Store(demo.demo_db_path(), create=False) as store:
        assert len(store.suggestion_runs(q.id)) == 1
