"""GUI tests run offscreen with an isolated QSettings store and user data folder per test.

QtWebEngine must be imported and the map's URL scheme registered before pytest-qt creates the
QApplication, and Chromium needs ``--no-sandbox --disable-gpu`` in containers; all of it is
done here, at import time.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu")

import PySide6.QtWebEngineWidgets  # noqa: E402,F401 - must precede the QApplication

from geomatch_app.gui.mapscheme import register_scheme  # noqa: E402

register_scheme()  # the map's geomatch:// scheme, also only before the QApplication
import pytest  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QSettings, QTimer  # noqa: E402


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(qtbot):
    """A job left running by one test (a dialog closed mid-training) must not run into the
    next test's widgets: cancel what is still live and wait for the pool afterwards."""
    yield
    from PySide6.QtCore import QThreadPool

    from geomatch_app.gui.worker import Worker

    for w in list(Worker._live):
        w.cancel()
    QThreadPool.globalInstance().waitForDone(60_000)
    qtbot.wait(20)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Each test gets its own settings file and GEOMATCH_HOME, never the user's."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "qsettings"))
    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path / "home"))
    yield tmp_path


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory):
    """The demo gallery (resources/demo, 40 photos) indexed once per test session (~15 s)."""
    from geomatch_app.core.paths import demo_manifest

    if not demo_manifest().is_file():
        pytest.skip(f"demo gallery missing: {demo_manifest()}")
    import torch

    from geomatch_app.index import build_index

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("demo-index")
    build_index(demo_manifest(), out, workers=0)
    return out


@pytest.fixture(scope="session")
def opened_demo_index(demo_index):
    """The demo index opened once with its model loaded (the model is the slow part)."""
    from geomatch_app.app.project import load_index

    index, _ = load_index(None, str(demo_index), "cpu")
    return index


@pytest.fixture(scope="session")
def demo_queries():
    from geomatch_app.app.demo import demo_queries as queries

    found = queries()
    if not found:
        pytest.skip("demo manifest has no query rows")
    return found


@pytest.fixture
def window(qtbot, tmp_path):
    """A main window on a fresh database in tmp_path (no index yet)."""
    from geomatch_app.gui.main_window import MainWindow
    from geomatch_app.gui.settings import Settings

    win = MainWindow(settings=Settings(k=8, curator="tester"),
                     db_path=str(tmp_path / "curation.sqlite"))
    # no qtbot.addWidget: the window is deleted here, before the QApplication, so its web
    # page goes before the web profile (QtWebEngine warns otherwise)
    win.resize(1200, 800)
    win.show()
    yield win
    win.jobs.cancel_all()
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(10_000)
    qtbot.wait(100)  # deliver the jobs' last queued signals while the widgets still exist
    # delete the web page before the QApplication goes (QtWebEngine warns otherwise)
    win.close()
    win.deleteLater()
    qtbot.wait(50)


@pytest.fixture
def ranked_window(qtbot, window, opened_demo_index, demo_queries):
    """The window on the demo index with the first demo query ranked and shown."""
    window.set_index(opened_demo_index)  # what open_index's job delivers
    with qtbot.waitSignal(window.query_ranked, timeout=60_000):
        window.add_photos([demo_queries[0]])
    assert window.current == demo_queries[0]
    # the second stage (geometric verification) re-reads the ranking: wait for it
    qtbot.waitUntil(lambda: not window.session.result.pending, timeout=60_000)
    return window


class StallMeter:
    """Measures the GUI thread's responsiveness: a 10 ms timer records the gaps between its
    ticks; a gap much longer than 10 ms means the event loop was blocked that long."""

    def __init__(self) -> None:
        self.gaps: list[int] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)
        self._last = 0

    def _tick(self) -> None:
        now = self._clock.elapsed()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self._clock.start()
        self._last = self._clock.elapsed()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()


@pytest.fixture
def stall_meter():
    meter = StallMeter()
    yield meter
    meter.stop()


@pytest.fixture
def nordland_store(tmp_path):
    """``nordland_store(n_places, n_confirmed)``: a curation database with ``n_places``
    Nordland summer gallery photos and their winter queries, the first ``n_confirmed``
    confirmed on the summer photo of their place and the rest waiting in the queue (the
    fine-tune dialog tests' data)."""
    from geomatch_app.core.paths import shared_data_dir

    data = shared_data_dir()
    if data is None or not (data / "nordland_seqslam").is_dir():
        pytest.skip("../shared/data/nordland_seqslam is not present (real-data test)")
    manifest = data / "nordland_seqslam" / "manifest.csv"

    def make(n_places: int, n_confirmed: int):
        return _nordland_store(tmp_path, manifest, n_places, n_confirmed)

    return make


def _nordland_store(tmp_path, manifest, n_places: int, n_confirmed: int):
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.store import Store

    keep = [f"nordland_{n:05d}" for n in range(20000, 20000 + 10 * n_places, 10)]
    gallery = {p.place_id: p for p in load_photos(manifest, "gallery").photos
               if p.place_id in keep}
    queries = {p.place_id: p for p in load_photos(manifest, "query").photos
               if p.place_id in keep}
    store = Store(tmp_path / "curation.sqlite")
    gid = store.add_gallery("nordland summer")
    store.add_images(gid, [gallery[k] for k in keep], hash_files=False)
    for k in keep[:n_confirmed]:
        qid = store.add_query(queries[k].path)
        store.decide(qid, "confirmed", candidate_path=gallery[k].path, curator="test")
    for k in keep[n_confirmed:]:
        store.add_query(queries[k].path)
    return store
