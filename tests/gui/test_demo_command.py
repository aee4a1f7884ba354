"""`geomatch demo`: the demo index is rebuilt only when missing or stale; without a display
(or with --no-gui) the suggestions for a demo query are printed and the exit code is 0."""

from __future__ import annotations

import os
import shutil

import pytest

from geomatch_app.cli import main
from geomatch_app.commands import gui as gui_cmd


@pytest.fixture
def home_with_demo_index(demo_index, isolated_settings):
    """GEOMATCH_HOME (set per test by conftest) holding a copy of the session's demo index."""
    target = gui_cmd.demo_index_dir()
    shutil.copytree(demo_index, target)
    return target


def test_demo_index_staleness(home_with_demo_index):
    assert gui_cmd.demo_index_is_current()
    gallery = gui_cmd.demo_rows("gallery")[0]["path"]
    st = os.stat(gallery)
    try:
        os.utime(gallery, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert not gui_cmd.demo_index_is_current()  # a changed gallery photo
    finally:
        os.utime(gallery, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert gui_cmd.demo_index_is_current()
    for f in home_with_demo_index.glob("gen-*/*"):
        f.write_bytes(b"")
    assert not gui_cmd.demo_index_is_current()  # a broken index


def test_demo_no_gui_prints_suggestions(home_with_demo_index, capsys, monkeypatch):
    def no_rebuild(*a, **kw):
        raise AssertionError("the demo index is current; it must not be rebuilt")

    monkeypatch.setattr("geomatch_app.index.build_index", no_rebuild)
    assert main(["demo", "--no-gui", "-k", "5"]) == 0
    out = capsys.readouterr().out
    query = gui_cmd.demo_rows("query")[0]
    assert f"demo query: {query['path']}" in out
    assert f"true place: {query['place_id']}" in out
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    scores = [float(r[1]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert "estimate:" in out


def test_no_display_means_terminal_output(monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert gui_cmd.display_available() is (not os.sys.platform.startswith("linux"))
    monkeypatch.setenv("DISPLAY", ":0")
    assert gui_cmd.display_available()


def test_first_run_window_has_demo_query_ranked(qtbot, window, demo_index, demo_queries):
    """What `geomatch demo` does in the window: prepare (build) behind a progress dialog, open
    the index, queue the demo queries; the first one is ranked without any click."""
    from geomatch_app.gui.app import prepare_then_open

    calls = []

    def prepare(progress=None):
        calls.append(progress)
        progress.step(1, 1, "demo index ready")
        return str(demo_index)

    with qtbot.waitSignal(window.query_ranked, timeout=90_000) as blocker:
        prepare_then_open(window, prepare, "Preparing the demo", demo_queries)
    assert calls and calls[0] is not None
    assert blocker.args == [demo_queries[0]]
    assert window.queue.paths() == demo_queries
    assert window.current == demo_queries[0]
    assert window.grid.count() == window.settings.k
