"""Which project `geomatch gui` / `./scripts/run` open, and the first run on the demo."""

from __future__ import annotations

import os

from geomatch_app.app import recent
from geomatch_app.gui import launch


def test_no_display_means_terminal_output(monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert launch.display_available() is (not os.sys.platform.startswith("linux"))
    monkeypatch.setenv("DISPLAY", ":0")
    assert launch.display_available()


def test_gui_reopens_the_last_project(tmp_path):
    assert launch.choose_project(None, None) is None  # first run: the demo
    db = tmp_path / "curation.sqlite"
    db.write_bytes(b"")
    recent.remember(recent.ProjectRef(str(db), str(tmp_path / "idx")))
    assert launch.choose_project(None, None) == recent.ProjectRef(str(db), str(tmp_path / "idx"))
    # a database named alone keeps the index it was used with
    assert launch.choose_project(None, str(db)).index == str(tmp_path / "idx")
    other = launch.choose_project(str(tmp_path / "other-idx"), None)
    assert other.index == str(tmp_path / "other-idx") and other.db.endswith("geomatch.sqlite")


def test_first_run_window_has_demo_query_ranked(qtbot, window, demo_index, demo_queries,
                                                monkeypatch):
    """What `geomatch gui` does on the first run: prepare the demo index behind a progress
    dialog, open it, queue the demo queries; the first one is ranked without any click."""
    import shutil

    from geomatch_app.app import demo
    from geomatch_app.gui.app import prepare_demo

    shutil.copytree(demo_index, demo.demo_index_dir())
    with qtbot.waitSignal(window.query_ranked, timeout=90_000) as blocker:
        prepare_demo(window)
    assert blocker.args == [demo_queries[0]]
    assert window.queue.paths() == demo_queries
    assert window.current == demo_queries[0]
    assert window.grid.count() == window.settings.k
    assert window.windowTitle() == "demo-index · demo.sqlite"
    assert "demo.sqlite" in window.project_label.text()
    assert recent.last_project() == window.project.ref


def test_window_is_shown_after_the_native_imports(qtbot, window, monkeypatch):
    """run_gui's order: the preload thread (torch, ONNX Runtime, faiss, OpenCV) runs while the
    window is built and is joined before it is shown, so no import stalls its event loop."""
    import sys
    import threading
    import time

    from geomatch_app.gui import app as gui_app

    monkeypatch.setenv("GEOMATCH_PRELOAD", "0")
    assert gui_app.start_preload() is None
    monkeypatch.setenv("GEOMATCH_PRELOAD", "1")
    loader = gui_app.start_preload()
    assert loader is not None and loader.name == "geomatch-preload"
    loader.join(60)
    assert "onnxruntime" in sys.modules and "geomatch_app.index.engines" in sys.modules
    seen = {}

    def slow():
        time.sleep(0.2)
        seen["visible_while_loading"] = window.isVisible()

    t = threading.Thread(target=slow)
    t.start()
    window.hide()
    gui_app.show_when_loaded(window, t)
    assert seen == {"visible_while_loading": False} and window.isVisible()
