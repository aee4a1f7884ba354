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


def test_preload_modes_and_when_the_window_shows(qtbot, window, monkeypatch):
    """run_gui's order: the preload thread (torch, ONNX Runtime, faiss, OpenCV) starts first;
    by default (``join``) the window shows only after it, with GEOMATCH_PRELOAD=1 at once."""
    import sys
    import threading
    import time

    from geomatch_app.gui import app as gui_app

    monkeypatch.setenv("GEOMATCH_PRELOAD", "0")
    assert gui_app.start_preload() is None
    monkeypatch.setenv("GEOMATCH_PRELOAD", "nonsense")
    assert gui_app.preload_mode() == "join"
    monkeypatch.setenv("GEOMATCH_PRELOAD", "1")
    assert gui_app.preload_mode() == "background"
    monkeypatch.delenv("GEOMATCH_PRELOAD")
    assert gui_app.preload_mode() == "join"
    loader = gui_app.start_preload()
    assert loader is not None and loader.name == "geomatch-preload"
    loader.join(60)
    assert "onnxruntime" in sys.modules and "geomatch_app.index.engines" in sys.modules
    for mode, waits in (("1", False), ("join", True)):
        monkeypatch.setenv("GEOMATCH_PRELOAD", mode)
        seen = {}

        def slow(seen=seen):
            time.sleep(0.3)
            seen["visible_while_loading"] = window.isVisible()

        t = threading.Thread(target=slow)
        t.start()
        window.hide()
        gui_app.show_when_loaded(window, t)
        t.join()
        assert seen == {"visible_while_loading": not waits} and window.isVisible(), mode


def test_the_splash_is_repainted_while_the_preload_runs_and_gives_way_to_the_window(
        qtbot, window):
    """``join`` (the default): a splash screen at once; events are still processed while the
    preload runs (the splash repaints, queued signals arrive); then the window replaces it."""
    import threading
    import time

    from PySide6.QtCore import QTimer

    from geomatch_app.gui import app as gui_app

    assert gui_app.show_splash("background") is None and gui_app.show_splash("off") is None
    splash = gui_app.show_splash("join")
    assert splash is not None and splash.isVisible()
    assert "Loading" in splash.message()
    fired = []
    QTimer.singleShot(0, lambda: fired.append(window.isVisible()))
    t = threading.Thread(target=time.sleep, args=(0.4,))
    t.start()
    window.hide()
    gui_app.show_when_loaded(window, t, "join", splash)
    assert fired == [False]  # handled during the wait, before the window showed
    assert window.isVisible()
    qtbot.waitUntil(lambda: not splash.isVisible(), timeout=5_000)


def test_a_preload_that_never_ends_does_not_keep_the_window_behind_the_splash(
        qtbot, window, monkeypatch, caplog):
    import threading

    from geomatch_app.gui import app as gui_app

    monkeypatch.setattr(gui_app, "JOIN_MAX_S", 0.3)
    stop = threading.Event()
    stuck = threading.Thread(target=stop.wait, args=(30,), daemon=True)
    stuck.start()
    window.hide()
    with caplog.at_level("WARNING"):
        gui_app.show_when_loaded(window, stuck, "join", gui_app.show_splash("join"))
    stop.set()
    assert window.isVisible() and "still loading" in caplog.text


def test_garbage_collection_waits_for_the_first_ranking():
    """hold_gc pauses the collector for the start-up; release_gc freezes what is alive then
    (later collections skip it) and resumes, once."""
    import gc

    from geomatch_app.gui import app as gui_app

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        gui_app.hold_gc()
        assert not gc.isenabled()
        keep = [[] for _ in range(1000)]  # lists are tracked by the collector
        gui_app.release_gc()
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(keep)
        again = gc.get_freeze_count()
        more = [[] for _ in range(1000)]
        gui_app.release_gc()  # already running: nothing more is frozen
        # (frozen objects that other threads free meanwhile only lower the count)
        assert gc.get_freeze_count() < again + len(more) // 2
    finally:
        gc.unfreeze()
        gc.enable()


def test_root_gets_the_web_view_without_chromium_sandbox(monkeypatch):
    """Chromium exits at once as root with its sandbox on ("Running as root without
    --no-sandbox is not supported"), taking the window with it: root gets
    QTWEBENGINE_DISABLE_SANDBOX; anyone else, or flags that already say --no-sandbox, not."""
    from geomatch_app.gui import app as gui_app

    def env(uid: int, flags: str | None) -> dict:
        for name in ("QTWEBENGINE_DISABLE_SANDBOX", "QTWEBENGINE_CHROMIUM_FLAGS"):
            monkeypatch.setenv(name, "")  # recorded, so the test's end restores the value
            monkeypatch.delenv(name)
        if flags is not None:
            monkeypatch.setenv("QTWEBENGINE_CHROMIUM_FLAGS", flags)
        monkeypatch.setattr(gui_app.os, "geteuid", lambda: uid, raising=False)
        gui_app.webengine_env()
        return {k: os.environ.get(k) for k in ("QTWEBENGINE_DISABLE_SANDBOX",
                                               "QTWEBENGINE_CHROMIUM_FLAGS")}

    assert env(0, None) == {"QTWEBENGINE_DISABLE_SANDBOX": "1",
                            "QTWEBENGINE_CHROMIUM_FLAGS": "--disable-gpu"}
    assert env(1000, None)["QTWEBENGINE_DISABLE_SANDBOX"] is None
    assert env(0, "--no-sandbox --disable-gpu")["QTWEBENGINE_DISABLE_SANDBOX"] is None
